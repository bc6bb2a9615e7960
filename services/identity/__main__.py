"""Run the identity service alone: `python -m services.identity`."""

from __future__ import annotations

import functools
import uuid

import grpc

from runtime import config, crypto, logs
from runtime.service import ServiceDefinition, ServiceRuntime, run
from runtime.storage import Database
from services.identity import domain, store
from services.identity.servicer import (
    POLICIES,
    SERVICE,
    IdentityServicer,
    add_to_server,
    hash_password,
)
from services.identity.signing import SigningKeys

log = logs.get(__name__)


@functools.cache
def _signing_keys(db: Database) -> SigningKeys:
    """One SigningKeys per database, shared by the servicer and the local JWKS source."""
    return SigningKeys(db, master_key=crypto.master_key(config.load()))


def _add_servicers(server: grpc.aio.Server, rt: ServiceRuntime) -> None:
    add_to_server(server, IdentityServicer(rt, _signing_keys(rt.db)))


async def _start(rt: ServiceRuntime) -> None:
    await _signing_keys(rt.db).ensure()
    if rt.settings.demo:
        await seed_demo_accounts(rt)


async def seed_demo_accounts(rt: ServiceRuntime) -> None:
    """Demo mode only (never in production, never on PostgreSQL): one account per demo role."""
    created = []
    for demo in domain.DEMO_ACCOUNTS:
        async with rt.db.begin() as conn:
            if await store.username_exists(conn, demo.username):
                continue
            account = domain.Account(
                id=str(uuid.uuid4()),
                username=demo.username,
                kind=domain.STAFF,
                department=demo.department,
                roles=demo.roles,
            )
            await store.add_account(
                conn, account, password_hash=hash_password(rt.settings.demo_password)
            )
            created.append(account.id)
    if created:
        log.info("demo_accounts_created", count=len(created))


DEFINITION = ServiceDefinition(
    name="identity",
    grpc_services=[SERVICE],
    migrations=store.MIGRATIONS,
    add_servicers=_add_servicers,
    policies=POLICIES,
    jwks_fetcher=lambda db: _signing_keys(db).jwks_json,
    on_start=_start,
)

if __name__ == "__main__":
    run(DEFINITION)
