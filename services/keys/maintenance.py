"""The keys service's maintenance, run by each replica in the background: keys past their rotation
period get their next version, keys past their deletion date lose their material, and the audit
chain's head is signed with the service's own checkpoint key. Every step is safe to race with
another replica's: the loser's step fails or finds nothing to do, and the next round retries."""

from __future__ import annotations

import asyncio
import contextlib

from runtime import logs
from runtime.errors import DomainError
from runtime.service import ServiceRuntime
from runtime.storage import now_us
from services.keys import audit, domain, events, store
from services.keys.keyring import Keyring
from services.keys.servicer import create, rotate
from smartcity.keys.v1 import events_pb2, keys_pb2

log = logs.get(__name__)

# How often each replica rotates keys that are due and destroys keys whose deletion is due.
MAINTENANCE_SECONDS = 60.0
# How often the audit chain's head is signed (when it moved).
CHECKPOINT_SECONDS = 60.0


async def ensure_checkpoint_key(rt: ServiceRuntime, keyring: Keyring) -> None:
    """The service's own SM2 key for audit checkpoints: no policy grants it to anyone."""
    key = domain.new_key(
        keys_pb2.Key(name=audit.CHECKPOINT_KEY, purpose=keys_pb2.KEY_PURPOSE_SIGN),
        owner_department="bdb",
    )
    await create(rt, keyring, key, by=None)


async def maintain(rt: ServiceRuntime, keyring: Keyring) -> None:
    """One round: rotate keys past their rotation period; destroy keys past their deletion."""
    now = now_us()
    async with rt.db.read() as conn:
        due = await store.keys_due(conn, now=now)
    for key in due:
        if key.state == domain.PENDING_DELETION:
            async with rt.unit_of_work() as uow:
                await store.destroy_material(uow.conn, key.name)
                await store.update_key(uow.conn, key.name, state=domain.DELETED)
                await uow.publish(
                    events.KEY_CHANGED,
                    events_pb2.KeyChanged(
                        name=key.name, latest_version=key.latest_version, change="deleted"
                    ),
                    entity_id=key.name,
                )
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


async def maintain_forever(rt: ServiceRuntime, keyring: Keyring) -> None:
    while True:
        await asyncio.sleep(MAINTENANCE_SECONDS)
        try:
            await maintain(rt, keyring)
        except Exception as exc:  # the next round retries
            log.warning("key_maintenance_failed", error=type(exc).__name__)


async def checkpoints_forever(rt: ServiceRuntime, keyring: Keyring) -> None:
    while True:
        await asyncio.sleep(CHECKPOINT_SECONDS)
        try:
            await audit.sign_checkpoint(rt.db, keyring)
        except Exception as exc:  # the next round retries
            log.warning("audit_checkpoint_failed", error=type(exc).__name__)
