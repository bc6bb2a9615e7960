"""The services' stores on SQLite and, when it answers, PostgreSQL: one code path, two engines."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
import pytest_asyncio
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from runtime.storage import Database, Migration, create_tables, now_us
from services.catalog import domain, search
from services.catalog import store as catalog_store
from services.catalog.demo import DEMO_RESOURCES
from services.exchange import store as exchange_store
from services.identity import store as identity_store
from services.identity.domain import Account
from services.licences import store as licences_store
from smartcity.catalog.v1 import events_pb2

pytestmark = pytest.mark.integration


async def open_db(url: str, migrations: Sequence[Migration]) -> Database:
    db = Database(url, service=f"t{uuid.uuid4().hex[:12]}")
    await db.migrate(migrations)
    return db


async def drop(db: Database) -> None:
    if not db.is_sqlite:
        async with db.begin() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA "{db.service}" CASCADE')
    await db.close()


@pytest_asyncio.fixture
async def catalog_db(database_url: str) -> AsyncIterator[Database]:
    db = await open_db(database_url, catalog_store.MIGRATIONS)
    yield db
    await drop(db)


async def test_catalog_store_round_trips_a_resource_and_pages_in_order(
    catalog_db: Database,
) -> None:
    ids = []
    for i, (demo, _, _) in enumerate(DEMO_RESOURCES):
        async with catalog_db.begin() as conn:
            code = await catalog_store.next_code(conn, demo.classification)
            created = await catalog_store.insert_resource(
                conn, demo, resource_id=f"r{i}", code=code, created_by="tester", request_id=f"k{i}"
            )
        ids.append(created.id)
        assert created.data_items == demo.data_items and created.version == 1
        assert created.create_time.seconds > 0 and created.state == domain.DRAFT
        assert created.code == domain.resource_code(demo.classification, 1)
    async with catalog_db.read() as conn:
        assert (await catalog_store.get_resource(conn, "r1")).name == DEMO_RESOURCES[1][0].name
        assert (await catalog_store.find_by_request_id(conn, "k2")).id == "r2"
        first, after = await catalog_store.list_resources(
            conn, after_seq=0, limit=2, departments=None
        )
        rest, end = await catalog_store.list_resources(
            conn, after_seq=after or 0, limit=2, departments=None
        )
        only_psb, _ = await catalog_store.list_resources(
            conn, after_seq=0, limit=10, departments=("psb", "msa"), provider_department="psb"
        )
        none_seen, _ = await catalog_store.list_resources(
            conn, after_seq=0, limit=10, departments=("hrss",), provider_department="psb"
        )
    assert [r.id for r in first + rest] == ids and end is None
    assert [r.provider_department for r in only_psb] == ["psb"] and none_seen == []


async def test_catalog_codes_are_unique_and_follow_the_classification(
    catalog_db: Database,
) -> None:
    demo = DEMO_RESOURCES[0][0]
    async with catalog_db.begin() as conn:
        first = await catalog_store.next_code(conn, demo.classification)
        await catalog_store.insert_resource(
            conn, demo, resource_id="a", code=first, created_by="t", request_id=None
        )
        assert await catalog_store.next_code(conn, demo.classification) == first[:-1] + "2"
    with pytest.raises(IntegrityError):
        async with catalog_db.begin() as conn:
            await catalog_store.insert_resource(
                conn, demo, resource_id="b", code=first, created_by="t", request_id=None
            )


async def test_catalog_search_finds_chinese_and_latin_text_on_both_engines(
    catalog_db: Database,
) -> None:
    # given two listed resources, one open
    listed = []
    for i, (demo, _, open_) in enumerate(DEMO_RESOURCES[:2]):
        async with catalog_db.begin() as conn:
            created = await catalog_store.insert_resource(
                conn,
                demo,
                resource_id=f"s{i}",
                code=await catalog_store.next_code(conn, demo.classification),
                created_by="t",
                request_id=None,
            )
            created.in_share_catalog, created.in_open_catalog = True, open_
            await catalog_store.list_entry(conn, created, published_us=1_000 + i)
        listed.append(created)

    async def found(query: str, *, open_catalog: bool = False, **narrow: Any) -> list[str]:
        where = catalog_store.CatalogFilter(
            open_catalog=open_catalog, terms=search.query_terms(query), **narrow
        )
        async with catalog_db.read() as conn:
            page, _ = await catalog_store.search_entries(conn, where, after=None, limit=10)
        return [r.id for r in page]

    vehicles, cards = (r.id for r in listed)
    assert await found("机动车") == [vehicles]
    assert await found("车") == [vehicles]  # one character: a prefix of the bigrams
    assert await found("社会保障卡") == [cards]
    assert await found("vehic") == [vehicles]  # an English prefix
    assert await found("") == [cards, vehicles]  # newest first
    assert await found("机动车", open_catalog=True) == []  # not open
    assert await found("统计", open_catalog=True) == [cards]
    assert await found("统计", provider_department="psb") == []
    assert await found("", classification="2") == [cards]
    assert await found("'; DROP TABLE search_terms; --") == []
    # and unlisting removes the entry and its terms
    async with catalog_db.begin() as conn:
        await catalog_store.unlist_entry(conn, await catalog_store.resource_seq(conn, vehicles))
    assert await found("机动车") == []


async def test_catalog_migration_keeps_resources_registered_before_the_lifecycle(
    database_url: str,
) -> None:
    # given a database at the walking skeleton's schema, holding one resource
    old = sa.Table(
        "resources",
        sa.MetaData(),
        *[c._copy() for c in catalog_store.resources.columns if c.name in _SKELETON_COLUMNS],
    )
    skeleton = [Migration("catalog-0001-resources", lambda conn: old.create(conn))]
    db = await open_db(database_url, skeleton)
    try:
        async with db.begin() as conn:
            await conn.execute(
                old.insert().values(
                    id="old-1",
                    code="PSB-0001",
                    name="Motor vehicle registrations",
                    provider_department="psb",
                    summary="",
                    share_type=2,
                    open_type=3,
                    update_cycle=2,
                    data_grade=3,
                    data_items=[
                        {
                            "name": "plate",
                            "type": "string",
                            "description": "",
                            "personal": False,
                            "grade": 0,
                        }
                    ],
                    version=1,
                    created_by="u",
                    created_us=1,
                    updated_us=1,
                )
            )
        # when the catalog's migrations run
        await db.migrate(catalog_store.MIGRATIONS)
        # then the resource is a draft with its content and code kept
        async with db.read() as conn:
            kept = await catalog_store.get_resource(conn, "old-1")
        assert kept is not None and kept.state == domain.DRAFT and kept.code == "PSB-0001"
        assert kept.name == "Motor vehicle registrations" and kept.data_items[0].name == "plate"
    finally:
        await drop(db)


_SKELETON_COLUMNS = {
    "seq",
    "id",
    "code",
    "name",
    "provider_department",
    "summary",
    "share_type",
    "open_type",
    "update_cycle",
    "data_grade",
    "data_items",
    "version",
    "created_by",
    "request_id",
    "created_us",
    "updated_us",
}


async def test_exchange_read_model_keeps_the_newest_version(database_url: str) -> None:
    db = await open_db(database_url, exchange_store.MIGRATIONS)
    try:
        for version in (2, 1, 3, 3):
            async with db.begin() as conn:
                await exchange_store.learn_resource(
                    conn,
                    events_pb2.ResourceCreated(
                        resource_id="r",
                        code=f"C-{version}",
                        provider_department="psb",
                        version=version,
                    ),
                )
        async with db.read() as conn:
            page, after = await exchange_store.list_resources(
                conn, after_seq=0, limit=10, department=None
            )
        assert [(r.code, r.version) for r in page] == [("C-3", 3)] and after is None
    finally:
        await drop(db)


# --- identity ----------------------------------------------------------------------------------

OFFICER = Account(
    id="a1",
    username="x.officer",
    kind="staff",
    department="psb",
    roles=("catalog_officer",),
    created_us=1_000,
)


@pytest_asyncio.fixture
async def identity_db(database_url: str) -> AsyncIterator[Database]:
    db = await open_db(database_url, identity_store.MIGRATIONS)
    yield db
    await drop(db)


async def add_key(conn: AsyncConnection, kid: str) -> None:
    await identity_store.add_signing_key(
        conn,
        kid=kid,
        algorithm="EdDSA",
        sealed=b"\x01sealed",
        public_jwk={"kty": "OKP", "kid": kid},
    )


async def test_identity_store_finds_accounts_and_public_keys(identity_db: Database) -> None:
    async with identity_db.begin() as conn:
        await identity_store.add_account(conn, OFFICER, password_hash="h")
        await add_key(conn, "k1")
    async with identity_db.read() as conn:
        row = await identity_store.account_row(conn, username="x.officer")
        assert row is not None and row.password_hash == "h"
        # a new account reads back active, with no second factor and no failed sign-ins
        assert identity_store.account_from_row(row) == OFFICER
        assert await identity_store.account_row(conn, username="nobody") is None
        assert await identity_store.get_account(conn, "a1") == OFFICER
        assert await identity_store.get_account(conn, "a2") is None
        assert await identity_store.username_exists(conn, "x.officer")
        assert await identity_store.public_jwks(conn) == [{"kty": "OKP", "kid": "k1"}]
        active = await identity_store.active_signing_key(conn)
        assert active is not None and active.kid == "k1"


async def test_identity_store_ends_the_sessions_of_an_account_or_of_an_enterprise(
    identity_db: Database,
) -> None:
    # given open sessions of two accounts, some acting for enterprises, and one already ended
    far = now_us() + 3600 * 10**6
    sessions = [
        ("s1", "a1", ""),
        ("s2", "a1", "e1"),
        ("s3", "a1", "e2"),
        ("s4", "a2", "e1"),
        ("s5", "a2", ""),
        ("s6", "a1", ""),
    ]
    async with identity_db.begin() as conn:
        for sid, account_id, enterprise_id in sessions:
            await identity_store.add_session(
                conn,
                id=sid,
                account_id=account_id,
                audience="public",
                enterprise_id=enterprise_id,
                expires_us=far,
            )
        assert await identity_store.end_sessions(
            conn, account_id="a1", session_id="s6", reason="logout"
        ) == ["s6"]

    async def ended() -> dict[str, str | None]:
        async with identity_db.read() as conn:
            rows = [await identity_store.session_row(conn, sid) for sid, _, _ in sessions]
        return {r.id: r.end_reason for r in rows if r is not None and r.ended_us is not None}

    # when an agent's authority for one enterprise is withdrawn
    async with identity_db.begin() as conn:
        n = await identity_store.end_sessions(
            conn, account_id="a1", enterprise_id="e1", reason="agent_removed"
        )
    # then only that account's sessions for that enterprise end
    assert n == ["s2"]
    assert await ended() == {"s6": "logout", "s2": "agent_removed"}
    # when a password changes, every other session of the account ends
    async with identity_db.begin() as conn:
        n = await identity_store.end_sessions(
            conn, account_id="a2", keep="s5", reason="password_changed"
        )
    assert n == ["s4"]
    assert (await ended())["s4"] == "password_changed"
    # when an account is disabled, its open sessions end, ended ones keep their reason
    async with identity_db.begin() as conn:
        n = await identity_store.end_sessions(conn, account_id="a1", reason="account_disabled")
    assert sorted(n) == ["s1", "s3"]
    assert await ended() == {
        "s1": "account_disabled",
        "s2": "agent_removed",
        "s3": "account_disabled",
        "s4": "password_changed",
        "s6": "logout",
    }
    # and nothing ends without naming the account: no filter never means "everyone"
    async with identity_db.begin() as conn:
        with pytest.raises(ValueError, match="account"):
            await identity_store.end_sessions(conn, account_id="", reason="oops")


async def test_identity_store_spends_a_refresh_token_once(identity_db: Database) -> None:
    async with identity_db.begin() as conn:
        await identity_store.add_session(
            conn, id="s1", account_id="a1", audience="public", expires_us=now_us() + 10**9
        )
        await identity_store.add_refresh_token(conn, token_hash="t" * 64, session_id="s1")
    # when the token is traded in, then presented again
    async with identity_db.begin() as conn:
        first = await identity_store.spend_refresh_token(conn, "t" * 64)
    async with identity_db.begin() as conn:
        second = await identity_store.spend_refresh_token(conn, "t" * 64)
        unknown = await identity_store.spend_refresh_token(conn, "u" * 64)
    # then only the first use counts, and the second is seen as a reuse
    assert (first, second, unknown) == (True, False, False)
    async with identity_db.read() as conn:
        row = await identity_store.refresh_token_row(conn, "t" * 64)
    assert row is not None and row.session_id == "s1" and row.spent_us is not None


async def test_identity_store_pages_accounts_by_creation_then_id(identity_db: Database) -> None:
    # given accounts of several kinds and departments, several created in the same microsecond
    accounts = [
        Account(
            id=f"acc-{i:02d}",
            username=f"user.{i:02d}",
            kind="staff" if i % 3 else "citizen",
            department=("psb", "hrss")[i % 2] if i % 3 else "",
            roles=("auditor",) if i % 3 else (),
            created_us=1_000 + i // 4,
        )
        for i in (13, 2, 7, 0, 11, 5, 9, 1, 12, 3, 8, 6, 10, 4)
    ]
    async with identity_db.begin() as conn:
        for account in accounts:
            await identity_store.add_account(conn, account, password_hash="h")

    async def every_page(limit: int, *, kind: str = "", department: str = "") -> list[str]:
        seen: list[str] = []
        after: tuple[int, str] | None = None
        for _ in range(len(accounts) + 1):
            async with identity_db.read() as conn:
                page, after = await identity_store.list_accounts(
                    conn, after=after, limit=limit, kind=kind, department=department
                )
            assert len(page) <= limit
            seen += [a.id for a in page]
            if after is None:
                return seen
        raise AssertionError("paging did not end")

    ordered = sorted(accounts, key=lambda a: (a.created_us, a.id))
    # then every page size returns every account exactly once, in (created, id) order
    for limit in (1, 2, 3, 4, 13, 14, 100):
        assert await every_page(limit) == [a.id for a in ordered], limit
    # and the filters select by kind and department across pages
    staff_psb = [a.id for a in ordered if a.kind == "staff" and a.department == "psb"]
    assert staff_psb and await every_page(2, kind="staff", department="psb") == staff_psb
    citizens = [a.id for a in ordered if a.kind == "citizen"]
    assert citizens and await every_page(2, kind="citizen") == citizens
    assert await every_page(3, department="hrss") == [
        a.id for a in ordered if a.department == "hrss"
    ]
    assert await every_page(5, kind="partner") == []


async def test_identity_store_supersedes_a_signing_key_once(identity_db: Database) -> None:
    async with identity_db.begin() as conn:
        await add_key(conn, "k1")
    retire_at = now_us() + 600 * 10**6
    # when two replicas rotate at the same time, then only the first supersedes the key
    async with identity_db.begin() as conn:
        assert await identity_store.supersede_signing_key(conn, "k1", retire_at_us=retire_at)
        await add_key(conn, "k2")
    async with identity_db.begin() as conn:
        assert not await identity_store.supersede_signing_key(conn, "k1", retire_at_us=retire_at)
        assert not await identity_store.supersede_signing_key(conn, "nope", retire_at_us=0)
    async with identity_db.read() as conn:
        active = await identity_store.active_signing_key(conn)
        # and the superseded key stays published until it retires
        kids = [k["kid"] for k in await identity_store.public_jwks(conn)]
    assert active is not None and active.kid == "k2"
    assert sorted(kids) == ["k1", "k2"]


async def test_identity_store_publishes_keys_until_they_retire(identity_db: Database) -> None:
    # given a key retired a second ago, one retiring in an hour, and the active one
    now = now_us()
    async with identity_db.begin() as conn:
        for kid in ("past", "future", "active"):
            await add_key(conn, kid)
        await identity_store.supersede_signing_key(conn, "past", retire_at_us=now - 10**6)
        await identity_store.supersede_signing_key(conn, "future", retire_at_us=now + 3600 * 10**6)
    async with identity_db.read() as conn:
        kids = sorted(k["kid"] for k in await identity_store.public_jwks(conn))
    # then the retired key is not in the JWKS, the others are
    assert kids == ["active", "future"]
    # and only the retired key's private part is destroyed
    async with identity_db.begin() as conn:
        assert await identity_store.destroy_retired_keys(conn) == 1
        assert await identity_store.destroy_retired_keys(conn) == 0
    async with identity_db.read() as conn:
        keys = identity_store.signing_keys
        rows = await conn.execute(sa.select(keys.c.kid, keys.c.private_key_sealed))
        sealed = {row.kid: row.private_key_sealed for row in rows}
    assert sealed == {"past": b"", "future": b"\x01sealed", "active": b"\x01sealed"}


async def test_identity_store_tracks_who_may_act_for_an_enterprise(identity_db: Database) -> None:
    async with identity_db.begin() as conn:
        await identity_store.add_enterprise(
            conn,
            id="e1",
            credit_code_hash="c" * 64,
            credit_code_sealed=b"\x01sealed",
            name="Haikou Coconut Co.",
            legal_representative_id="rep",
        )
        assert await identity_store.add_agent(
            conn, enterprise_id="e1", account_id="agent", authorised_by="rep"
        )
        assert not await identity_store.add_agent(
            conn, enterprise_id="e1", account_id="agent", authorised_by="rep"
        )
    async with identity_db.read() as conn:
        assert await identity_store.credit_code_registered(conn, "c" * 64)
        assert await identity_store.may_act_for(conn, "rep", "e1")
        assert await identity_store.may_act_for(conn, "agent", "e1")
        assert not await identity_store.may_act_for(conn, "stranger", "e1")
        assert not await identity_store.may_act_for(conn, "rep", "e2")
        assert [(r.id, how) for r, how in await identity_store.enterprises_of(conn, "rep")] == [
            ("e1", "legal_representative")
        ]
        assert [(r.id, how) for r, how in await identity_store.enterprises_of(conn, "agent")] == [
            ("e1", "agent")
        ]
    async with identity_db.begin() as conn:
        assert await identity_store.remove_agent(conn, enterprise_id="e1", account_id="agent")
        assert not await identity_store.remove_agent(conn, enterprise_id="e1", account_id="agent")
    async with identity_db.read() as conn:
        assert not await identity_store.may_act_for(conn, "agent", "e1")


# The identity tables as the first migration created them, before citizens, sessions and key
# rotation: an embedded database from then must upgrade in place.
_first = sa.MetaData()
FIRST_ACCOUNTS = sa.Table(
    "accounts",
    _first,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("department", sa.String(20), nullable=False),
    sa.Column("roles", sa.JSON, nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
)
FIRST_SIGNING_KEYS = sa.Table(
    "signing_keys",
    _first,
    sa.Column("kid", sa.String(64), primary_key=True),
    sa.Column("algorithm", sa.String(20), nullable=False),
    sa.Column("private_key_sealed", sa.LargeBinary, nullable=False),
    sa.Column("public_jwk", sa.JSON, nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("retired_us", sa.BigInteger),
)


async def test_an_identity_database_of_the_first_migration_upgrades_in_place(
    database_url: str,
) -> None:
    # given a database that the first identity release created and filled
    db = Database(database_url, service=f"t{uuid.uuid4().hex[:12]}")
    try:
        first = Migration(
            "identity-0001-accounts-and-keys", create_tables(FIRST_ACCOUNTS, FIRST_SIGNING_KEYS)
        )
        assert await db.migrate([first]) == [first.id]
        async with db.begin() as conn:
            await conn.execute(
                FIRST_ACCOUNTS.insert().values(
                    id="a1",
                    username="x.officer",
                    password_hash="h",
                    kind="staff",
                    department="psb",
                    roles=["catalog_officer"],
                    created_us=1_000,
                )
            )
            await conn.execute(
                FIRST_SIGNING_KEYS.insert().values(
                    kid="k1",
                    algorithm="EdDSA",
                    private_key_sealed=b"\x01sealed",
                    public_jwk={"kty": "OKP", "kid": "k1"},
                    created_us=1_000,
                )
            )
        # when this release migrates it
        applied = await db.migrate(identity_store.MIGRATIONS)
        # then only the later migrations ran, and the existing rows read with their defaults
        assert applied == [m.id for m in identity_store.MIGRATIONS[1:]]
        assert await db.migrate(identity_store.MIGRATIONS) == []
        async with db.read() as conn:
            assert await identity_store.get_account(conn, "a1") == OFFICER
            active = await identity_store.active_signing_key(conn)
            assert active is not None and active.kid == "k1"
        # and the new columns and tables work
        async with db.begin() as conn:
            await identity_store.update_account(
                conn, "a1", failed_logins=5, locked_until_us=9_000, resident_id_hash="r" * 64
            )
            await identity_store.add_account(
                conn,
                Account(id="a2", username="c.zhang", kind="citizen", department="", roles=()),
                password_hash="h",
                resident_id_hash="z" * 64,
            )
            assert await identity_store.supersede_signing_key(conn, "k1", retire_at_us=1)
            await add_key(conn, "k2")
            await identity_store.add_session(
                conn, id="s1", account_id="a1", audience="office", expires_us=now_us() + 10**9
            )
            await identity_store.add_refresh_token(conn, token_hash="t" * 64, session_id="s1")
        async with db.begin() as conn:
            assert await identity_store.spend_refresh_token(conn, "t" * 64)
        async with db.read() as conn:
            upgraded = await identity_store.get_account(conn, "a1")
            assert await identity_store.resident_id_registered(conn, "r" * 64)
            assert [k["kid"] for k in await identity_store.public_jwks(conn)] == ["k2"]
        assert upgraded is not None
        assert (upgraded.failed_logins, upgraded.locked_until_us) == (5, 9_000)
        # and the unique index on the resident ID hash, added by the upgrade, holds
        with pytest.raises(IntegrityError):
            async with db.begin() as conn:
                await identity_store.update_account(conn, "a2", resident_id_hash="r" * 64)
    finally:
        await drop(db)


async def test_exchange_records_are_found_by_value_on_both_engines(database_url: str) -> None:
    db = await open_db(database_url, exchange_store.MIGRATIONS)
    long_value = "长" * (exchange_store.VALUE_KEY + 5)
    rows = [
        {"停车场名称": "万绿园", "泊位数": "300"},
        {"停车场名称": "海秀", "泊位数": "120"},
        {"停车场名称": long_value, "泊位数": "1"},
        {"停车场名称": long_value[:-1] + "短", "泊位数": "2"},
    ]
    try:
        async with db.begin() as conn:
            first = await exchange_store.add_batch(
                conn,
                batch_id="b1",
                resource_id="r",
                department="hrss",
                rows=rows,
                replace=False,
                pushed_by="u",
                request_id=None,
            )
        assert (first.version, first.record_count) == (1, 4)

        async def found(**where: str) -> list[dict[str, str]]:
            async with db.read() as conn:
                return await exchange_store.find_records(conn, "r", where=where, limit=10)

        assert await found(停车场名称="万绿园") == [rows[0]]
        assert await found(停车场名称="海秀", 泊位数="120") == [rows[1]]
        assert await found(停车场名称="海秀", 泊位数="300") == []
        # values longer than the index key are told apart by their whole text
        assert await found(停车场名称=long_value) == [rows[2]]
        assert await found(停车场名称=long_value[: exchange_store.VALUE_KEY]) == []
        assert len(await found()) == 4
        # a replacing batch leaves only its own records, in the index too
        async with db.begin() as conn:
            second = await exchange_store.add_batch(
                conn,
                batch_id="b2",
                resource_id="r",
                department="hrss",
                rows=[rows[1]],
                replace=True,
                pushed_by="u",
                request_id=None,
            )
        assert (second.version, second.record_count) == (2, 1)
        assert await found(停车场名称="万绿园") == []
        assert await found(停车场名称="海秀") == [rows[1]]
    finally:
        await drop(db)


async def test_exchange_learns_listings_in_the_catalogs_order_whatever_the_arrival(
    database_url: str,
) -> None:
    db = await open_db(database_url, exchange_store.MIGRATIONS)
    step = events_pb2.ResourceChanged(
        resource_id="r", code="301001/000001", provider_department="psb", version=1
    )
    published = events_pb2.ResourceChanged(in_share_catalog=True)
    published.MergeFrom(step)

    async def learn(event: Any, at_us: int) -> None:
        async with db.begin() as conn:
            await exchange_store.learn_listing(conn, event, at_us=at_us)

    async def seen_by_hrss() -> list[str]:
        async with db.read() as conn:
            page, _ = await exchange_store.list_resources(
                conn, after_seq=0, limit=10, department="hrss"
            )
        return [r.resource_id for r in page]

    try:
        # published (at 2) arrives before the creation, then an older withdrawal (at 1)
        await learn(published, 2)
        async with db.begin() as conn:
            await exchange_store.learn_resource(
                conn,
                events_pb2.ResourceCreated(
                    resource_id="r", code="301001/000001", provider_department="psb", version=1
                ),
            )
        await learn(step, 1)
        assert await seen_by_hrss() == ["r"]
        # a later withdrawal (at 3) takes it out
        await learn(step, 3)
        assert await seen_by_hrss() == []
    finally:
        await drop(db)


async def test_licence_numbers_statuses_and_first_verifiers_on_both_engines(
    database_url: str,
) -> None:
    db = await open_db(database_url, licences_store.MIGRATIONS)
    try:
        # numbers are never reused, whichever engine hands them out
        async with db.begin() as conn:
            first = await licences_store.next_number(conn, licences_store.SERIAL)
            second = await licences_store.next_number(conn, licences_store.SERIAL)
        assert (first, second) == (1, 2)
        now = now_us()
        async with db.begin() as conn:
            for index, ident in ((1, "L1"), (2, "L2")):
                await licences_store.add_licence(
                    conn,
                    id=ident,
                    licence_type="id_card",
                    issuer="psb",
                    holder="citizen:a",
                    version=1,
                    status="valid",
                    status_index=index,
                    valid_from="2020-01-01",
                    valid_until=None,
                    credential="c",
                    contents=b"sealed",
                    issued_us=now,
                    updated_us=now,
                )
            # a status moves only from the state it was read in, and counts as a change
            assert await licences_store.set_status(
                conn, "L2", expected="valid", status="revoked", reason="r", at_us=now
            )
            assert not await licences_store.set_status(
                conn, "L2", expected="valid", status="suspended", reason="r", at_us=now
            )
            assert await licences_store.statuses(conn) == {2: "revoked"}
            assert await licences_store.counter(conn, licences_store.STATUS_CHANGES) == 1
            await licences_store.add_presentation(
                conn,
                id="p1",
                licence_id="L1",
                digest="d",
                claims=["name"],
                created_us=now,
                expires_us=now + 1,
            )
        # the first verifier keeps the presentation; a later claim fails
        async with db.begin() as conn:
            assert await licences_store.claim_first_verification(
                conn, "p1", verifier="partner:bank:1", at_us=now
            )
            assert not await licences_store.claim_first_verification(
                conn, "p1", verifier="anonymous", at_us=now
            )
        async with db.read() as reader:
            presented = await licences_store.presented(reader, "p1")
        assert presented is not None and presented.verifier == "partner:bank:1"
        assert presented.status == "valid" and presented.holder == "citizen:a"
    finally:
        await drop(db)


async def test_licences_of_the_former_identifier_layout_are_revoked_by_the_upgrade(
    database_url: str,
) -> None:
    # given a licences database of the first release, with a licence of the former layout and
    # one of the national form
    db = Database(database_url, service=f"t{uuid.uuid4().hex[:12]}")
    national = "1.2.156.3005.2.111000000000DM01XR002.11460100MB0A10021G.0000000123.001.L"
    try:
        assert await db.migrate(licences_store.MIGRATIONS[:1])
        now = now_us()
        async with db.begin() as conn:
            for index, ident in (
                (1, "1.2.156.3005.2.JMSFZ.11460100MB0A10021G.0000000001.01.7"),
                (2, national),
            ):
                await licences_store.add_licence(
                    conn,
                    id=ident,
                    licence_type="id_card",
                    issuer="psb",
                    holder="citizen:a",
                    version=1,
                    status="valid",
                    status_index=index,
                    valid_from="2020-01-01",
                    valid_until=None,
                    credential="c",
                    contents=b"sealed",
                    request_key=f"psb:demo-{index}",
                    issued_us=now,
                    updated_us=now,
                )
        # when this release migrates it
        applied = await db.migrate(licences_store.MIGRATIONS)
        assert applied == [m.id for m in licences_store.MIGRATIONS[1:]]
        # then the former licence is revoked, saying why, and its request id is free again
        async with db.read() as conn:
            assert await licences_store.statuses(conn) == {1: "revoked"}
            assert await licences_store.counter(conn, licences_store.STATUS_CHANGES) == 1
            assert await licences_store.licence_by_request(conn, "psb:demo-1") is None
            kept = await licences_store.licence_by_request(conn, "psb:demo-2")
            assert kept is not None and kept.id == national and kept.status == "valid"
            row = await licences_store.licence(
                conn, "1.2.156.3005.2.JMSFZ.11460100MB0A10021G.0000000001.01.7"
            )
        assert row is not None and row.status_reason == licences_store.FORMER_LAYOUT_REASON
    finally:
        await drop(db)


async def test_one_licence_per_holder_holds_under_the_index_on_both_engines(
    database_url: str,
) -> None:
    db = await open_db(database_url, licences_store.MIGRATIONS)

    async def add(conn: AsyncConnection, index: int, *, status: str = "valid") -> None:
        await licences_store.add_licence(
            conn,
            id=f"L{index}",
            licence_type="driving_licence",
            issuer="psb",
            holder="citizen:a",
            version=1,
            status=status,
            status_index=index,
            valid_from="2020-01-01",
            valid_until=None,
            credential="c",
            contents=b"sealed",
            sole_key="driving_licence:citizen:a",
            issued_us=now_us(),
            updated_us=now_us(),
        )

    try:
        async with db.begin() as conn:
            await add(conn, 1)
            await add(conn, 2, status="revoked")  # a revoked licence holds nothing
        # a second valid one (two issuances that both passed the domain's check) is refused
        with pytest.raises(IntegrityError):
            async with db.begin() as conn:
                await add(conn, 3)
        # and so is a suspended one: a suspended licence still holds its place
        with pytest.raises(IntegrityError):
            async with db.begin() as conn:
                await add(conn, 4, status="suspended")
        async with db.read() as conn:
            holding = await licences_store.holding(conn, "driving_licence:citizen:a")
        assert holding is not None and holding.id == "L1"
        # once the holder's licence is superseded, the next one may hold
        async with db.begin() as conn:
            assert await licences_store.set_status(
                conn, "L1", expected="valid", status="superseded", reason="r", at_us=now_us()
            )
            await add(conn, 5)
    finally:
        await drop(db)


async def test_duplicate_licences_of_one_holder_are_resolved_by_the_upgrade(
    database_url: str,
) -> None:
    # given a database of the second release, where one person holds three valid ID cards
    db = Database(database_url, service=f"t{uuid.uuid4().hex[:12]}")
    first_licences = sa.Table(
        "licences",
        sa.MetaData(),
        *(
            sa.Column(
                c.name,
                c.type,
                primary_key=c.primary_key,
                nullable=c.nullable,
                unique=c.unique,
                server_default=c.server_default.arg if c.server_default else None,  # type: ignore[attr-defined]
            )
            for c in licences_store.licences.columns
            if c.name != "sole_key"
        ),
    )
    try:
        steps = [
            Migration(
                licences_store.MIGRATIONS[0].id,
                create_tables(
                    *(t for t in licences_store.metadata.sorted_tables if t.name != "licences"),
                    first_licences,
                ),
            ),
            licences_store.MIGRATIONS[1],
        ]
        assert await db.migrate(steps)
        async with db.begin() as conn:
            for index in (1, 2, 3):
                await conn.execute(
                    first_licences.insert().values(
                        id=f"C{index}",
                        licence_type="id_card",
                        issuer="psb",
                        holder="citizen:a",
                        version=1,
                        status="valid",
                        status_index=index,
                        valid_from="2020-01-01",
                        valid_until=None,
                        credential="c",
                        contents=b"sealed",
                        issued_us=index,
                        updated_us=index,
                    )
                )
        # when this release migrates it
        assert await db.migrate(licences_store.MIGRATIONS) == [licences_store.MIGRATIONS[2].id]
        # then the newest card holds and the older ones are superseded by it, saying why
        async with db.read() as conn:
            holding = await licences_store.holding(conn, "id_card:citizen:a")
            older = [await licences_store.licence(conn, f"C{i}") for i in (1, 2)]
        assert holding is not None and holding.id == "C3"
        assert all(
            r is not None
            and (r.status, r.superseded_by, r.status_reason)
            == ("superseded", "C3", licences_store.ONE_PER_HOLDER_REASON)
            for r in older
        )
        # and the index holds from now on
        with pytest.raises(IntegrityError):
            async with db.begin() as conn:
                await conn.execute(
                    licences_store.licences.update()
                    .where(licences_store.licences.c.id == "C1")
                    .values(status="valid")
                )
    finally:
        await drop(db)
