"""The services' stores on SQLite and, when it answers, PostgreSQL: one code path, two engines."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence

import pytest
import pytest_asyncio
from sqlalchemy.exc import IntegrityError

from runtime.storage import Database, Migration
from services.catalog import store as catalog_store
from services.catalog.demo import DEMO_RESOURCES
from services.exchange import store as exchange_store
from services.identity import store as identity_store
from services.identity.domain import Account
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
    for i, demo in enumerate(DEMO_RESOURCES):
        async with catalog_db.begin() as conn:
            created = await catalog_store.insert_resource(
                conn, demo, resource_id=f"r{i}", created_by="tester", request_id=f"k{i}"
            )
        ids.append(created.id)
        assert created.data_items == demo.data_items and created.version == 1
        assert created.create_time.seconds > 0
    async with catalog_db.read() as conn:
        assert (await catalog_store.get_resource(conn, "r1")).code == DEMO_RESOURCES[1].code
        assert (await catalog_store.find_by_request_id(conn, "k2")).id == "r2"
        assert await catalog_store.code_taken(conn, DEMO_RESOURCES[0].code)
        first, after = await catalog_store.list_resources(conn, after_seq=0, limit=2)
        rest, end = await catalog_store.list_resources(conn, after_seq=after or 0, limit=2)
        only_psb, _ = await catalog_store.list_resources(
            conn, after_seq=0, limit=10, provider_department="psb"
        )
    assert [r.id for r in first + rest] == ids and end is None
    assert [r.provider_department for r in only_psb] == ["psb"]


async def test_catalog_store_refuses_a_second_resource_with_the_same_code(
    catalog_db: Database,
) -> None:
    async with catalog_db.begin() as conn:
        await catalog_store.insert_resource(
            conn, DEMO_RESOURCES[0], resource_id="a", created_by="t", request_id=None
        )
    with pytest.raises(IntegrityError):
        async with catalog_db.begin() as conn:
            await catalog_store.insert_resource(
                conn, DEMO_RESOURCES[0], resource_id="b", created_by="t", request_id=None
            )


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
            page, after = await exchange_store.list_resources(conn, after_seq=0, limit=10)
        assert [(r.code, r.version) for r in page] == [("C-3", 3)] and after is None
    finally:
        await drop(db)


async def test_identity_store_finds_accounts_and_public_keys(database_url: str) -> None:
    db = await open_db(database_url, identity_store.MIGRATIONS)
    try:
        account = Account(
            id="a1",
            username="x.officer",
            kind="staff",
            department="psb",
            roles=("catalog_officer",),
        )
        async with db.begin() as conn:
            await identity_store.add_account(conn, account, password_hash="h")
            await identity_store.add_signing_key(
                conn,
                kid="k1",
                algorithm="EdDSA",
                sealed=b"\x01sealed",
                public_jwk={"kty": "OKP", "kid": "k1"},
            )
        async with db.read() as conn:
            found = await identity_store.find_login(conn, "x.officer")
            assert found == (account, "h")
            assert await identity_store.get_account(conn, "a1") == account
            assert await identity_store.public_jwks(conn) == [{"kty": "OKP", "kid": "k1"}]
            assert (await identity_store.active_signing_key(conn)).kid == "k1"
    finally:
        await drop(db)
