"""Run the identity service alone: `python -m services.identity`."""

from __future__ import annotations

import functools

import grpc

from runtime import config, crypto, logs
from runtime.service import ServiceDefinition, ServiceRuntime, run
from runtime.storage import Database
from services.identity import demo, store
from services.identity.servicer import POLICIES, SERVICE, IdentityServicer, add_to_server
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
        await demo.seed(rt)


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
