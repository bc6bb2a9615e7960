"""Managing partners' access: entitlements (the Big Data Bureau's, audited), a partner's NATS
NKEY (its own), and its webhook endpoints (its own)."""

from __future__ import annotations

import contextlib
import uuid
from typing import TYPE_CHECKING, Any

from runtime import logs, natsauth
from runtime.auth import Principal
from runtime.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from runtime.service import ServiceRuntime
from runtime.storage import now_us, timestamp
from runtime.unit_of_work import UnitOfWork
from services.partners import domain, events, signatures, store
from services.partners.catalog import PARTNER_EVENTS
from services.partners.upstream import Identity
from services.partners.webhooks import Webhooks
from smartcity.partners.v1 import events_pb2
from smartcity.partners.v1 import partners_pb2 as pb

if TYPE_CHECKING:
    from nats.js import JetStreamContext


log = logs.get(__name__)


def entitlement_message(row: store.Row) -> pb.Entitlement:
    return pb.Entitlement(
        client_id=row.client_id,
        event_type=row.event_type,
        scope=PARTNER_EVENTS[row.event_type].scope if row.event_type in PARTNER_EVENTS else "",
        granted_by=row.granted_by,
        grant_time=timestamp(row.granted_us),
    )


def webhook_message(row: store.Row) -> pb.Webhook:
    return pb.Webhook(id=row.id, url=row.url, create_time=timestamp(row.created_us))


class Access:
    def __init__(self, rt: ServiceRuntime, webhooks: Webhooks) -> None:
        self._rt = rt
        self._webhooks = webhooks
        self._identity = Identity(rt)

    # --- entitlements (the Bureau) ---------------------------------------------------------

    async def grant(self, principal: Principal, client_id: str, event_type: str) -> pb.Entitlement:
        domain.check_client(client_id)
        domain.partner_event(event_type)
        await self._identity.require_partner(principal, client_id)
        now = now_us()
        async with self._rt.unit_of_work() as uow:
            await store.grant_entitlement(
                uow.conn,
                client_id=client_id,
                event_type=event_type,
                by=principal.subject,
                at_us=now,
            )
            row = await store.entitlement(uow.conn, client_id=client_id, event_type=event_type)
            assert row is not None
            await self._announce(uow, principal, client_id, event_type, step="granted", at=now)
        return entitlement_message(row)

    async def revoke(self, principal: Principal, client_id: str, event_type: str) -> pb.Entitlement:
        domain.check_client(client_id)
        domain.partner_event(event_type)
        now = now_us()
        async with self._rt.unit_of_work() as uow:
            if not await store.revoke_entitlement(
                uow.conn, client_id=client_id, event_type=event_type, at_us=now
            ):
                raise NotFound("entitlement", f"{client_id} {event_type}")
            row = await store.entitlement(uow.conn, client_id=client_id, event_type=event_type)
            assert row is not None
            await self._announce(uow, principal, client_id, event_type, step="revoked", at=now)
        return entitlement_message(row)

    async def entitlements(self, client_id: str) -> list[pb.Entitlement]:
        async with self._rt.db.read() as conn:
            rows = await store.active_entitlements(conn, client_id=client_id)
        return [entitlement_message(r) for r in rows]

    async def _announce(
        self,
        uow: UnitOfWork,
        principal: Principal,
        client_id: str,
        event_type: str,
        *,
        step: str,
        at: int,
    ) -> None:
        await uow.publish(
            events.ENTITLEMENT_STEPS[step],
            events_pb2.EntitlementChanged(
                client_id=client_id, event_type=event_type, change_time=timestamp(at)
            ),
            entity_id=client_id,
        )
        await uow.audit(
            f"partners.entitlement.{step}",
            principal=principal,
            resource_type="entitlement",
            resource_id=f"{client_id} {event_type}",
        )

    # --- NATS (the partner itself) ---------------------------------------------------------

    def nats_access(self, client_id: str, public_key: str) -> pb.NatsAccess:
        return pb.NatsAccess(
            client_id=client_id,
            public_key=public_key,
            subject=domain.delivery_filter(client_id),
            stream=domain.STREAM,
            durable=domain.durable(client_id),
            inbox_prefix=domain.inbox_prefix(client_id),
            replay_consumer=domain.replay_consumer(client_id),
        )

    async def set_nats_key(self, principal: Principal, public_key: str) -> pb.NatsAccess:
        client_id = principal.client
        domain.check_nkey(public_key)
        js = self._webhooks.js
        if js is None:
            raise Unavailable("the event bus is not connected yet; retry")
        async with self._rt.unit_of_work() as uow:
            owner = await store.nats_key_owner(uow.conn, public_key)
            settings = self._rt.settings
            platforms = (
                natsauth.platform_keys(settings.nats_auth_file) if settings.nats_auth_file else ()
            )
            if (owner is not None and owner != client_id) or public_key in platforms:
                raise FailedPrecondition("this NKEY belongs to another NATS user")
            await store.set_nats_key(
                uow.conn, client_id=client_id, public_key=public_key, at_us=now_us()
            )
            await uow.audit(
                "partners.nats_key.set",
                principal=principal,
                resource_type="partner",
                resource_id=client_id,
            )
        await self._ensure_durable(js, client_id)
        await self.publish_nats_users()
        return self.nats_access(client_id, public_key)

    async def _ensure_durable(self, js: JetStreamContext, client_id: str) -> None:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        await js.add_consumer(
            domain.STREAM,
            ConsumerConfig(
                durable_name=domain.durable(client_id),
                filter_subject=domain.delivery_filter(client_id),
                deliver_policy=DeliverPolicy.ALL,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=30,
            ),
        )

    async def publish_nats_users(self) -> None:
        """Write the NATS users of every partner with a key, and have the server reload."""
        settings = self._rt.settings
        if not settings.nats_auth_file:
            return  # a deployment's own NATS: its operators place the users
        async with self._rt.db.read() as conn:
            keys = await store.all_nats_keys(conn)
        partners = [natsauth.User(f"partner {c}", k, domain.nats_permissions(c)) for c, k in keys]
        changed = natsauth.update(settings.nats_auth_file, partners=partners)
        if changed and settings.nats_pid_file:
            natsauth.reload(settings.nats_pid_file)
            log.info("nats_users_reloaded", partners=len(keys))

    async def get_nats_access(self, principal: Principal) -> pb.NatsAccess:
        async with self._rt.db.read() as conn:
            key = await store.nats_key(conn, principal.client)
        if key is None:
            raise NotFound("NATS key of partner", principal.client)
        return self.nats_access(principal.client, key)

    async def start_nats_replay(
        self, principal: Principal, request: pb.StartNatsReplayRequest
    ) -> pb.StartNatsReplayResponse:
        """The partner's replay consumer, created (again) by the platform: always pull (no
        deliver subject), filtered to the partner's own subject, acknowledged one by one, and
        removed by the server after a short while unread."""
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
        from nats.js.errors import NotFoundError

        client_id = principal.client
        start: dict[str, Any]
        if request.from_sequence > 0:
            start = {
                "deliver_policy": DeliverPolicy.BY_START_SEQUENCE,
                "opt_start_seq": request.from_sequence,
            }
        elif request.HasField("from_time"):
            start = {
                "deliver_policy": DeliverPolicy.BY_START_TIME,
                "opt_start_time": request.from_time.ToJsonString(),
            }
        else:
            raise InvalidArgument.of("from_sequence", "give from_sequence or from_time")
        async with self._rt.db.read() as conn:
            key = await store.nats_key(conn, client_id)
        if key is None:
            raise NotFound("NATS key of partner", client_id)
        js = self._webhooks.js
        if js is None:
            raise Unavailable("the event bus is not connected yet; retry")
        name = domain.replay_consumer(client_id)
        with contextlib.suppress(NotFoundError):
            await js.delete_consumer(domain.STREAM, name)
        await js.add_consumer(
            domain.STREAM,
            ConsumerConfig(
                name=name,
                filter_subject=domain.delivery_filter(client_id),
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=30,
                inactive_threshold=float(domain.REPLAY_INACTIVE_SECONDS),
                **start,
            ),
        )
        return pb.StartNatsReplayResponse(
            stream=domain.STREAM,
            replay_consumer=name,
            subject=domain.delivery_filter(client_id),
            inactive_seconds=domain.REPLAY_INACTIVE_SECONDS,
        )

    # --- webhooks (the partner itself) -----------------------------------------------------

    async def create_webhook(self, principal: Principal, url: str) -> pb.CreateWebhookResponse:
        await self._webhooks.destinations.check(url)
        js = self._webhooks.js
        if js is None:
            raise Unavailable("the event bus is not connected yet; retry")
        webhook_id = str(uuid.uuid4())
        secret = signatures.new_secret()
        async with self._rt.unit_of_work() as uow:
            await store.add_webhook(
                uow.conn,
                id=webhook_id,
                client_id=principal.client,
                url=url,
                secret=self._webhooks.seal(webhook_id, secret),
                created_us=now_us(),
            )
            row = await store.webhook(uow.conn, webhook_id)
            assert row is not None
            await uow.audit(
                "partners.webhook.created",
                principal=principal,
                resource_type="webhook",
                resource_id=webhook_id,
            )
        # from now on: the consumer exists before the answer, so no later event is missed
        await self._webhooks.ensure_consumer(js, row)
        self._webhooks.changed()
        return pb.CreateWebhookResponse(webhook=webhook_message(row), secret=secret)

    async def _own_webhook(self, principal: Principal, webhook_id: str) -> store.Row:
        async with self._rt.db.read() as conn:
            row = await store.webhook(conn, webhook_id[:40])
        if row is None or row.client_id != principal.client:
            raise NotFound("webhook", webhook_id[:40])
        return row

    async def delete_webhook(self, principal: Principal, webhook_id: str) -> None:
        row = await self._own_webhook(principal, webhook_id)
        async with self._rt.unit_of_work() as uow:
            await store.delete_webhook(uow.conn, row.id, at_us=now_us())
            await uow.audit(
                "partners.webhook.deleted",
                principal=principal,
                resource_type="webhook",
                resource_id=row.id,
            )
        self._webhooks.changed()
        await self._webhooks.drop_consumer(row.id)

    async def replay(self, principal: Principal, request: pb.ReplayDeliveriesRequest) -> None:
        row = await self._own_webhook(principal, request.webhook_id)
        js = self._webhooks.js
        if js is None:
            raise Unavailable("the event bus is not connected yet; retry")
        start: dict[str, Any]
        if request.from_sequence > 0:
            start = {"opt_start_seq": request.from_sequence}
        elif request.HasField("from_time"):
            start = {"opt_start_time": request.from_time.ToJsonString()}
        else:
            raise FailedPrecondition("give from_sequence or from_time")
        await self._webhooks.drop_consumer(row.id)
        await self._webhooks.ensure_consumer(js, row, **start)
        self._webhooks.restart(row.id)

    async def webhooks(self, principal: Principal) -> list[pb.Webhook]:
        async with self._rt.db.read() as conn:
            rows = await store.live_webhooks(conn, client_id=principal.client)
        return [webhook_message(r) for r in rows]
