"""Run the keys service alone: `python -m services.keys`."""

from __future__ import annotations

import functools

from runtime import config, crypto
from runtime.service import ServiceDefinition, ServiceRuntime, run
from runtime.storage import Database
from services.keys import audit, demo, incidents, maintenance, store, usage
from services.keys.authcodes import AuthorisationCodes
from services.keys.keyring import Keyring
from services.keys.servicer import POLICIES, KeysServicer


@functools.cache
def _keyring(db: Database) -> Keyring:
    """One keyring per database, shared by the servicer and the maintenance task."""
    return Keyring(db, master_key=crypto.master_key(config.load()))


def _servicer(rt: ServiceRuntime) -> KeysServicer:
    codes = AuthorisationCodes(rt, master_key=crypto.master_key(rt.settings))
    uses = usage.KeyUsage(rt)
    # Cancelled after the server has stopped: the last counts are written then.
    rt.background(uses.run(), name="keys-usage")
    return KeysServicer(rt, _keyring(rt.db), codes, uses)


async def _start(rt: ServiceRuntime) -> None:
    keyring = _keyring(rt.db)
    await maintenance.ensure_checkpoint_key(rt, keyring)
    if rt.settings.demo:
        await demo.seed(rt, keyring)
    rt.background(maintenance.maintain_forever(rt, keyring), name="keys-maintenance")
    rt.background(maintenance.checkpoints_forever(rt, keyring), name="keys-audit-checkpoints")


DEFINITION = ServiceDefinition(
    name="keys",
    migrations=[*store.MIGRATIONS, *audit.MIGRATIONS, *incidents.MIGRATIONS, *usage.MIGRATIONS],
    subscriptions=audit.subscriptions(),
    servicer=_servicer,
    policies=POLICIES,
    publishes=True,
    on_start=_start,
)

if __name__ == "__main__":
    run(DEFINITION)
