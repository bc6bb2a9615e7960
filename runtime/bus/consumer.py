"""Durable, idempotent JetStream consumers.

Each consumer is a durable pull consumer. Every message is handled in one local transaction that
also records its event id in `processed_events`; the message is acknowledged after that commit.
A redelivered event finds its id recorded and has no second effect. While it runs, a consumer
reads its lag from JetStream every few seconds for the metrics (`smartcity.consumer.lag`).

Only the owner of a subject may publish it (the NATS server refuses anyone else: see
runtime/natsauth.py), and a consumer believes only events that say so: one whose `ce-source` is
not the owner of its subject, or that its handler refuses (`EventRefused`), is terminated
unapplied, logged (`event_refused`) and counted (`smartcity.consumer.refused`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic

import sqlalchemy as sa
from opentelemetry import trace
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from runtime import logs, metrics, telemetry
from runtime.bus import nats as bus_nats
from runtime.bus.events import EventType, M, stream_name
from runtime.storage import Database, Migration, create_tables, now_us

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from nats.js import JetStreamContext


log = logs.get(__name__)

metadata = sa.MetaData()
processed_events = sa.Table(
    "processed_events",
    metadata,
    sa.Column("consumer", sa.String(100), primary_key=True),
    sa.Column("event_id", sa.String(36), primary_key=True),
    sa.Column("processed_us", sa.BigInteger, nullable=False),
)

MIGRATIONS = [Migration("bus-0002-processed-events", create_tables(processed_events))]


class EventRefused(Exception):
    """A handler's verdict that an event must never be applied (not a failure to retry): it is
    terminated, logged and counted. `reason`: a short phrase without personal data; `kind`:
    one word for the metric."""

    def __init__(self, reason: str, *, kind: str = "content") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


class _ProcessedElsewhere(Exception):
    """The event id was recorded by another replica between our check and our insert."""


@dataclass(frozen=True)
class ReceivedEvent(Generic[M]):
    """An event as a consumer sees it: CloudEvents attributes and the parsed payload, typed by
    its event type's message."""

    id: str
    type: str
    source: str
    subject: str
    time: str
    payload: M
    delivery: int


Handler = Callable[[AsyncConnection, ReceivedEvent[M]], Awaitable[None]]


@dataclass(frozen=True)
class Subscription(Generic[M]):
    """What a service consumes: a durable name, the event type, and its handler, which receives
    that type's payload."""

    durable: str
    event_type: EventType[M]
    handle: Handler[M]


class Consumer:
    """Pulls one subscription's messages in order and applies them effectively once."""

    def __init__(
        self,
        db: Database,
        subscription: Subscription[Any],
        *,
        batch: int = 64,
        max_deliver: int = 20,
    ) -> None:
        self._db = db
        self._sub = subscription
        self._batch = batch
        self._max_deliver = max_deliver
        self.processed = 0
        self.duplicates = 0
        self.parked = 0
        self.refused = 0

    async def run(self, js: JetStreamContext) -> None:
        from nats.errors import TimeoutError as NatsTimeout
        from nats.js.api import AckPolicy, ConsumerConfig

        et = self._sub.event_type
        await bus_nats.wait_for_stream(js, et.service)  # its owner creates it
        psub = await js.pull_subscribe(
            et.subject,
            durable=self._sub.durable,
            stream=stream_name(et.service),
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT, ack_wait=30, max_deliver=self._max_deliver
            ),
        )
        lag = asyncio.create_task(self._watch_lag(psub), name=f"lag-{self._sub.durable}")
        try:
            while True:
                try:
                    msgs = await psub.fetch(self._batch, timeout=1.0)
                except (NatsTimeout, TimeoutError):
                    continue
                # In order: a subject's events apply in the order the stream holds them.
                for msg in msgs:
                    await self._handle(msg)
        finally:
            lag.cancel()
            metrics.consumer_lag(self._sub.durable, None)

    async def _watch_lag(
        self, psub: JetStreamContext.PullSubscription, *, interval: float = metrics.POLL_SECONDS
    ) -> None:
        """The consumer's lag: events of the stream not yet delivered to it, and those delivered
        but not acknowledged yet (being handled, or waiting for a redelivery)."""
        while True:
            try:
                info = await psub.consumer_info()
                metrics.consumer_lag(
                    self._sub.durable, int(info.num_pending or 0) + int(info.num_ack_pending or 0)
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                metrics.consumer_lag(self._sub.durable, None)  # unknown, rather than stale
            await asyncio.sleep(interval)

    async def _handle(self, msg: Msg) -> None:
        headers: dict[str, str] = msg.headers or {}
        parent = telemetry.extract(headers)
        et = self._sub.event_type
        with telemetry.tracer().start_as_current_span(
            f"process {msg.subject}",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "nats",
                "messaging.destination.name": msg.subject,
                "messaging.consumer.group.name": self._sub.durable,
                "messaging.message.id": headers.get("ce-id", ""),
            },
        ) as span:
            event_id = headers.get("ce-id")
            if msg.metadata.num_delivered > 1:
                metrics.consumer_redelivered(self._sub.durable)
            if not event_id:
                log.error("event_without_id", subject=msg.subject)
                await msg.term()  # cannot be made idempotent: never redeliver
                return
            source = headers.get("ce-source", "")
            if source != et.source:
                reason = f"source {source[:64]!r} does not own the subject"
                await self._refuse(msg, event_id, reason, kind="source")
                return
            try:
                event = ReceivedEvent(
                    id=event_id,
                    type=headers.get("ce-type", msg.subject),
                    source=headers.get("ce-source", ""),
                    subject=headers.get("ce-subject", ""),
                    time=headers.get("ce-time", ""),
                    payload=et.parse(msg.data),
                    delivery=msg.metadata.num_delivered,
                )
                applied = await self._apply(event)
            except EventRefused as refused:
                await self._refuse(msg, event_id, refused.reason, kind=refused.kind)
                return
            except Exception as exc:
                span.record_exception(exc)
                span.set_status(trace.StatusCode.ERROR, type(exc).__name__)
                delivered = msg.metadata.num_delivered
                log.exception("event_failed", event_id=event_id, subject=msg.subject)
                if delivered >= self._max_deliver:
                    # JetStream will not deliver it again: it stays in the stream, and this line
                    # is what an operator replays it from once the cause is fixed.
                    log.error(
                        "event_parked",
                        event_id=event_id,
                        subject=msg.subject,
                        consumer=self._sub.durable,
                        stream_sequence=msg.metadata.sequence.stream,
                    )
                    self.parked += 1
                    metrics.consumer_parked(self._sub.durable)
                    await msg.term()
                    return
                await msg.nak(delay=min(2.0 * delivered, 30.0))
                return
            span.set_attribute("smartcity.duplicate", not applied)
            await msg.ack()

    async def _refuse(self, msg: Msg, event_id: str, reason: str, *, kind: str) -> None:
        """Never apply it, never redeliver it; the warning names the event and the reason."""
        log.warning(
            "event_refused",
            event_id=event_id[:64],
            subject=msg.subject,
            consumer=self._sub.durable,
            reason=reason,
            stream_sequence=msg.metadata.sequence.stream,
        )
        self.refused += 1
        metrics.consumer_refused(self._sub.durable, reason=kind)
        await msg.term()

    async def _apply(self, event: ReceivedEvent[Any]) -> bool:
        """Apply once; False when this consumer had already processed the event."""
        try:
            async with self._db.begin() as conn:
                seen = await conn.scalar(
                    sa.select(processed_events.c.event_id).where(
                        processed_events.c.consumer == self._sub.durable,
                        processed_events.c.event_id == event.id,
                    )
                )
                if seen:
                    self.duplicates += 1
                    return False
                # The handler's own errors (a conflict with a concurrent consumer's row
                # included) fail the event: it is redelivered and applied again.
                await self._sub.handle(conn, event)
                try:
                    await conn.execute(
                        processed_events.insert().values(
                            consumer=self._sub.durable, event_id=event.id, processed_us=now_us()
                        )
                    )
                except IntegrityError:
                    raise _ProcessedElsewhere from None
        except _ProcessedElsewhere:
            # Another replica committed the same event first: its effect stands, ours rolled back.
            self.duplicates += 1
            return False
        self.processed += 1
        return True


async def run_all(consumers: list[Consumer], js: JetStreamContext) -> None:
    await asyncio.gather(*(c.run(js) for c in consumers))
