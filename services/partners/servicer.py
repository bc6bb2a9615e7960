"""PartnersService over gRPC: translate, authorise, delegate.

Entitlements are the Big Data Bureau's to manage (Art. 38); everything else a partner does
concerns itself only: its NATS key, its webhooks, its deliveries, its stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, TypeAlias

import grpc

from runtime import crypto
from runtime.auth import OFFICE, PARTNER_ONLY, Policy, allow, policies_of, require_principal
from runtime.errors import InvalidArgument
from runtime.pagination import decode_cursor, encode_cursor, page_size
from runtime.service import ServiceRuntime
from runtime.storage import timestamp
from services.partners import store, streams
from services.partners.access import Access
from services.partners.catalog import PARTNER_EVENTS
from services.partners.fanout import FanOut
from services.partners.webhooks import Webhooks
from smartcity.partners.v1 import partners_pb2 as pb
from smartcity.partners.v1 import partners_pb2_grpc

if TYPE_CHECKING:
    from nats.js import JetStreamContext


SERVICE = pb.DESCRIPTOR.services_by_name["PartnersService"].full_name
# Which members of staff may call each method: the role table, runtime/roles.py; the names
# below say whom each method is for.
BUREAU = OFFICE
BUREAU_OR_PARTNER = Policy(audiences=("office", "partner"))
STATES = {
    "delivered": pb.DELIVERY_STATE_DELIVERED,
    "retrying": pb.DELIVERY_STATE_RETRYING,
    "parked": pb.DELIVERY_STATE_PARKED,
}
STATE_NAMES = {v: k for k, v in STATES.items()}
Context: TypeAlias = grpc.aio.ServicerContext


def _delivery(row: store.Row) -> pb.Delivery:
    return pb.Delivery(
        id=row.id,
        webhook_id=row.webhook_id,
        event_id=row.event_id,
        event_type=row.event_type,
        sequence=row.sequence,
        state=STATES[row.state],
        attempts=row.attempts,
        last_status=row.last_status,
        last_error=row.last_error,
        first_attempt_time=timestamp(row.first_us),
        last_attempt_time=timestamp(row.last_us),
    )


class PartnersServicer(partners_pb2_grpc.PartnersServiceServicer):
    def __init__(self, rt: ServiceRuntime) -> None:
        self._rt = rt
        self.webhooks = Webhooks(rt, crypto.master_key(rt.settings))
        self.fanout = FanOut(rt)
        self._access = Access(rt, self.webhooks)
        self._events = pb.ListPartnerEventsResponse(
            event_types=[
                pb.PartnerEventType(
                    event_type=subject,
                    scope=e.scope,
                    summary=e.summary,
                    payload_message=e.event_type.payload.DESCRIPTOR.full_name,
                )
                for subject, e in PARTNER_EVENTS.items()
            ]
        )

    async def on_bus(self, js: JetStreamContext) -> None:
        """While the bus is connected: the partners' NATS users in place, then the webhooks."""
        await self._access.publish_nats_users()
        await self.webhooks.run(js)

    @allow(BUREAU_OR_PARTNER)
    async def ListPartnerEvents(
        self, request: pb.ListPartnerEventsRequest, context: Context
    ) -> pb.ListPartnerEventsResponse:
        return self._events

    # --- entitlements ------------------------------------------------------------------------

    @allow(BUREAU)
    async def GrantEntitlement(
        self, request: pb.GrantEntitlementRequest, context: Context
    ) -> pb.GrantEntitlementResponse:
        granted = await self._access.grant(
            require_principal(), request.client_id, request.event_type
        )
        return pb.GrantEntitlementResponse(entitlement=granted)

    @allow(BUREAU)
    async def RevokeEntitlement(
        self, request: pb.RevokeEntitlementRequest, context: Context
    ) -> pb.RevokeEntitlementResponse:
        revoked = await self._access.revoke(
            require_principal(), request.client_id, request.event_type
        )
        return pb.RevokeEntitlementResponse(entitlement=revoked)

    @allow(Policy(audiences=("office", "partner")))
    async def ListEntitlements(
        self, request: pb.ListEntitlementsRequest, context: Context
    ) -> pb.ListEntitlementsResponse:
        principal = require_principal()
        if principal.audience == "partner":
            client_id = principal.client  # its own, whatever it asks
        else:
            BUREAU.check(principal)
            client_id = request.client_id
        found = await self._access.entitlements(client_id[:64])
        return pb.ListEntitlementsResponse(entitlements=found)

    # --- a partner's own channels ------------------------------------------------------------

    @allow(PARTNER_ONLY)
    async def SetNatsKey(
        self, request: pb.SetNatsKeyRequest, context: Context
    ) -> pb.SetNatsKeyResponse:
        access = await self._access.set_nats_key(require_principal(), request.public_key)
        return pb.SetNatsKeyResponse(access=access)

    @allow(PARTNER_ONLY)
    async def GetNatsAccess(
        self, request: pb.GetNatsAccessRequest, context: Context
    ) -> pb.GetNatsAccessResponse:
        return pb.GetNatsAccessResponse(
            access=await self._access.get_nats_access(require_principal())
        )

    @allow(PARTNER_ONLY)
    async def StartNatsReplay(
        self, request: pb.StartNatsReplayRequest, context: Context
    ) -> pb.StartNatsReplayResponse:
        return await self._access.start_nats_replay(require_principal(), request)

    @allow(PARTNER_ONLY)
    async def CreateWebhook(
        self, request: pb.CreateWebhookRequest, context: Context
    ) -> pb.CreateWebhookResponse:
        return await self._access.create_webhook(require_principal(), request.url)

    @allow(PARTNER_ONLY)
    async def ListWebhooks(
        self, request: pb.ListWebhooksRequest, context: Context
    ) -> pb.ListWebhooksResponse:
        return pb.ListWebhooksResponse(webhooks=await self._access.webhooks(require_principal()))

    @allow(PARTNER_ONLY)
    async def DeleteWebhook(
        self, request: pb.DeleteWebhookRequest, context: Context
    ) -> pb.DeleteWebhookResponse:
        await self._access.delete_webhook(require_principal(), request.id)
        return pb.DeleteWebhookResponse()

    @allow(PARTNER_ONLY)
    async def ListDeliveries(
        self, request: pb.ListDeliveriesRequest, context: Context
    ) -> pb.ListDeliveriesResponse:
        state = ""
        if request.state:
            if request.state not in STATE_NAMES:
                raise InvalidArgument.of("state", "must be delivered, retrying or parked")
            state = STATE_NAMES[request.state]
        async with self._rt.db.read() as conn:
            rows, before = await store.list_deliveries(
                conn,
                client_id=require_principal().client,
                state=state,
                before=decode_cursor(request.page_token),
                limit=page_size(request.page_size),
            )
        return pb.ListDeliveriesResponse(
            deliveries=[_delivery(r) for r in rows], next_page_token=encode_cursor(before)
        )

    @allow(PARTNER_ONLY)
    async def ReplayDeliveries(
        self, request: pb.ReplayDeliveriesRequest, context: Context
    ) -> pb.ReplayDeliveriesResponse:
        await self._access.replay(require_principal(), request)
        return pb.ReplayDeliveriesResponse()

    @allow(PARTNER_ONLY)
    async def StreamEvents(
        self, request: pb.StreamEventsRequest, context: Context
    ) -> AsyncIterator[pb.StreamEventsResponse]:
        principal = require_principal()

        async def still_valid() -> object:
            return await self._rt.verifier.verify(principal.token, audiences=("partner",))

        async for item in streams.stream(self.webhooks.js, principal, request, still_valid):
            yield item


POLICIES = policies_of(PartnersServicer, SERVICE)


def create_servicer(rt: ServiceRuntime) -> PartnersServicer:
    """The servicer, with the background work it starts."""
    servicer = PartnersServicer(rt)
    rt.bus_work.append(servicer.fanout.run)
    rt.bus_work.append(servicer.on_bus)
    return servicer
