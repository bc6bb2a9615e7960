"""The exchange on the entry points.

- /office: providers push the records of their published resources (数据归集) and register
  interface services on them; departments ask for resources (share requests), the providers'
  approvers grant or refuse them and revoke grants; staff query interface services with their
  department's authorisation code and read the evidence of every exchange.
- /partner: partner systems query interface services with their authorisation code.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import quote

from aiohttp import web
from google.protobuf.message import Message

from gateway import jsonmap
from gateway.endpoints import PAGE_QUERY, Call, QueryParam, Route, message_response
from smartcity.exchange.v1 import exchange_pb2 as pb

OFFICE = "/office/v1/exchange"
DATASET = f"{OFFICE}/datasets/{{resource_id}}"
SHARE_REQUEST = f"{OFFICE}/share-requests/{{id}}"
_SHARE_REQUEST_OUTPUT_ONLY = frozenset(pb.ShareRequest.DESCRIPTOR.fields_by_name) - {
    "resource_id",
    "purpose",
    "legal_basis",
    "fields",
    "duration_days",
}
_INTERFACE_OUTPUT_ONLY = frozenset({"provider_department", "create_time"})
_ID_ONLY = frozenset({"id"})
_PAGE = ("page_size", "page_token")
SHARE_REQUEST_QUERY = (
    QueryParam(name="state", description="pending, granted or refused."),
    QueryParam(
        name="overdue", description="true: only those escalated to the Bureau.", type="boolean"
    ),
    *PAGE_QUERY,
)
# A body may be malformed (400), too large (413), not JSON (415) or invalid (422).
_WRITE_ERRORS = (400, 401, 403, 404, 409, 413, 415, 422, 503)
_LIST_ERRORS = (401, 422, 503)


def _path(call: Call, name: str) -> str:
    return call.request.match_info[name]


def _query(call: Call, message_type: type[Message], names: tuple[str, ...]) -> Message:
    request: Message = jsonmap.parse_query(call.request.query, message_type, names=names)
    return request


async def list_resources(call: Call) -> web.StreamResponse:
    request = _query(call, pb.ListResourcesRequest, _PAGE)
    return message_response(await call.rpc(call.upstream.exchange.ListResources, request))


async def push_records(call: Call) -> web.StreamResponse:
    request: pb.PushRecordsRequest = call.body
    request.resource_id = _path(call, "resource_id")
    request.request_id = call.request.headers.get("Idempotency-Key", "")
    reply = await call.rpc(call.upstream.exchange.PushRecords, request)
    return message_response(reply.dataset)


async def get_dataset(call: Call) -> web.StreamResponse:
    request = pb.GetDatasetRequest(resource_id=_path(call, "resource_id"))
    return message_response((await call.rpc(call.upstream.exchange.GetDataset, request)).dataset)


async def create_share_request(call: Call) -> web.StreamResponse:
    request = pb.CreateShareRequestRequest(
        share_request=call.body, request_id=call.request.headers.get("Idempotency-Key", "")
    )
    reply = await call.rpc(call.upstream.exchange.CreateShareRequest, request)
    # on the entry point it was asked at: /office for departments, /partner for partners
    location = f"{call.request.path}/{quote(reply.share_request.id, safe='')}"
    return message_response(reply.share_request, status=201, headers={"Location": location})


async def list_share_requests(call: Call) -> web.StreamResponse:
    request = _query(call, pb.ListShareRequestsRequest, ("state", "overdue", *_PAGE))
    return message_response(await call.rpc(call.upstream.exchange.ListShareRequests, request))


async def get_share_request(call: Call) -> web.StreamResponse:
    request = pb.GetShareRequestRequest(id=_path(call, "id"))
    reply = await call.rpc(call.upstream.exchange.GetShareRequest, request)
    return message_response(reply.share_request)


async def decide_share_request(call: Call) -> web.StreamResponse:
    request: pb.DecideShareRequestRequest = call.body
    request.id = _path(call, "id")
    reply = await call.rpc(call.upstream.exchange.DecideShareRequest, request)
    return message_response(reply.share_request)


async def list_grants(call: Call) -> web.StreamResponse:
    request = _query(call, pb.ListGrantsRequest, _PAGE)
    return message_response(await call.rpc(call.upstream.exchange.ListGrants, request))


async def revoke_grant(call: Call) -> web.StreamResponse:
    request: pb.RevokeGrantRequest = call.body
    request.id = _path(call, "id")
    return message_response((await call.rpc(call.upstream.exchange.RevokeGrant, request)).grant)


async def create_interface_service(call: Call) -> web.StreamResponse:
    request = pb.CreateInterfaceServiceRequest(interface_service=call.body)
    reply = await call.rpc(call.upstream.exchange.CreateInterfaceService, request)
    location = f"{OFFICE}/interfaces/{quote(reply.interface_service.name, safe='')}"
    return message_response(reply.interface_service, status=201, headers={"Location": location})


async def list_interface_services(call: Call) -> web.StreamResponse:
    request = _query(call, pb.ListInterfaceServicesRequest, ("resource_id", *_PAGE))
    return message_response(await call.rpc(call.upstream.exchange.ListInterfaceServices, request))


async def query_interface_service(call: Call) -> web.StreamResponse:
    request: pb.QueryInterfaceServiceRequest = call.body
    request.name = _path(call, "name")
    return message_response(await call.rpc(call.upstream.exchange.QueryInterfaceService, request))


async def list_evidence(call: Call) -> web.StreamResponse:
    request = _query(call, pb.ListEvidenceRequest, _PAGE)
    return message_response(await call.rpc(call.upstream.exchange.ListEvidence, request))


async def create_subscription(call: Call) -> web.StreamResponse:
    request = pb.CreateSubscriptionRequest(subscription=call.body)
    reply = await call.rpc(call.upstream.exchange.CreateSubscription, request)
    location = f"{OFFICE}/subscriptions/{reply.subscription.id}"
    return message_response(reply.subscription, status=201, headers={"Location": location})


async def list_subscriptions(call: Call) -> web.StreamResponse:
    request = pb.ListSubscriptionsRequest()
    return message_response(await call.rpc(call.upstream.exchange.ListSubscriptions, request))


async def delete_subscription(call: Call) -> web.StreamResponse:
    request = pb.DeleteSubscriptionRequest(id=call.request.match_info["id"])
    await call.rpc(call.upstream.exchange.DeleteSubscription, request)
    return web.Response(status=204)


async def list_changes(call: Call) -> web.StreamResponse:
    request = _query(call, pb.ListChangesRequest, ("after_version", "page_size", "page_token"))
    request.subscription_id = call.request.match_info["id"]  # type: ignore[attr-defined]
    return message_response(await call.rpc(call.upstream.exchange.ListChanges, request))


async def interface_openapi(call: Call) -> web.StreamResponse:
    request = pb.GetInterfaceServiceOpenApiRequest(name=call.request.match_info["name"])
    reply = await call.rpc(call.upstream.exchange.GetInterfaceServiceOpenApi, request)
    return web.Response(text=reply.document, content_type="application/json")


async def get_evidence_batch(call: Call) -> web.StreamResponse:
    request = pb.GetEvidenceBatchRequest(id=call.request.match_info["id"])
    reply = await call.rpc(call.upstream.exchange.GetEvidenceBatch, request)
    return message_response(reply.batch)


_OFFICE_ROUTES: tuple[Route, ...] = (
    Route(
        method="GET",
        path=f"{OFFICE}/resources",
        operation_id="listExchangeResources",
        summary="The resources the exchange knows, learnt from catalog events.",
        tag="exchange",
        handler=list_resources,
        audience="office",
        response=pb.ListResourcesResponse,
        query=PAGE_QUERY,
        errors=_LIST_ERRORS,
    ),
    Route(
        method="POST",
        path=f"{DATASET}/records",
        operation_id="pushExchangeRecords",
        summary="Add a batch of 1 to 1000 records to a published resource's dataset, all or "
        "nothing (its department's catalog officers); replace: true replaces the dataset.",
        tag="exchange",
        handler=push_records,
        audience="office",
        body=pb.PushRecordsRequest,
        read_only=frozenset({"resource_id", "request_id"}),
        response=pb.Dataset,
        idempotency_key=True,
        errors=_WRITE_ERRORS,
    ),
    Route(
        method="GET",
        path=DATASET,
        operation_id="getExchangeDataset",
        summary="How far a resource's dataset is: its version, record count and last update.",
        tag="exchange",
        handler=get_dataset,
        audience="office",
        response=pb.Dataset,
        errors=(401, 403, 404, 503),
    ),
    Route(
        method="POST",
        path=f"{OFFICE}/share-requests",
        operation_id="createShareRequest",
        summary="Ask for a resource of the share catalog for the caller's department: "
        "unconditional ones are granted at once, conditional ones wait for the provider.",
        tag="exchange",
        handler=create_share_request,
        audience="office",
        body=pb.ShareRequest,
        read_only=_SHARE_REQUEST_OUTPUT_ONLY,
        response=pb.ShareRequest,
        status=201,
        idempotency_key=True,
        errors=_WRITE_ERRORS,
    ),
    Route(
        method="GET",
        path=f"{OFFICE}/share-requests",
        operation_id="listShareRequests",
        summary="The share requests the caller's department made or received (the Bureau: "
        "all), newest first.",
        tag="exchange",
        handler=list_share_requests,
        audience="office",
        response=pb.ListShareRequestsResponse,
        query=SHARE_REQUEST_QUERY,
        errors=_LIST_ERRORS,
    ),
    Route(
        method="GET",
        path=SHARE_REQUEST,
        operation_id="getShareRequest",
        summary="One share request, to its consumer, its provider or the Bureau.",
        tag="exchange",
        handler=get_share_request,
        audience="office",
        response=pb.ShareRequest,
        errors=(401, 403, 404, 503),
    ),
    Route(
        method="POST",
        path=f"{SHARE_REQUEST}/decide",
        operation_id="decideShareRequest",
        summary="Grant (grant: true, optionally fewer fields or days) or refuse (with a reason) "
        "a pending request (the provider's share approvers); `grant` in the answer is the grant "
        "as granted (its fields and expiry), `fields` and `duration_days` stay what was asked.",
        tag="exchange",
        handler=decide_share_request,
        audience="office",
        body=pb.DecideShareRequestRequest,
        read_only=_ID_ONLY,
        response=pb.ShareRequest,
        errors=_WRITE_ERRORS,
    ),
    Route(
        method="GET",
        path=f"{OFFICE}/grants",
        operation_id="listGrants",
        summary="The grants the caller's department holds or gave.",
        tag="exchange",
        handler=list_grants,
        audience="office",
        response=pb.ListGrantsResponse,
        query=PAGE_QUERY,
        errors=_LIST_ERRORS,
    ),
    Route(
        method="POST",
        path=f"{OFFICE}/grants/{{id}}/revoke",
        operation_id="revokeGrant",
        summary="End a grant at once, with the reason (the provider's share approvers or the "
        "Bureau).",
        tag="exchange",
        handler=revoke_grant,
        audience="office",
        body=pb.RevokeGrantRequest,
        read_only=_ID_ONLY,
        response=pb.Grant,
        errors=_WRITE_ERRORS,
    ),
    Route(
        method="POST",
        path=f"{OFFICE}/interfaces",
        operation_id="createInterfaceService",
        summary="Register a query interface on a published resource (its department's catalog "
        "officers), named <department>.<name>; a bare <name> gets the resource's department as "
        "its prefix.",
        tag="exchange",
        handler=create_interface_service,
        audience="office",
        body=pb.InterfaceService,
        read_only=_INTERFACE_OUTPUT_ONLY,
        response=pb.InterfaceService,
        status=201,
        errors=_WRITE_ERRORS,
    ),
    Route(
        method="GET",
        path=f"{OFFICE}/interfaces",
        operation_id="listInterfaceServices",
        summary="The registered interface services: what each answers and takes.",
        tag="exchange",
        handler=list_interface_services,
        audience="office",
        response=pb.ListInterfaceServicesResponse,
        query=(
            QueryParam(name="resource_id", description="Only those on this resource."),
            *PAGE_QUERY,
        ),
        errors=_LIST_ERRORS,
    ),
    *(
        Route(
            method="POST",
            path=f"/{entry}/v1/exchange/interfaces/{{name}}/query",
            operation_id=operation_id,
            summary="Query an interface service with the caller's authorisation code: at most "
            "100 records, fields outside the grant masked as ***, kept as evidence.",
            tag="exchange",
            handler=query_interface_service,
            audience=entry,
            body=pb.QueryInterfaceServiceRequest,
            read_only=frozenset({"name"}),
            response=pb.QueryInterfaceServiceResponse,
            errors=(400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
        )
        for entry, operation_id in (
            ("office", "queryInterfaceService"),
            ("partner", "queryInterfaceServiceAsPartner"),
        )
    ),
    Route(
        method="GET",
        path=f"{OFFICE}/evidence",
        operation_id="listExchangeEvidence",
        summary="The evidence of the caller's department's queries, as consumer or provider "
        "(the Bureau: all), newest first.",
        tag="exchange",
        handler=list_evidence,
        audience="office",
        response=pb.ListEvidenceResponse,
        query=PAGE_QUERY,
        errors=_LIST_ERRORS,
    ),
    *(
        Route(
            method="GET",
            path=f"/{entry}/v1/exchange/interfaces/{{name}}/openapi.json",
            operation_id=operation_id,
            summary="One interface service as OpenAPI 3.1: its query, parameters and answer "
            "typed from the catalog's data items.",
            tag="exchange",
            handler=interface_openapi,
            audience=entry,
            errors=(401, 404, 503),
        )
        for entry, operation_id in (
            ("office", "getInterfaceServiceOpenApi"),
            ("partner", "getInterfaceServiceOpenApiAsPartner"),
        )
    ),
    Route(
        method="POST",
        path=f"{OFFICE}/subscriptions",
        operation_id="createExchangeSubscription",
        summary="Follow a resource the department holds a grant of: each new batch is announced "
        "on smartcity.exchange.delivery.<department>.",
        tag="exchange",
        handler=create_subscription,
        audience="office",
        body=pb.Subscription,
        read_only=frozenset({"id", "consumer_department", "create_time"}),
        response=pb.Subscription,
        status=201,
        errors=_WRITE_ERRORS,
    ),
    Route(
        method="GET",
        path=f"{OFFICE}/subscriptions",
        operation_id="listExchangeSubscriptions",
        summary="The department's subscriptions.",
        tag="exchange",
        handler=list_subscriptions,
        audience="office",
        response=pb.ListSubscriptionsResponse,
        errors=_LIST_ERRORS,
    ),
    Route(
        method="DELETE",
        path=f"{OFFICE}/subscriptions/{{id}}",
        operation_id="deleteExchangeSubscription",
        summary="Stop following a resource.",
        tag="exchange",
        handler=delete_subscription,
        audience="office",
        status=204,
        errors=(401, 404, 503),
    ),
    Route(
        method="GET",
        path=f"{OFFICE}/subscriptions/{{id}}/changes",
        operation_id="listExchangeChanges",
        summary="The records added after a dataset version, masked as the grant says (each page "
        "is kept as evidence).",
        tag="exchange",
        handler=list_changes,
        audience="office",
        response=pb.ListChangesResponse,
        query=(
            QueryParam(
                name="after_version", description="Only records added after it.", type="int64"
            ),
            *PAGE_QUERY,
        ),
        errors=(401, 403, 404, 422, 503),
    ),
    Route(
        method="GET",
        path=f"{OFFICE}/evidence-batches/{{id}}",
        operation_id="getExchangeEvidenceBatch",
        summary="A signed batch of evidence: its records' SM3 hashes and the SM2 signature, to "
        "check a record of one's own (only to a party of one of its records).",
        tag="exchange",
        handler=get_evidence_batch,
        audience="office",
        response=pb.EvidenceBatch,
        errors=(401, 404, 503),
    ),
)

# Partner systems (enterprises and organisations, Art. 14) ask for data, hold grants, query
# interface services and read their evidence as departments do, at their own entry point.
PARTNER = "/partner/v1/exchange"
_PARTNER_TOO = {
    ("POST", "/share-requests"),
    ("GET", "/share-requests"),
    ("GET", "/share-requests/{id}"),
    ("GET", "/grants"),
    ("GET", "/interfaces"),
    ("GET", "/evidence"),
    ("GET", "/evidence-batches/{id}"),
}
ROUTES: tuple[Route, ...] = (
    *_OFFICE_ROUTES,
    *(
        dataclasses.replace(
            route,
            path=PARTNER + route.path.removeprefix(OFFICE),
            operation_id=f"{route.operation_id}AsPartner",
            audience="partner",
        )
        for route in _OFFICE_ROUTES
        if (route.method, route.path.removeprefix(OFFICE)) in _PARTNER_TOO
    ),
)
