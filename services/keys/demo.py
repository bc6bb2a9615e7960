"""Demo keys for the embedded mode (`make run`): each issuing department's SM2 licence-signing key,
usable by its licence issuers and by the licences service, the licences platform's own SM2 key
(presentations, status list), the exchange's SM2 evidence-signing key, and an SM4 key for data at
rest.

Never in production and never on PostgreSQL (see `runtime.config`).
"""

from __future__ import annotations

from runtime import logs
from runtime.service import ServiceRuntime
from services.keys import domain
from services.keys.keyring import Keyring
from services.keys.servicer import create
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
            grants=[
                keys_pb2.KeyGrant(
                    departments=[department], roles=["licence_issuer"], operations=SIGN_AND_VERIFY
                ),
                keys_pb2.KeyGrant(services=["licences"], operations=SIGN_AND_VERIFY),
            ]
        ),
    )


DEMO_KEYS: tuple[tuple[str, keys_pb2.Key], ...] = (
    *((d, _licence_key(d)) for d in ("psb", "hrss", "msa")),
    (
        "bdb",
        keys_pb2.Key(
            name="exchange.evidence-signing",
            purpose=keys_pb2.KEY_PURPOSE_SIGN,
            rotation_period_days=365,
            policy=keys_pb2.KeyPolicy(
                grants=[
                    keys_pb2.KeyGrant(services=["exchange"], operations=SIGN_AND_VERIFY),
                    # anyone in the Bureau's audit checks the signatures
                    keys_pb2.KeyGrant(
                        departments=["bdb"], operations=[keys_pb2.KEY_OPERATION_VERIFY]
                    ),
                ]
            ),
        ),
    ),
    (
        "bdb",
        # the platform's own: presentation bindings and the licence status list
        keys_pb2.Key(
            name="licences.platform-signing",
            purpose=keys_pb2.KEY_PURPOSE_SIGN,
            rotation_period_days=365,
            policy=keys_pb2.KeyPolicy(
                grants=[keys_pb2.KeyGrant(services=["licences"], operations=SIGN_AND_VERIFY)]
            ),
        ),
    ),
    (
        "bdb",
        keys_pb2.Key(
            name="exchange.data-at-rest",
            purpose=keys_pb2.KEY_PURPOSE_ENCRYPT,
            rotation_period_days=90,
            policy=keys_pb2.KeyPolicy(
                grants=[keys_pb2.KeyGrant(services=["exchange"], operations=ENVELOPE)]
            ),
        ),
    ),
)


async def seed(rt: ServiceRuntime, keyring: Keyring) -> None:
    """Create the demo keys that do not exist yet."""
    created = 0
    for department, request in DEMO_KEYS:
        key = domain.new_key(request, owner_department=department)
        created += await create(rt, keyring, key, by=None)
    if created:
        log.info("demo_keys_created", count=created)
