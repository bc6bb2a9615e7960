"""Demo keys for the embedded mode (`make run`): each issuing department's SM2 licence-signing key,
usable by its licence issuers and by the licences service, and an SM4 key for data at rest.

Never in production and never on PostgreSQL (see `runtime.config`).
"""

from __future__ import annotations

import asyncio

from runtime import logs
from runtime.service import ServiceRuntime
from services.keys import algorithms, domain, store
from services.keys.keyring import Keyring
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
        async with rt.db.read() as conn:
            if await store.name_taken(conn, key.name):
                continue
        material = await asyncio.to_thread(algorithms.generate, key.algorithm)
        public = (
            algorithms.public_key_pem(key.algorithm, material).decode()
            if key.purpose == domain.SIGN
            else None
        )
        async with rt.db.begin() as conn:
            await store.add_key(conn, key, created_by="demo")
            await store.add_version(
                conn,
                name=key.name,
                version=1,
                sealed=keyring.seal(key.name, 1, material),
                public_key_pem=public,
            )
        created += 1
    if created:
        log.info("demo_keys_created", count=created)
