"""The keys that sign access tokens: Ed25519 (EdDSA), each with a `kid`, sealed at rest, rotated
on a schedule and on demand.

JWT verifiers everywhere speak EdDSA; the national suite signs licences and audit records instead.
A rotation makes a new key the signer at once, keeps the previous one in the JWKS until the last
token it signed has expired, and announces `signing_key.rotated` so that every verifier fetches
the new JWKS before the first token signed with the new key reaches it.
"""

from __future__ import annotations

import uuid
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm
from sqlalchemy.ext.asyncio import AsyncConnection

from runtime import audit, crypto, logs
from runtime.auth import TOKEN_TYPE, Principal
from runtime.bus.outbox import enqueue
from runtime.storage import Database, now_us
from services.identity import domain, events, store
from smartcity.identity.v1 import events_pb2

log = logs.get(__name__)

ALGORITHM = "EdDSA"
# Beyond the token lifetime: the verifiers' clock leeway, and the time other identity replicas
# take to notice a rotation (they go on signing with the previous key until then).
RETENTION_MARGIN_SECONDS = 120


class SigningKeys:
    """Holds the active private key in memory (unsealed once) and serves the JWKS."""

    def __init__(self, db: Database, *, master_key: bytes) -> None:
        self._db = db
        self._master_key = master_key
        self._kid = ""
        self._private: Ed25519PrivateKey | None = None
        self._active_since_us = 0

    @property
    def kid(self) -> str:
        return self._kid

    async def ensure(self) -> None:
        """Load the active key, or create the first one."""
        async with self._db.begin() as conn:
            if await store.active_signing_key(conn) is None:
                await self._create(conn)
        await self.reload()

    async def reload(self) -> None:
        """Sign with the newest active key (another replica may have rotated)."""
        async with self._db.read() as conn:
            row = await store.active_signing_key(conn)
        if row is None or row.kid == self._kid:
            return
        kid = str(row.kid)
        pem = crypto.unseal(self._master_key, row.private_key_sealed, context=kid.encode())
        loaded = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise TypeError(f"signing key {kid} is not Ed25519")
        self._kid, self._private, self._active_since_us = kid, loaded, int(row.created_us)
        log.info("signing_key_loaded", kid=kid)

    async def _create(self, conn: AsyncConnection) -> str:
        kid = uuid.uuid4().hex
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        jwk: dict[str, Any] = OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
        jwk.update(kid=kid, alg=ALGORITHM, use="sig")
        sealed = crypto.seal(self._master_key, pem, context=kid.encode())
        await store.add_signing_key(
            conn, kid=kid, algorithm=ALGORITHM, sealed=sealed, public_jwk=jwk
        )
        return kid

    async def rotate(self, *, by: Principal | None = None) -> tuple[str, str]:
        """Make a new key the signer; return (new kid, previous kid). The outbox carries the
        announcement and the audit record in the same transaction."""
        retire_at = now_us() + (domain.ACCESS_TOKEN_TTL_SECONDS + RETENTION_MARGIN_SECONDS) * 10**6
        async with self._db.begin() as conn:
            previous = await store.active_signing_key(conn)
            previous_kid = str(previous.kid) if previous is not None else ""
            if previous is not None and not await store.supersede_signing_key(
                conn, previous_kid, retire_at_us=retire_at
            ):
                raise RuntimeError("another replica is rotating the signing key")
            kid = await self._create(conn)
            await enqueue(
                conn,
                events.SIGNING_KEY_ROTATED,
                events_pb2.SigningKeyRotated(kid=kid, previous_kid=previous_kid),
                entity_id=kid,
            )
            await audit.record(
                conn,
                service="identity",
                action="identity.signing_key.rotated",
                principal=by,
                resource_type="signing_key",
                resource_id=kid,
            )
        await self.reload()
        log.info("signing_key_rotated", kid=kid, previous_kid=previous_kid)
        return kid, previous_kid

    def due(self, *, rotation_hours: int) -> bool:
        return now_us() - self._active_since_us >= rotation_hours * 3600 * 10**6

    async def destroy_retired(self) -> None:
        async with self._db.begin() as conn:
            destroyed = await store.destroy_retired_keys(conn)
        if destroyed:
            log.info("signing_keys_destroyed", count=destroyed)

    def sign(self, claims: dict[str, object]) -> str:
        if self._private is None:
            raise RuntimeError("signing keys not loaded")
        return jwt.encode(
            claims,
            self._private,
            algorithm=ALGORITHM,
            headers={"kid": self._kid, "typ": TOKEN_TYPE},
        )

    async def jwks_json(self) -> str:
        async with self._db.read() as conn:
            keys = await store.public_jwks(conn)
        return orjson.dumps({"keys": keys}).decode()
