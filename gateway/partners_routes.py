"""Partner events on the entry points (Art. 11, 13, 38).

- /office: the Big Data Bureau entitles partner systems to event types, and revokes them.
- /partner: a partner reads its entitlements, registers its NATS NKEY and has its NATS replay
  consumer created, manages its webhooks and reads their delivery log, replays deliveries, and
  streams its events as server-sent events (resumable with `Last-Event-ID`). The AsyncAPI
  document describes every event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import grpc
from aiohttp import web
from google.protobuf.timestamp_pb2 import Timestamp

from gateway import asyncapi, jsonmap
from gateway.endpoints import PAGE_QUERY, Call, QueryParam, Route, message_response
from gateway.problems import Problem
from runtime import telemetry
from smartcity.partners.v1 import partners_pb2 as pb

OFFICE = "/office/v1/partners"
PARTNER = "/partner/v1/events"
ENTITLEMENTS = f"{OFFICE}/{{client_id}}/entitlements"
_WRITE_ERRORS = (400, 401, 403, 404, 409, 413, 415, 422, 503)
_READ_ERRORS = (401, 403, 404, 503)


def _path(call: Call, name: str) -> str:
    return call.request.match_info[name]


async def list_event_types(call: Call) -> web.StreamResponse:
    reply = await call.rpc(call.upstream.partners.ListPartnerEvents, pb.ListPartnerEventsRequest())
    return message_response(reply)


async def grant(call: Call) -> web.StreamResponse:
    request: pb.GrantEntitlementRequest = call.body
    request.client_id = _path(call, "client_id")
    reply = await call.rpc(call.upstream.partners.GrantEntitlement, request)
    location = f"{OFFICE}/{quote(request.client_id, safe='')}/entitlements"
    return message_response(reply.entitlement, status=201, headers={"Location": location})


async def revoke(call: Call) -> web.StreamResponse:
    request = pb.RevokeEntitlementRequest(
        client_id=_path(call, "client_id"), event_type=_path(call, "event_type")
    )
    reply = await call.rpc(call.upstream.partners.RevokeEntitlement, request)
    return message_response(reply.entitlement)


async def list_entitlements(call: Call) -> web.StreamResponse:
    client_id = call.request.match_info.get("client_id", "")
    request = pb.ListEntitlementsRequest(client_id=client_id)
    return message_response(await call.rpc(call.upstream.partners.ListEntitlements, request))


async def set_nats_key(call: Call) -> web.StreamResponse:
    reply = await call.rpc(call.upstream.partners.SetNatsKey, call.body)
    return message_response(reply.access)


async def get_nats_access(call: Call) -> web.StreamResponse:
    reply = await call.rpc(call.upstream.partners.GetNatsAccess, pb.GetNatsAccessRequest())
    return message_response(reply.access)


async def start_nats_replay(call: Call) -> web.StreamResponse:
    reply = await call.rpc(call.upstream.partners.StartNatsReplay, call.body)
    return message_response(reply, status=201)


async def create_webhook(call: Call) -> web.StreamResponse:
    reply = await call.rpc(call.upstream.partners.CreateWebhook, call.body)
    location = f"{PARTNER}/webhooks/{quote(reply.webhook.id, safe='')}"
    # the secret is shown once: no cache may keep it
    headers = {"Location": location, "Cache-Control": "no-store"}
    return message_response(reply, status=201, headers=headers)


async def list_webhooks(call: Call) -> web.StreamResponse:
    reply = await call.rpc(call.upstream.partners.ListWebhooks, pb.ListWebhooksRequest())
    return message_response(reply)


async def delete_webhook(call: Call) -> web.StreamResponse:
    request = pb.DeleteWebhookRequest(id=_path(call, "id"))
    await call.rpc(call.upstream.partners.DeleteWebhook, request)
    return web.Response(status=204)


async def list_deliveries(call: Call) -> web.StreamResponse:
    request = jsonmap.parse_query(
        call.request.query, pb.ListDeliveriesRequest, names=("state", "page_size", "page_token")
    )
    return message_response(await call.rpc(call.upstream.partners.ListDeliveries, request))


async def replay(call: Call) -> web.StreamResponse:
    request: pb.ReplayDeliveriesRequest = call.body
    request.webhook_id = _path(call, "id")
    await call.rpc(call.upstream.partners.ReplayDeliveries, request)
    return web.Response(status=202)


def _stream_request(call: Call) -> pb.StreamEventsRequest:
    """After `Last-Event-ID` (or `?after=`), else from `?from_time=`, else only new events."""
    request = pb.StreamEventsRequest()
    after = call.request.headers.get("Last-Event-ID") or call.request.query.get("after", "")
    if after:
        if not (after.isascii() and after.isdigit()) or len(after) > 18:  # "²".isdigit()
            raise Problem(400, "Invalid Last-Event-ID", "Last-Event-ID must be a sequence number")
        request.after_sequence = int(after)
    elif "from_time" in call.request.query:
        start = Timestamp()
        try:
            start.FromJsonString(call.request.query["from_time"])
        except ValueError:
            raise Problem(
                400,
                "Invalid query",
                "from_time must be an RFC 3339 time, e.g. 2026-11-29T08:00:00Z",
            ) from None
        request.from_time.CopyFrom(start)
    return request


async def _events(replies: Any) -> AsyncIterator[bytes]:
    yield b": connected\n\n"
    try:
        while (item := await replies.read()) is not grpc.aio.EOF:
            if not item.sequence:
                yield b": heartbeat\n\n"
                continue
            yield (
                f"id: {item.sequence}\nevent: {item.event_type}\ndata: {item.cloudevent_json}\n\n"
            ).encode()
    except grpc.aio.AioRpcError:
        return  # the service went away: the client reconnects with its Last-Event-ID
    finally:
        replies.cancel()


async def stream(call: Call) -> web.StreamResponse:
    """`text/event-stream` of the partner's deliveries: `id` is the sequence to resume after,
    `event` the event type, `data` the CloudEvent JSON (with its `traceparent`)."""
    request = _stream_request(call)
    carrier: dict[str, str] = {}
    telemetry.inject(carrier)
    replies = call.upstream.partners.StreamEvents(
        request, metadata=(*call.metadata, *carrier.items())
    )
    # the service answers at once (a heartbeat) or refuses: a refusal stays problem+json
    await replies.read()
    return web.Response(
        body=_events(replies),
        content_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


_BUREAU_ROUTES: tuple[Route, ...] = (
    Route(
        method="GET",
        path=f"{OFFICE}/event-types",
        operation_id="listPartnerEventTypes",
        summary="The event types partners may be entitled to, with their scope.",
        tag="partners",
        handler=list_event_types,
        audience="office",
        response=pb.ListPartnerEventsResponse,
        errors=(401, 403, 503),
    ),
    Route(
        method="POST",
        path=ENTITLEMENTS,
        operation_id="grantEntitlement",
        summary="Entitle a partner to an event type (the Bureau's administrators; audited).",
        tag="partners",
        handler=grant,
        audience="office",
        body=pb.GrantEntitlementRequest,
        read_only=frozenset({"client_id"}),
        response=pb.Entitlement,
        status=201,
        errors=_WRITE_ERRORS,
    ),
    Route(
        method="GET",
        path=ENTITLEMENTS,
        operation_id="listEntitlements",
        summary="A partner's entitlements (the Bureau's administrators).",
        tag="partners",
        handler=list_entitlements,
        audience="office",
        response=pb.ListEntitlementsResponse,
        errors=_READ_ERRORS,
    ),
    Route(
        method="DELETE",
        path=f"{ENTITLEMENTS}/{{event_type}}",
        operation_id="revokeEntitlement",
        summary="Revoke a partner's entitlement: nothing more of that type reaches it, on any "
        "channel, from now on (audited).",
        tag="partners",
        handler=revoke,
        audience="office",
        response=pb.Entitlement,
        errors=_WRITE_ERRORS,
    ),
)

_PARTNER_ROUTES: tuple[Route, ...] = (
    Route(
        method="GET",
        path=f"{PARTNER}/types",
        operation_id="listPartnerEventTypesAsPartner",
        summary="The event types partners may be entitled to.",
        tag="partners",
        handler=list_event_types,
        audience="partner",
        response=pb.ListPartnerEventsResponse,
        errors=(401, 503),
    ),
    Route(
        method="GET",
        path=f"{PARTNER}/entitlements",
        operation_id="listMyEntitlements",
        summary="The event types the calling partner receives.",
        tag="partners",
        handler=list_entitlements,
        audience="partner",
        response=pb.ListEntitlementsResponse,
        errors=(401, 503),
    ),
    Route(
        method="PUT",
        path=f"{PARTNER}/nats-key",
        operation_id="setNatsKey",
        summary="Register the partner's NKEY public key: it then reads its deliveries on NATS "
        "(its subject, durable consumer and inbox prefix are in the answer), and nothing else.",
        tag="partners",
        handler=set_nats_key,
        audience="partner",
        body=pb.SetNatsKeyRequest,
        response=pb.NatsAccess,
        errors=_WRITE_ERRORS,
    ),
    Route(
        method="GET",
        path=f"{PARTNER}/nats-access",
        operation_id="getNatsAccess",
        summary="How the partner reads its deliveries on NATS.",
        tag="partners",
        handler=get_nats_access,
        audience="partner",
        response=pb.NatsAccess,
        errors=_READ_ERRORS,
    ),
    Route(
        method="POST",
        path=f"{PARTNER}/nats-replay",
        operation_id="startNatsReplay",
        summary="Replay the partner's events on NATS from a sequence (from_sequence) or a time "
        "(from_time): the platform creates (again) its pull consumer replay-<client id>, "
        "filtered to its own subject; partners create no consumers themselves.",
        tag="partners",
        handler=start_nats_replay,
        audience="partner",
        body=pb.StartNatsReplayRequest,
        response=pb.StartNatsReplayResponse,
        status=201,
        errors=_WRITE_ERRORS,
    ),
    Route(
        method="POST",
        path=f"{PARTNER}/webhooks",
        operation_id="createWebhook",
        summary="Register an HTTPS endpoint for the partner's deliveries; the signing secret "
        "(Standard Webhooks) is in the answer, once.",
        tag="partners",
        handler=create_webhook,
        audience="partner",
        body=pb.CreateWebhookRequest,
        response=pb.CreateWebhookResponse,
        status=201,
        errors=_WRITE_ERRORS,
    ),
    Route(
        method="GET",
        path=f"{PARTNER}/webhooks",
        operation_id="listWebhooks",
        summary="The partner's endpoints.",
        tag="partners",
        handler=list_webhooks,
        audience="partner",
        response=pb.ListWebhooksResponse,
        errors=(401, 503),
    ),
    Route(
        method="DELETE",
        path=f"{PARTNER}/webhooks/{{id}}",
        operation_id="deleteWebhook",
        summary="Stop deliveries to one of the partner's endpoints.",
        tag="partners",
        handler=delete_webhook,
        audience="partner",
        status=204,
        errors=_READ_ERRORS,
    ),
    Route(
        method="POST",
        path=f"{PARTNER}/webhooks/{{id}}/replay",
        operation_id="replayDeliveries",
        summary="Deliver the partner's events again to an endpoint, from a sequence "
        "(from_sequence) or a time (from_time).",
        tag="partners",
        handler=replay,
        audience="partner",
        body=pb.ReplayDeliveriesRequest,
        read_only=frozenset({"webhook_id"}),
        status=202,
        errors=_WRITE_ERRORS,
    ),
    Route(
        method="GET",
        path=f"{PARTNER}/deliveries",
        operation_id="listDeliveries",
        summary="The webhook deliveries to the partner, newest first: delivered, retrying or "
        "parked, with the last failure.",
        tag="partners",
        handler=list_deliveries,
        audience="partner",
        response=pb.ListDeliveriesResponse,
        query=(
            QueryParam(name="state", description="delivered, retrying or parked."),
            *PAGE_QUERY,
        ),
        errors=(401, 422, 503),
    ),
    Route(
        method="GET",
        path=f"{PARTNER}/stream",
        operation_id="streamEvents",
        summary="The partner's events as server-sent events: after Last-Event-ID (or ?after=), "
        "from ?from_time=, or only new ones; heartbeats every 15 s; ends when the token does.",
        tag="partners",
        handler=stream,
        audience="partner",
        query=(
            QueryParam(name="after", description="The sequence to resume after."),
            QueryParam(name="from_time", description="RFC 3339: deliver from this time."),
        ),
        errors=(400, 401, 503),
    ),
    asyncapi.ROUTE,
)

ROUTES: tuple[Route, ...] = (*_BUREAU_ROUTES, *_PARTNER_ROUTES)
