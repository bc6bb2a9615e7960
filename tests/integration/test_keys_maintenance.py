"""The keys service's scheduled work against real databases: keys past their rotation period get
a new version; keys past their deletion's waiting period lose their material for good; the audit
chain's head is signed, and a checkpoint that no longer matches, or records removed after one,
are caught; key uses are written behind in counted batches with their audit records; demo keys
from an earlier version get their declared policy."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import sqlalchemy as sa

from runtime import algorithms, config
from runtime.auth import Principal, TokenVerifier
from runtime.bus import outbox
from runtime.bus.consumer import ReceivedEvent
from runtime.service import ServiceRuntime
from runtime.storage import Database, Migration, create_tables, now_us
from services.keys import audit, demo, domain, servicer, store, usage
from services.keys.keyring import Keyring
from services.keys.maintenance import ensure_checkpoint_key, maintain
from smartcity.keys.v1 import events_pb2, keys_pb2

pytestmark = pytest.mark.integration
DAY_US = 86400 * 10**6


async def _no_jwks() -> str:
    raise AssertionError("maintenance verifies no token")


@pytest_asyncio.fixture
async def runtime(database_url: str) -> AsyncIterator[ServiceRuntime]:
    db = Database(database_url, service=f"k{uuid.uuid4().hex[:12]}")
    await db.migrate([*outbox.MIGRATIONS, *store.MIGRATIONS, *audit.MIGRATIONS, *usage.MIGRATIONS])
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
            await audit.append(conn, event, record.SerializeToString(), publisher="identity")


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


SIGN, VERIFY = keys_pb2.KEY_OPERATION_SIGN, keys_pb2.KEY_OPERATION_VERIFY
ISSUER = Principal(
    subject="issuer-1",
    audience="office",
    kind="staff",
    department="psb",
    roles=frozenset({"licence_issuer"}),
)
LICENCES = Principal(subject="svc-1", audience="service", kind="service", client="licences")


async def audit_records(rt: ServiceRuntime) -> list[events_pb2.AuditRecord]:
    """The audit records waiting in the outbox, as the chain will receive them."""
    async with rt.db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(outbox.outbox.c.payload)
                .where(outbox.outbox.c.subject == "smartcity.keys.audit.recorded")
                .order_by(outbox.outbox.c.seq)
            )
        ).all()
    return [events_pb2.AuditRecord.FromString(row.payload) for row in rows]


async def test_key_uses_are_written_behind_counted_with_their_audit_records_and_at_stop(
    runtime: ServiceRuntime,
) -> None:
    # given: a writer that would wait an hour
    uses = usage.KeyUsage(runtime, seconds=3600)
    writer = asyncio.create_task(uses.run())
    await asyncio.sleep(0)  # running, as the service's writer is long before it stops
    through_licences = domain.key_call(LICENCES, ISSUER)
    # when: the licences service signs for an issuer three times and a batch of fifty, the
    # issuer is refused once, and the service verifies for itself with another key
    for _ in range(3):
        uses.used("psb.k", 1, SIGN, through_licences)
    uses.used("psb.k", 1, SIGN, through_licences, count=50)
    uses.denied("psb.k", SIGN, domain.key_call(ISSUER), domain.RULE_SERVICES)
    uses.used("other.k", 2, VERIFY, domain.key_call(LICENCES))
    # then: the calls wrote nothing themselves
    async with runtime.db.read() as conn:
        found, _ = await usage.list_usage(conn, key="psb.k", actor_id="", after=0, limit=10)
    assert found == []
    # and: when the service stops, the counts are written, one row per actor and outcome
    writer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await writer
    async with runtime.db.read() as conn:
        found, after = await usage.list_usage(conn, key="psb.k", actor_id="", after=0, limit=10)
        mine, _ = await usage.list_usage(conn, key="other.k", actor_id="svc-1", after=0, limit=10)
    assert after is None
    counted = {
        (u.operation, u.outcome, u.service, u.actor_id, u.key_version): u.count for u in found
    }
    assert counted == {
        ("sign", "succeeded", "licences", "issuer-1", 1): 53,
        ("sign", "denied", "", "issuer-1", 0): 1,
    }
    denied = next(u for u in found if u.outcome == "denied")
    assert denied.denied_by == "policy.services" and list(denied.actor_roles) == ["licence_issuer"]
    assert all(
        u.window_start_time.ToNanoseconds() <= u.window_end_time.ToNanoseconds() for u in found
    )
    assert [(u.operation, u.count, u.actor_type) for u in mine] == [("verify", 1, "service")]
    # with the same counts as audit records, committed with them
    records = await audit_records(runtime)
    assert {r.action for r in records} == {"keys.key.used"}
    totals: Counter[tuple[str, str, str]] = Counter()
    for record in records:
        assert record.key_usage.key == record.resource_id and record.resource_type == "key"
        totals[(record.resource_id, record.actor_id, record.outcome)] += record.key_usage.count
    assert totals == {
        ("psb.k", "issuer-1", "succeeded"): 53,
        ("psb.k", "issuer-1", "denied"): 1,
        ("other.k", "svc-1", "succeeded"): 1,
    }


async def test_demo_keys_made_by_an_earlier_version_get_their_declared_policy(
    database_url: str,
) -> None:
    # given: a database of an earlier version: no policy services, psb's issuers sign directly
    db = Database(database_url, service=f"k{uuid.uuid4().hex[:12]}")
    earlier = sa.Table(
        "keys",
        sa.MetaData(),
        *(
            sa.Column(
                c.name,
                c.type,
                primary_key=c.primary_key,
                nullable=c.nullable,
                unique=c.unique,
                autoincrement=c.autoincrement,
            )
            for c in store.keys.columns
            if c.name != "services"
        ),
    )
    first = Migration("keys-0001-keys-and-versions", create_tables(earlier, store.key_versions))
    await db.migrate([*outbox.MIGRATIONS, first])
    await db.migrate([*outbox.MIGRATIONS, *store.MIGRATIONS, *audit.MIGRATIONS])
    settings = config.load({"SMARTCITY_DATA_DIR": "unused"})
    rt = ServiceRuntime(
        name="keys", settings=settings, db=db, verifier=TokenVerifier(_no_jwks, issuer="x")
    )
    try:
        keyring = Keyring(db, master_key=os.urandom(16))
        old = keys_pb2.Key(
            name="psb.licence-signing",
            purpose=keys_pb2.KEY_PURPOSE_SIGN,
            policy=keys_pb2.KeyPolicy(
                grants=[
                    keys_pb2.KeyGrant(
                        departments=["psb"], roles=["licence_issuer"], operations=[SIGN, VERIFY]
                    )
                ]
            ),
        )
        key = domain.new_key(old, owner_department="psb")
        assert await servicer.create(rt, keyring, key, by=None)
        domain.authorise(await keyring.key(key.name), domain.key_call(ISSUER), SIGN)
        # when: the demo seeds its keys at start
        await demo.seed(rt, keyring)
        # then: the key is used only through the licences service, for psb's issuers
        updated = await keyring.key(key.name)
        assert updated.services == {"licences"}
        with pytest.raises(domain.KeyPolicyDenied):
            domain.authorise(updated, domain.key_call(ISSUER), SIGN)
        domain.authorise(updated, domain.key_call(LICENCES, ISSUER), SIGN)
        # and the change is audited as the service's own
        changes = [r for r in await audit_records(rt) if r.action == "keys.key.updated"]
        assert [(r.resource_id, r.actor_type) for r in changes] == [(key.name, "system")]
        # a second start changes nothing
        await demo.seed(rt, keyring)
        assert len([r for r in await audit_records(rt) if r.action == "keys.key.updated"]) == 1
    finally:
        if not db.is_sqlite:
            async with db.begin() as conn:
                await conn.exec_driver_sql(f'DROP SCHEMA "{db.service}" CASCADE')
        await db.close()
