"""The fan-out: every event a partner may receive is copied, as it is published, to each entitled
partner's own subject `smartcity.partners.delivery.<client>.<event type>` on stream PARTNERS.

One durable consumer per source stream (catalog, exchange, licences), filtered to the partner
event types, reads in stream order. A batch's copies are published together and the originals
acknowledged once all copies are stored; a copy keeps its event's CloudEvents headers and
payload, carries the trace context of the fan-out span (a child of the publisher's), and has the
message id `<event id>.<client>`, so a redelivered batch stores nothing twice. Entitlements and
the partners' exchange grants are read at fan-out time: a revocation stops the next event.
Every channel a partner has (NATS, webhooks, server-sent events) reads only its own subject.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from runtime import logs, telemetry
from runtime.bus import contracts
from runtime.bus import nats as bus_nats
from runtime.bus.events import stream_name
from runtime.service import ServiceRuntime
from runtime.storage import now_us
from services.partners import domain, store
from services.partners.catalog import GRANTED, PARTNER_EVENTS
from services.partners.events import fanout_durable, fanout_sources
from smartcity.exchange.v1 import events_pb2 as exchange_events

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from nats.js import JetStreamContext


log = logs.get(__name__)

BATCH = 256
PUBLISH_TIMEOUT = 5.0
_DECIDED = contracts.event_type(exchange_events.ShareRequestDecided).subject
_REVOKED = contracts.event_type(exchange_events.GrantRevoked).subject
_GRANTED_OUTCOME = 1  # SHARE_REQUEST_OUTCOME_GRANTED


class FanOut:
    def __init__(self, rt: ServiceRuntime) -> None:
        self._rt = rt
        self.copies = 0

    async def run(self, js: JetStreamContext) -> None:
        await asyncio.gather(
            *(self._follow(js, service, subjects) for service, subjects in fanout_sources().items())
        )

    async def _follow(self, js: JetStreamContext, service: str, subjects: list[str]) -> None:
        from nats.errors import TimeoutError as NatsTimeout
        from nats.js.api import AckPolicy, ConsumerConfig

        await bus_nats.wait_for_stream(js, service)  # its owner creates it
        psub = await js.pull_subscribe(
            subjects[0],
            durable=fanout_durable(service),
            stream=stream_name(service),
            config=ConsumerConfig(
                # one subject: the filter goes in the create request's subject, where the
                # server checks it against this service's permissions
                filter_subjects=subjects if len(subjects) > 1 else None,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=30,
            ),
        )
        while True:
            try:
                msgs = await psub.fetch(BATCH, timeout=1.0)
            except (NatsTimeout, TimeoutError):
                continue
            try:
                await self._fan(js, msgs)
            except Exception as exc:
                log.warning("fanout_failed", stream=service, error=type(exc).__name__)
                for msg in msgs:
                    await msg.nak(delay=1.0)
                continue
            await asyncio.gather(*(msg.ack() for msg in msgs))

    async def _fan(self, js: JetStreamContext, msgs: list[Msg]) -> None:
        """Publish every copy of a batch, in the batch's order, and wait for them all."""
        entitled: dict[str, list[str]] = {}
        pending = []
        for msg in msgs:
            event = PARTNER_EVENTS[msg.subject]
            payload = event.event_type.parse(msg.data)
            headers: dict[str, str] = dict(msg.headers or {})
            if msg.subject in (_DECIDED, _REVOKED):
                await self._learn_grant(msg.subject, payload)
            if msg.subject not in entitled:
                async with self._rt.db.read() as conn:
                    entitled[msg.subject] = await store.entitled_clients(conn, msg.subject)
            clients = [c for c in entitled[msg.subject] if await self._in_scope(event, payload, c)]
            if not clients:
                continue
            parent = telemetry.extract(headers)
            with telemetry.tracer().start_as_current_span(
                f"fan out {msg.subject}",
                context=parent,
                kind=trace.SpanKind.PRODUCER,
                attributes={
                    "messaging.system": "nats",
                    "messaging.destination.name": msg.subject,
                    "messaging.message.id": headers.get("ce-id", ""),
                    "smartcity.partners": len(clients),
                },
            ):
                carrier: dict[str, str] = {}
                telemetry.inject(carrier)
            for client in clients:
                copy = {**domain.headers_without_transport(headers), **carrier}
                copy["Nats-Msg-Id"] = f"{headers.get('ce-id', '')}.{domain.token(client)}"
                pending.append(
                    js.publish(
                        domain.delivery_subject(client, msg.subject),
                        msg.data,
                        stream=domain.STREAM,
                        headers=copy,
                        timeout=PUBLISH_TIMEOUT,
                    )
                )
        if pending:
            await asyncio.gather(*pending)
            self.copies += len(pending)

    async def _in_scope(self, event: Any, payload: Any, client: str) -> bool:
        holds = False
        if event.scope == GRANTED:
            async with self._rt.db.read() as conn:
                holds = await store.holds_grant(
                    conn, client_id=client, resource_id=getattr(payload, event.key), now_us=now_us()
                )
        return domain.in_scope(event, payload, client, holds_grant=holds)

    async def _learn_grant(self, subject: str, payload: Any) -> None:
        """The partners' exchange grants, learnt in the exchange stream's order: a grant is known
        before the first data change it covers is fanned out."""
        if not payload.consumer.startswith("partner:"):
            return
        client = payload.consumer.split(":", 1)[1]
        async with self._rt.db.begin() as conn:
            if subject == _DECIDED and payload.outcome == _GRANTED_OUTCOME and payload.grant_id:
                await store.learn_grant(
                    conn,
                    grant_id=payload.grant_id,
                    client_id=client,
                    resource_id=payload.resource_id,
                    expires_us=payload.grant_expire_time.ToMicroseconds(),
                )
            elif subject == _REVOKED:
                await store.forget_grant(conn, payload.grant_id)
