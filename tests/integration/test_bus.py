"""The bus against a real nats-server and real databases: outbox, relay, idempotent consumers."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import nats
import pytest
import pytest_asyncio
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from conftest import NatsServer, eventually
from runtime.bus import consumer as bus_consumer
from runtime.bus import outbox as bus_outbox
from runtime.bus.consumer import Consumer, EventRefused, ReceivedEvent, Subscription
from runtime.bus.events import EventType, cloudevent_headers
from runtime.bus.nats import ensure_stream
from runtime.bus.outbox import OutboxRelay, enqueue
from runtime.storage import Database, Migration, create_tables
from smartcity.catalog.v1 import events_pb2

pytestmark = pytest.mark.integration

effects = sa.Table(
    "effects",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("resource_id", sa.String(36), nullable=False),
)


@pytest_asyncio.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    # A fresh schema (PostgreSQL) or file (SQLite) per test: the service name is the schema.
    service = f"t{uuid.uuid4().hex[:12]}"
    database = Database(database_url, service=service)
    await database.migrate(
        [
            *bus_outbox.MIGRATIONS,
            *bus_consumer.MIGRATIONS,
            Migration("test-0001-effects", create_tables(effects)),
        ]
    )
    yield database
    if not database.is_sqlite:
        async with database.begin() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA "{service}" CASCADE')
    await database.close()


def unique_event_type() -> EventType[events_pb2.ResourceCreated]:
    # A subject of its own per test, inside the catalog stream, so tests cannot see each other.
    return EventType(
        f"smartcity.catalog.test{uuid.uuid4().hex[:8]}.created", events_pb2.ResourceCreated
    )


@contextlib.asynccontextmanager
async def running(
    nats_server: NatsServer, work: Callable[[Any], Awaitable[None]]
) -> AsyncIterator[Any]:
    """JetStream with the catalog stream, and `work(js)` (a consumer or relay) running on it."""
    nc = await nats_server.connect(max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = nc.jetstream()
    await ensure_stream(js, "catalog")
    task = asyncio.create_task(work(js))
    try:
        yield js
    finally:
        # Bounded: a pull in flight or a connection that cannot close must not hang the suite.
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, timeout=5)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(nc.close(), timeout=5)


async def count_rows(db: Database, table: sa.Table) -> int:
    async with db.read() as conn:
        return int(await conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


async def test_migrations_apply_once(db: Database) -> None:
    again = await db.migrate([*bus_outbox.MIGRATIONS, *bus_consumer.MIGRATIONS])
    assert again == []


async def test_redelivered_event_has_no_second_effect(
    db: Database, nats_server: NatsServer
) -> None:
    et = unique_event_type()
    calls = 0

    async def handle(conn: AsyncConnection, event: ReceivedEvent) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("first attempt fails: the message must come back")
        await conn.execute(effects.insert().values(resource_id=event.payload.resource_id))

    consumer = Consumer(db, Subscription(f"test-{uuid.uuid4().hex[:8]}", et, handle))
    async with running(nats_server, consumer.run) as js:
        event_id = str(uuid.uuid4())
        payload = events_pb2.ResourceCreated(resource_id="r-1", version=1).SerializeToString()
        for attempt in range(2):
            # the same event published twice, past the stream's deduplication (new Nats-Msg-Id)
            headers = cloudevent_headers(
                event_id=event_id,
                subject=et.subject,
                source="/smartcity/catalog",
                entity_id="r-1",
                time_us=0,
                content_type=et.content_type,
            )
            headers["Nats-Msg-Id"] = f"{event_id}-{attempt}"
            await js.publish(et.subject, payload, headers=headers)

        async def settled() -> bool:
            return consumer.processed == 1 and consumer.duplicates == 1

        await eventually(settled, timeout=20)
        assert await count_rows(db, effects) == 1
        assert calls == 2  # the failed first attempt, then one success; the duplicate is skipped


async def test_outbox_publishes_what_was_committed_while_nats_was_down(
    db: Database, nats_server: NatsServer
) -> None:
    et = unique_event_type()
    relay = OutboxRelay(db, source="/smartcity/catalog", poll_seconds=0.2)
    async with running(nats_server, relay.run) as js:
        nats_server.kill()
        await nats_server.supervisor.wait_exit("nats")
        # writes keep being accepted: the events wait in the outbox
        for i in range(5):
            async with db.begin() as conn:
                await enqueue(
                    conn, et, events_pb2.ResourceCreated(resource_id=f"r-{i}"), entity_id=f"r-{i}"
                )
            relay.notify()
        await asyncio.sleep(0.5)
        assert relay.published == 0
        await nats_server.restart()

        async def delivered() -> bool:
            return relay.published == 5

        await eventually(delivered, timeout=30)
        sub = await js.subscribe(et.subject, deliver_policy=nats.js.api.DeliverPolicy.ALL)
        ids = []
        for _ in range(5):
            msg = await sub.next_msg(timeout=5)
            ids.append(et.parse(msg.data).resource_id)
            assert msg.headers["ce-type"] == et.subject and msg.headers["ce-specversion"] == "1.0"
        assert ids == [f"r-{i}" for i in range(5)]  # in commit order
        with pytest.raises(nats.errors.TimeoutError):
            await sub.next_msg(timeout=0.5)  # and nothing twice
        assert await count_rows(db, bus_outbox.outbox) == 0


async def test_an_event_not_from_its_subjects_owner_or_refused_by_its_handler_is_terminated(
    db: Database, nats_server: NatsServer
) -> None:
    et = unique_event_type()  # a catalog subject: /smartcity/catalog owns it

    async def handle(conn: AsyncConnection, event: ReceivedEvent) -> None:
        if event.payload.resource_id == "refused":
            raise EventRefused("a record its handler will never apply")
        await conn.execute(effects.insert().values(resource_id=event.payload.resource_id))

    durable = f"test-{uuid.uuid4().hex[:8]}"
    consumer = Consumer(db, Subscription(durable, et, handle))
    async with running(nats_server, consumer.run) as js:
        for resource_id, source in (
            ("forged", "/smartcity/licences"),
            ("unsourced", ""),
            ("refused", "/smartcity/catalog"),
            ("genuine", "/smartcity/catalog"),
        ):
            headers = cloudevent_headers(
                event_id=str(uuid.uuid4()),
                subject=et.subject,
                source=source,
                entity_id=resource_id,
                time_us=0,
                content_type=et.content_type,
            )
            payload = events_pb2.ResourceCreated(resource_id=resource_id).SerializeToString()
            await js.publish(et.subject, payload, headers=headers)

        async def settled() -> bool:
            return consumer.processed == 1 and consumer.refused == 3

        await eventually(settled, timeout=20)
        async with db.read() as conn:
            applied = (await conn.execute(sa.select(effects.c.resource_id))).scalars().all()
        assert applied == ["genuine"]
        # terminated, not left to come back: nothing is pending on the consumer
        info = await js.consumer_info("CATALOG", durable)
        assert info.num_ack_pending == 0 and info.num_pending == 0


async def test_an_event_that_keeps_failing_is_parked_after_the_last_delivery(
    db: Database, nats_server: NatsServer
) -> None:
    et = unique_event_type()
    attempts = 0

    async def handle(conn: AsyncConnection, event: ReceivedEvent) -> None:
        nonlocal attempts
        attempts += 1
        raise RuntimeError("a bug in the handler")

    consumer = Consumer(db, Subscription(f"test-{uuid.uuid4().hex[:8]}", et, handle), max_deliver=2)
    async with running(nats_server, consumer.run) as js:
        event_id = str(uuid.uuid4())
        headers = cloudevent_headers(
            event_id=event_id,
            subject=et.subject,
            source="/smartcity/catalog",
            entity_id="r-1",
            time_us=0,
            content_type=et.content_type,
        )
        await js.publish(et.subject, b"", headers=headers)

        async def parked() -> bool:
            return consumer.parked == 1

        await eventually(parked, timeout=20)
        await asyncio.sleep(3)  # longer than the redelivery delay: nothing comes back
        assert attempts == 2 and consumer.processed == 0
        assert await count_rows(db, effects) == 0
        # the event itself is still in the stream, to be replayed once the handler is fixed
        info = await js.stream_info("CATALOG", subjects_filter=et.subject)
        assert info.state.subjects == {et.subject: 1}


async def test_two_relays_on_one_postgresql_outbox_publish_each_event_once(
    db: Database, nats_server: NatsServer
) -> None:
    if db.is_sqlite:
        pytest.skip("one process per SQLite file: relays never share an outbox there")
    et = unique_event_type()
    for i in range(60):
        async with db.begin() as conn:
            await enqueue(conn, et, events_pb2.ResourceCreated(resource_id=f"r-{i}"), entity_id="x")
    first = OutboxRelay(db, source="/smartcity/catalog", batch_size=5, poll_seconds=0.1)
    second = OutboxRelay(db, source="/smartcity/catalog", batch_size=5, poll_seconds=0.1)
    async with running(nats_server, first.run), running(nats_server, second.run):

        async def drained() -> bool:
            return await count_rows(db, bus_outbox.outbox) == 0

        await eventually(drained, timeout=30)
    # each row was claimed by one relay only: nothing was sent twice
    assert first.published + second.published == 60
