"""The keys service's scheduled work against real databases: keys past their rotation period get
a new version; keys past their deletion's waiting period lose their material for good; the audit
chain's head is signed, and a checkpoint that no longer matches, or records removed after one,
are caught."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import sqlalchemy as sa

from runtime import config
from runtime.auth import TokenVerifier
from runtime.bus import outbox
from runtime.bus.consumer import ReceivedEvent
from runtime.service import ServiceRuntime
from runtime.storage import Database, now_us
from services.keys import algorithms, audit, domain, store
from services.keys.__main__ import ensure_checkpoint_key, maintain
from services.keys.keyring import Keyring
from smartcity.keys.v1 import events_pb2, keys_pb2

pytestmark = pytest.mark.integration
DAY_US = 86400 * 10**6


async def _no_jwks() -> str:
    raise AssertionError("maintenance verifies no token")


@pytest_asyncio.fixture
async def runtime(database_url: str) -> AsyncIterator[ServiceRuntime]:
    db = Database(database_url, service=f"k{uuid.uuid4().hex[:12]}")
    await db.migrate([*outbox.MIGRATIONS, *store.MIGRATIONS, *audit.MIGRATIONS])
    settings = config.load({"SMARTCITY_DATA_DIR": "unused"})
    yield ServiceRuntime(
        name="keys",
        settings=settings,
        db=db,
        verifier=TokenVerifier(_no_jwks, issuer=settings.issuer),
    )
    if not db.is_sqlite:
        async with db.begin() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA "{db.service}" CASCADE')
    await db.close()


async def add_key(rt: ServiceRuntime, keyring: Keyring, name: str, *, days: int) -> None:
    key = domain.new_key(
        keys_pb2.Key(
            name=name,
            purpose=keys_pb2.KEY_PURPOSE_ENCRYPT,
            rotation_period_days=days,
            policy=keys_pb2.KeyPolicy(
                grants=[
                    keys_pb2.KeyGrant(
                        services=["exchange"], operations=[keys_pb2.KEY_OPERATION_ENCRYPT]
                    )
                ]
            ),
        ),
        owner_department="bdb",
    )
    material = algorithms.generate(key.algorithm)
    async with rt.db.begin() as conn:
        await store.add_key(conn, key, created_by="test")
        await store.add_version(
            conn, name=name, version=1, sealed=keyring.seal(name, 1, material), public_key_pem=None
        )


async def test_due_keys_rotate_and_due_deletions_destroy_the_material(
    runtime: ServiceRuntime,
) -> None:
    keyring = Keyring(runtime.db, master_key=os.urandom(16))
    for name, days in (("old", 30), ("young", 30), ("manual", 0), ("doomed", 0)):
        await add_key(runtime, keyring, name, days=days)
    async with runtime.db.begin() as conn:
        # "old" was last rotated 31 days ago; "doomed" waited out its deletion
        await conn.execute(
            store.key_versions.update()
            .where(store.key_versions.c.name == "old")
            .values(created_us=now_us() - 31 * DAY_US)
        )
        await store.update_key(
            conn, "doomed", state=domain.PENDING_DELETION, delete_after_us=now_us() - 1
        )
    # when maintenance runs
    await maintain(runtime, keyring)
    # then only the due key rotated, and the doomed key's material is gone
    async with runtime.db.read() as conn:
        latest = {n: (await store.get_key(conn, n)).latest_version for n in ("old", "young")}
        doomed = await store.get_key(conn, "doomed")
        doomed_row = await store.version_row(conn, "doomed", 1)
        manual = await store.get_key(conn, "manual")
    assert latest == {"old": 2, "young": 1}
    assert manual is not None and manual.latest_version == 1
    assert doomed is not None and doomed.state == domain.DELETED
    assert doomed_row is not None and doomed_row.material_sealed == b""
    # and a second round finds nothing more to do
    await maintain(runtime, keyring)
    async with runtime.db.read() as conn:
        assert (await store.get_key(conn, "old")).latest_version == 2


async def append_records(rt: ServiceRuntime, count: int) -> None:
    for i in range(count):
        record = events_pb2.AuditRecord(
            service="identity",
            action="identity.account.disabled",
            actor_id="admin-1",
            resource_type="account",
            resource_id=f"acc-{i}",
            outcome="succeeded",
        )
        event = ReceivedEvent(str(uuid.uuid4()), "t", "/test", f"acc-{i}", "", record, 1)
        async with rt.db.begin() as conn:
            await audit.append(conn, event, record.SerializeToString())


async def test_checkpoints_sign_the_head_and_catch_a_rewritten_or_shortened_chain(
    runtime: ServiceRuntime,
) -> None:
    keyring = Keyring(runtime.db, master_key=os.urandom(16))
    await ensure_checkpoint_key(runtime, keyring)
    await append_records(runtime, 5)
    assert await audit.sign_checkpoint(runtime.db, keyring) == 5
    assert await audit.sign_checkpoint(runtime.db, keyring) is None  # the head did not move
    await append_records(runtime, 2)
    verdict = await audit.verify_chain(runtime.db)
    assert verdict.intact and verdict.records == 7 and verdict.checkpoints == 1
    # a forged checkpoint signature is caught at its record
    async with runtime.db.begin() as conn:
        (signature,) = (await conn.execute(sa.select(audit.checkpoints.c.signature))).one()
        forged = signature[:-4] + ("AAAA" if not signature.endswith("AAAA") else "BBBB")
        await conn.execute(audit.checkpoints.update().values(signature=forged))
    verdict = await audit.verify_chain(runtime.db)
    assert not verdict.intact and verdict.first_broken == 5
    assert "checkpoint" in verdict.problem
    async with runtime.db.begin() as conn:
        await conn.execute(audit.checkpoints.update().values(signature=signature))
    # records removed after a checkpoint (the chain cut short) are caught too
    async with runtime.db.begin() as conn:
        await conn.execute(audit.chain.delete().where(audit.chain.c.sequence >= 5))
    verdict = await audit.verify_chain(runtime.db)
    assert not verdict.intact and verdict.first_broken == 5
    assert "removed" in verdict.problem
