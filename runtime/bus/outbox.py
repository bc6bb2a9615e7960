"""The transactional outbox: a state change and the event announcing it commit together.

`enqueue` writes the event into the service's own `outbox` table inside the caller's transaction,
with the request's trace context. `OutboxRelay` publishes pending rows to JetStream in batches,
awaiting the acks together, with `Nats-Msg-Id` = event id so that a re-publish after a crash is
dropped by the stream's duplicate window; rows are deleted once the stream has acknowledged them.
`watch_backlog` reads how many rows wait and how old the oldest is, for the metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from opentelemetry import trace
from sqlalchemy.ext.asyncio import AsyncConnection

from runtime import faults, logs, metrics, telemetry
from runtime.bus.events import EventType, M, cloudevent_headers
from runtime.storage import SEQUENCE, Database, Migration, create_tables, now_us

if TYPE_CHECKING:
    from nats.js import JetStreamContext


log = logs.get(__name__)

metadata = sa.MetaData()
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("seq", SEQUENCE, primary_key=True),
    sa.Column("event_id", sa.String(36), nullable=False, unique=True),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("entity_id", sa.String(200), nullable=False),
    sa.Column("content_type", sa.String(200), nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("traceparent", sa.String(64)),
    sa.Column("created_us", sa.BigInteger, nullable=False),
)

MIGRATIONS = [Migration("bus-0001-outbox", create_tables(outbox))]


async def enqueue(
    conn: AsyncConnection, event_type: EventType[M], payload: M, *, entity_id: str
) -> str:
    """Add an event to the outbox in the caller's transaction; return its id."""
    event_id = str(uuid.uuid4())
    await conn.execute(
        outbox.insert().values(
            event_id=event_id,
            subject=event_type.subject,
            entity_id=entity_id,
            content_type=event_type.content_type,
            payload=payload.SerializeToString(),
            traceparent=telemetry.current_traceparent(),
            created_us=now_us(),
        )
    )
    return event_id


class OutboxRelay:
    """Publishes the outbox to JetStream; woken after each commit, and polling as a safety net."""

    def __init__(
        self,
        db: Database,
        *,
        source: str,
        batch_size: int = 256,
        poll_seconds: float = 1.0,
        stall_seconds: float = 0.0,
        stall_every: float = faults.STALL_EVERY_SECONDS,
    ) -> None:
        self._db = db
        self._source = source
        self._batch = batch_size
        self._poll = poll_seconds
        self._wake = asyncio.Event()
        self.published = 0
        # `nats:stall` of SMARTCITY_FAULTS (runtime.faults): 0, the default, never stalls.
        self._stall = stall_seconds
        self._stall_every = stall_every
        self._next_stall = time.monotonic() + stall_every

    def notify(self) -> None:
        """Call after a commit that enqueued events, to publish them without waiting for a poll."""
        self._wake.set()

    async def run(self, js: JetStreamContext) -> None:
        """Publish until cancelled; a failed batch is retried (the rows stay until acked)."""
        backoff = 0.1
        while True:
            # cleared before reading: a commit during the batch's publish wakes the next round
            # at once, rather than after the poll (bench/README.md, partners)
            self._wake.clear()
            if self._stall and time.monotonic() >= self._next_stall:
                await faults.stall_nats(self._stall, service=self._source.rpartition("/")[2])
                self._next_stall = time.monotonic() + self._stall_every
            try:
                sent = await self.publish_pending(js)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS down or timing out: keep the rows, retry later
                log.warning("outbox_publish_failed", error=type(exc).__name__, retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if sent == self._batch:
                continue  # more waiting: no sleep
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll)

    async def backlog(self) -> tuple[int, int | None]:
        """How many events wait, and when the oldest was committed (µs since the epoch)."""
        query = sa.select(sa.func.count(), sa.func.min(outbox.c.created_us)).select_from(outbox)
        async with self._db.read() as reader:
            row: Any = (await reader.execute(query)).one()
        pending, oldest = row
        return int(pending), None if oldest is None else int(oldest)

    async def watch_backlog(self, *, interval: float = metrics.POLL_SECONDS) -> None:
        """Keep the outbox gauges current until cancelled; runs while NATS is down too, which is
        when the backlog grows."""
        while True:
            try:
                metrics.outbox_backlog(*await self.backlog())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox_backlog_unread", error=type(exc).__name__)
            await asyncio.sleep(interval)

    async def publish_pending(self, js: JetStreamContext) -> int:
        """Publish one batch; return how many rows it held."""
        batch = sa.select(outbox).order_by(outbox.c.seq).limit(self._batch)
        if self._db.is_sqlite:
            # One process per SQLite file: no other relay to share with, and no write lock
            # held while waiting for NATS.
            async with self._db.read() as reader:
                rows = (await reader.execute(batch)).all()
            if rows:
                await self._send_and_delete(js, rows)
            return len(rows)
        # Replicas share the outbox: each claims rows the others have not locked, and holds
        # them until the stream has acknowledged them.
        async with self._db.begin() as conn:
            rows = (await conn.execute(batch.with_for_update(skip_locked=True))).all()
            if rows:
                await self._send_and_delete(js, rows, conn=conn)
        return len(rows)

    async def _send_and_delete(
        self, js: JetStreamContext, rows: Sequence[Any], *, conn: AsyncConnection | None = None
    ) -> None:
        await asyncio.gather(*(self._publish(js, row) for row in rows))
        # Exactly the rows sent: a lower seq may commit later than a higher one (PostgreSQL).
        delete = outbox.delete().where(outbox.c.seq.in_([r.seq for r in rows]))
        if conn is not None:
            await conn.execute(delete)
        else:
            async with self._db.begin() as own:
                await own.execute(delete)
        self.published += len(rows)
        metrics.outbox_published(len(rows))

    async def _publish(self, js: JetStreamContext, row: Any) -> None:
        parent = telemetry.extract({"traceparent": row.traceparent} if row.traceparent else {})
        with telemetry.tracer().start_as_current_span(
            f"publish {row.subject}",
            context=parent,
            kind=trace.SpanKind.PRODUCER,
            attributes={
                "messaging.system": "nats",
                "messaging.destination.name": row.subject,
                "messaging.message.id": row.event_id,
            },
        ):
            headers = cloudevent_headers(
                event_id=row.event_id,
                subject=row.subject,
                source=self._source,
                entity_id=row.entity_id,
                time_us=row.created_us,
                content_type=row.content_type,
            )
            telemetry.inject(headers)
            await js.publish(row.subject, row.payload, timeout=5.0, headers=headers)
