"""Run the keys service alone: `python -m services.keys`."""

from __future__ import annotations

import asyncio
import contextlib
import functools

import grpc

from runtime import config, crypto, logs
from runtime.bus.outbox import enqueue
from runtime.errors import DomainError
from runtime.service import ServiceDefinition, ServiceRuntime, run
from runtime.storage import Database, now_us
from services.keys import audit, demo, domain, events, incidents, store, usage
from services.keys.authcodes import AuthorisationCodes
from services.keys.keyring import Keyring
from services.keys.servicer import (
    POLICIES,
    SERVICE,
    KeysServicer,
    add_to_server,
    create,
    rotate,
)
from smartcity.keys.v1 import events_pb2, keys_pb2

log = logs.get(__name__)

# How often each replica rotates keys that are due and destroys keys whose deletion is due.
MAINTENANCE_SECONDS = 60.0
# How often the audit chain's head is signed (when it moved).
CHECKPOINT_SECONDS = 60.0


@functools.cache
def _keyring(db: Database) -> Keyring:
    """One keyring per database, shared by the servicer and the maintenance task."""
    return Keyring(db, master_key=crypto.master_key(config.load()))


def _add_servicers(server: grpc.aio.Server, rt: ServiceRuntime) -> None:
    codes = AuthorisationCodes(rt, master_key=crypto.master_key(rt.settings))
    uses = usage.KeyUsage(rt)
    # Cancelled after the server has stopped: the last counts are written then.
    rt.background(uses.run(), name="keys-usage")
    add_to_server(server, KeysServicer(rt, _keyring(rt.db), codes, uses))


async def maintain(rt: ServiceRuntime, keyring: Keyring) -> None:
    """One round: rotate keys past their rotation period; destroy keys past their deletion."""
    now = now_us()
    async with rt.db.read() as conn:
        due = await store.keys_due(conn, now=now)
    for key in due:
        if key.state == domain.PENDING_DELETION:
            async with rt.db.begin() as conn:
                await store.destroy_material(conn, key.name)
                await store.update_key(conn, key.name, state=domain.DELETED)
                await enqueue(
                    conn,
                    events.KEY_CHANGED,
                    events_pb2.KeyChanged(
                        name=key.name, latest_version=key.latest_version, change="deleted"
                    ),
                    entity_id=key.name,
                )
            rt.events_committed()
            keyring.forget(key.name)
            log.warning("key_destroyed", key=key.name)
            continue
        async with rt.db.read() as conn:
            versions = await store.versions(conn, key.name)
        latest_us = versions[-1][1] if versions else key.created_us
        if now - latest_us >= key.rotation_period_days * 86400 * 10**6:
            with contextlib.suppress(DomainError):  # another replica rotated it first
                rotated = await rotate(rt, keyring, key.name)
                log.info("key_rotated_on_schedule", key=key.name, version=rotated.latest_version)


async def _maintain_forever(rt: ServiceRuntime, keyring: Keyring) -> None:
    while True:
        await asyncio.sleep(MAINTENANCE_SECONDS)
        try:
            await maintain(rt, keyring)
        except Exception as exc:  # the next round retries
            log.warning("key_maintenance_failed", error=type(exc).__name__)


async def _checkpoints_forever(rt: ServiceRuntime, keyring: Keyring) -> None:
    while True:
        await asyncio.sleep(CHECKPOINT_SECONDS)
        try:
            await audit.sign_checkpoint(rt.db, keyring)
        except Exception as exc:  # the next round retries
            log.warning("audit_checkpoint_failed", error=type(exc).__name__)


async def _start(rt: ServiceRuntime) -> None:
    keyring = _keyring(rt.db)
    await ensure_checkpoint_key(rt, keyring)
    if rt.settings.demo:
        await demo.seed(rt, keyring)
    rt.background(_maintain_forever(rt, keyring), name="keys-maintenance")
    rt.background(_checkpoints_forever(rt, keyring), name="keys-audit-checkpoints")


async def ensure_checkpoint_key(rt: ServiceRuntime, keyring: Keyring) -> None:
    """The service's own SM2 key for audit checkpoints: no policy grants it to anyone."""
    key = domain.new_key(
        keys_pb2.Key(name=audit.CHECKPOINT_KEY, purpose=keys_pb2.KEY_PURPOSE_SIGN),
        owner_department="bdb",
    )
    await create(rt, keyring, key, by=None)


DEFINITION = ServiceDefinition(
    name="keys",
    grpc_services=[SERVICE],
    migrations=[*store.MIGRATIONS, *audit.MIGRATIONS, *incidents.MIGRATIONS, *usage.MIGRATIONS],
    subscriptions=audit.subscriptions(),
    add_servicers=_add_servicers,
    policies=POLICIES,
    publishes=True,
    on_start=_start,
)

if __name__ == "__main__":
    run(DEFINITION)
