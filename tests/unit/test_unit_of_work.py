"""A unit of work commits a change, its events and its audit records together, and wakes the
relay only after the commit: a failure rolls all of them back and wakes nobody."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import sqlalchemy as sa

from runtime import audit
from runtime.bus import contracts
from runtime.bus.outbox import MIGRATIONS, outbox
from runtime.storage import Database
from runtime.unit_of_work import unit_of_work
from smartcity.keys.v1 import events_pb2

KEY_CREATED = next(e for e in contracts.published("keys") if e.subject.endswith("key.created"))


@pytest_asyncio.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}", service="keys")
    await database.migrate(MIGRATIONS)
    yield database
    await database.close()


async def _subjects(db: Database) -> list[str]:
    async with db.read() as conn:
        rows = await conn.execute(sa.select(outbox.c.subject).order_by(outbox.c.subject))
        return [str(r.subject) for r in rows]


async def test_the_change_its_event_and_its_audit_record_commit_together(db: Database) -> None:
    wakes: list[str] = []
    # when a unit of work announces a change and audits it
    async with unit_of_work(db, service="keys", committed=lambda: wakes.append("woken")) as uow:
        await uow.publish(
            KEY_CREATED, events_pb2.KeyCreated(name="psb.k", algorithm="sm2"), entity_id="psb.k"
        )
        await uow.audit("keys.key.created", principal=None, resource_type="key", resource_id="k")
        assert wakes == []  # not before the commit
    # then both rows are in the outbox, and the relay was woken once, after the commit
    assert sorted(await _subjects(db)) == sorted(
        [KEY_CREATED.subject, audit.event_type("keys").subject]
    )
    assert wakes == ["woken"]


async def test_a_failure_rolls_back_everything_and_wakes_nobody(db: Database) -> None:
    wakes: list[str] = []
    with pytest.raises(RuntimeError, match="refused"):
        async with unit_of_work(db, service="keys", committed=lambda: wakes.append("woken")) as uow:
            await uow.audit(
                "keys.key.created", principal=None, resource_type="key", resource_id="k"
            )
            raise RuntimeError("refused")
    assert await _subjects(db) == []
    assert wakes == []
