"""Run the identity service alone: `python -m services.identity`; or create the first
administrator of a deployment: `python -m services.identity create-admin USERNAME`."""

from __future__ import annotations

import asyncio
import contextlib
import functools

from runtime import config, crypto, logs
from runtime.service import ServiceCommand, ServiceDefinition, ServiceRuntime, run
from runtime.storage import Database
from services.identity import authorization, demo, ended_sessions, store
from services.identity.bootstrap import create_admin
from services.identity.personal import PersonalData
from services.identity.servicer import POLICIES, IdentityServicer
from services.identity.signing import SigningKeys

log = logs.get(__name__)

# How often each replica checks whether its signing key is due for rotation, picks up a key
# another replica rotated to, and destroys retired keys.
KEY_MAINTENANCE_SECONDS = 60.0


@functools.cache
def _signing_keys(db: Database) -> SigningKeys:
    """One SigningKeys per database, shared by the servicer and the local JWKS source."""
    return SigningKeys(db, master_key=crypto.master_key(config.load()))


def _servicer(rt: ServiceRuntime) -> IdentityServicer:
    master_key = crypto.master_key(rt.settings)
    return IdentityServicer(
        rt, _signing_keys(rt.db), PersonalData(master_key), master_key=master_key
    )


async def _maintain_keys(rt: ServiceRuntime, keys: SigningKeys) -> None:
    while True:
        await asyncio.sleep(KEY_MAINTENANCE_SECONDS)
        try:
            await keys.reload()
            if keys.due(rotation_hours=rt.settings.key_rotation_hours):
                with contextlib.suppress(RuntimeError):  # another replica rotated first
                    await keys.rotate(rt.unit_of_work)
            await keys.destroy_retired()
        except Exception as exc:  # the next round retries; signing goes on with the loaded key
            log.warning("key_maintenance_failed", error=type(exc).__name__)


async def _start(rt: ServiceRuntime) -> None:
    keys = _signing_keys(rt.db)
    await keys.ensure()
    applications = authorization.first_party_applications(rt.settings.issuer)
    if rt.settings.demo:
        await demo.seed(rt, PersonalData(crypto.master_key(rt.settings)))
        applications.append(demo.THIRD_PARTY_APPLICATION)
    await authorization.ensure_applications(rt, applications)
    rt.background(_maintain_keys(rt, keys), name="identity-keys")
    rt.background(ended_sessions.announcer(rt.db).run(rt.stopping), name="identity-ended-sessions")


async def _key_rotated(rt: ServiceRuntime) -> None:
    await _signing_keys(rt.db).reload()


DEFINITION = ServiceDefinition(
    name="identity",
    migrations=store.MIGRATIONS,
    servicer=_servicer,
    policies=POLICIES,
    publishes=True,
    jwks_fetcher=lambda db: _signing_keys(db).jwks_json,
    ended_sessions=lambda db: ended_sessions.announcer(db).feed(),
    on_start=_start,
    on_key_rotation=_key_rotated,
    commands={
        "create-admin": ServiceCommand(
            help="create the first administrator of a deployment (its password from "
            "SMARTCITY_BOOTSTRAP_PASSWORD, else asked for)",
            argument="USERNAME",
            run=create_admin,
        )
    },
)

if __name__ == "__main__":
    run(DEFINITION)
