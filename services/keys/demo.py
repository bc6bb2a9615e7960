"""Demo keys for the embedded mode (`make run`): each issuing department's SM2 licence-signing key,
the licences platform's own SM2 key (presentations, status list), the exchange's SM2
evidence-signing key, and an SM4 key for data at rest.

Each is usable only through the service it serves (the policy's `services`): a licence-signing
key signs when the licences service acts for one of the department's licence issuers, never for
the issuer calling directly. A data directory made by an earlier version gets these policies at
start. Never in production and never on PostgreSQL (see `runtime.config`).
"""

from __future__ import annotations

from collections.abc import Sequence

from runtime import logs
from runtime.service import ServiceRuntime
from services.keys import domain
from services.keys.keyring import Keyring
from services.keys.servicer import create, reconfigure
from smartcity.keys.v1 import keys_pb2

log = logs.get(__name__)

SIGN_AND_VERIFY = [keys_pb2.KEY_OPERATION_SIGN, keys_pb2.KEY_OPERATION_VERIFY]
ENVELOPE = [
    keys_pb2.KEY_OPERATION_ENCRYPT,
    keys_pb2.KEY_OPERATION_DECRYPT,
    keys_pb2.KEY_OPERATION_REWRAP,
    keys_pb2.KEY_OPERATION_GENERATE_DATA_KEY,
]


def _licence_key(department: str) -> keys_pb2.Key:
    return keys_pb2.Key(
        name=f"{department}.licence-signing",
        purpose=keys_pb2.KEY_PURPOSE_SIGN,
        rotation_period_days=365,
        policy=keys_pb2.KeyPolicy(
            services=["licences"],
            grants=[
                # the licences service, acting for a licence issuer of the department
                keys_pb2.KeyGrant(
                    services=["licences"],
                    departments=[department],
                    roles=["licence_issuer"],
                    operations=SIGN_AND_VERIFY,
                ),
            ],
        ),
    )


def _own_key(
    service: str,
    name: str,
    operations: Sequence[keys_pb2.KeyOperation.ValueType],
    *,
    purpose: keys_pb2.KeyPurpose.ValueType,
    rotation_period_days: int,
) -> keys_pb2.Key:
    """A key of a service for itself: used through that service alone."""
    return keys_pb2.Key(
        name=name,
        purpose=purpose,
        rotation_period_days=rotation_period_days,
        policy=keys_pb2.KeyPolicy(
            services=[service],
            grants=[keys_pb2.KeyGrant(services=[service], operations=operations)],
        ),
    )


DEMO_KEYS: tuple[tuple[str, keys_pb2.Key], ...] = (
    *((d, _licence_key(d)) for d in ("psb", "hrss", "msa")),
    (
        "bdb",
        # auditors check its signatures offline, with the public key
        _own_key(
            "exchange",
            "exchange.evidence-signing",
            SIGN_AND_VERIFY,
            purpose=keys_pb2.KEY_PURPOSE_SIGN,
            rotation_period_days=365,
        ),
    ),
    (
        "bdb",
        # the platform's own: presentation bindings and the licence status list
        _own_key(
            "licences",
            "licences.platform-signing",
            SIGN_AND_VERIFY,
            purpose=keys_pb2.KEY_PURPOSE_SIGN,
            rotation_period_days=365,
        ),
    ),
    (
        "bdb",
        _own_key(
            "exchange",
            "exchange.data-at-rest",
            ENVELOPE,
            purpose=keys_pb2.KEY_PURPOSE_ENCRYPT,
            rotation_period_days=90,
        ),
    ),
)


async def seed(rt: ServiceRuntime, keyring: Keyring) -> None:
    """Create the demo keys that do not exist yet; give those that do their declared policy."""
    created = updated = 0
    for department, request in DEMO_KEYS:
        key = domain.new_key(request, owner_department=department)
        if await create(rt, keyring, key, by=None):
            created += 1
            continue
        stored = await keyring.key(key.name)
        if (set(stored.grants), stored.services) != (set(key.grants), key.services):
            values = {"grants": key.grants, "services": key.services}
            await reconfigure(rt, keyring, stored, "updated", by=None, **values)
            updated += 1
    if created or updated:
        log.info("demo_keys_seeded", created=created, policies_updated=updated)
