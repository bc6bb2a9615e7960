"""The keys that sign tokens, each with a `kid`, sealed at rest, rotated on a schedule and on
demand: Ed25519 (EdDSA) signs access tokens and, for applications that ask, ID tokens; RSA
(RS256) signs the other ID tokens, because OpenID Connect requires every provider to offer it.

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
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm
from sqlalchemy.ext.asyncio import AsyncConnection

from runtime import crypto, logs
from runtime.auth import TOKEN_TYPE, Principal
from runtime.storage import Database, now_us
from runtime.unit_of_work import UnitsOfWork
from services.identity import domain, events, store
from smartcity.identity.v1 import events_pb2

log = logs.get(__name__)

EDDSA = "EdDSA"
RS256 = "RS256"
ALGORITHMS = (EDDSA, RS256)
# Beyond the token lifetime: the verifiers' clock leeway, and the time other identity replicas
# take to notice a rotation (they go on signing with the previous key until then).
RETENTION_MARGIN_SECONDS = 120
_RSA_BITS = 2048  # RS256's usual size; ID tokens live minutes

PrivateKey = Ed25519PrivateKey | rsa.RSAPrivateKey


def _new_key(algorithm: str) -> tuple[PrivateKey, dict[str, Any]]:
    """A private key and its public JWK."""
    if algorithm == EDDSA:
        ed = Ed25519PrivateKey.generate()
        return ed, OKPAlgorithm.to_jwk(ed.public_key(), as_dict=True)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS)
    return rsa_key, RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True)


class _Signer:
    """The active key of one algorithm, unsealed once."""

    def __init__(self) -> None:
        self.kid = ""
        self.private: PrivateKey | None = None
        self.active_since_us = 0


class SigningKeys:
    """Holds the active private key of each algorithm in memory and serves the JWKS."""

    def __init__(self, db: Database, *, master_key: bytes) -> None:
        self._db = db
        self._master_key = master_key
        self._signers = {algorithm: _Signer() for algorithm in ALGORITHMS}

    @property
    def kid(self) -> str:
        """The kid that signs access tokens."""
        return self._signers[EDDSA].kid

    async def ensure(self) -> None:
        """Load the active keys, or create the first ones."""
        async with self._db.begin() as conn:
            for algorithm in ALGORITHMS:
                if await store.active_signing_key(conn, algorithm) is None:
                    await self._create(conn, algorithm)
        await self.reload()

    async def reload(self) -> None:
        """Sign with the newest active keys (another replica may have rotated)."""
        async with self._db.read() as conn:
            rows = {a: await store.active_signing_key(conn, a) for a in ALGORITHMS}
        for algorithm, row in rows.items():
            signer = self._signers[algorithm]
            if row is None or row.kid == signer.kid:
                continue
            kid = str(row.kid)
            pem = crypto.unseal(self._master_key, row.private_key_sealed, context=kid.encode())
            loaded = serialization.load_pem_private_key(pem, password=None)
            expected = Ed25519PrivateKey if algorithm == EDDSA else rsa.RSAPrivateKey
            if not isinstance(loaded, expected):
                raise TypeError(f"signing key {kid} is not a {algorithm} key")
            signer.kid, signer.private, signer.active_since_us = kid, loaded, int(row.created_us)
            log.info("signing_key_loaded", kid=kid, algorithm=algorithm)

    async def _create(self, conn: AsyncConnection, algorithm: str) -> str:
        kid = uuid.uuid4().hex
        private, jwk = _new_key(algorithm)
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        jwk.update(kid=kid, alg=algorithm, use="sig")
        sealed = crypto.seal(self._master_key, pem, context=kid.encode())
        await store.add_signing_key(
            conn, kid=kid, algorithm=algorithm, sealed=sealed, public_jwk=jwk
        )
        return kid

    async def rotate(self, work: UnitsOfWork, *, by: Principal | None = None) -> tuple[str, str]:
        """Make new keys the signers; return (new kid, previous kid) of the access-token key.
        The outbox carries the announcement and the audit record in the same transaction."""
        retire_at = now_us() + (domain.ACCESS_TOKEN_TTL_SECONDS + RETENTION_MARGIN_SECONDS) * 10**6
        kids: dict[str, tuple[str, str]] = {}
        async with work() as uow:
            for algorithm in ALGORITHMS:
                previous = await store.active_signing_key(uow.conn, algorithm)
                previous_kid = str(previous.kid) if previous is not None else ""
                if previous is not None and not await store.supersede_signing_key(
                    uow.conn, previous_kid, retire_at_us=retire_at
                ):
                    raise RuntimeError("another replica is rotating the signing key")
                kids[algorithm] = (await self._create(uow.conn, algorithm), previous_kid)
            kid, previous_kid = kids[EDDSA]
            await uow.publish(
                events.SIGNING_KEY_ROTATED,
                events_pb2.SigningKeyRotated(kid=kid, previous_kid=previous_kid),
                entity_id=kid,
            )
            await uow.audit(
                "identity.signing_key.rotated",
                principal=by,
                resource_type="signing_key",
                resource_id=kid,
            )
        await self.reload()
        log.info("signing_key_rotated", kid=kid, previous_kid=previous_kid)
        return kid, previous_kid

    def due(self, *, rotation_hours: int) -> bool:
        oldest = min(signer.active_since_us for signer in self._signers.values())
        return now_us() - oldest >= rotation_hours * 3600 * 10**6

    async def destroy_retired(self) -> None:
        async with self._db.begin() as conn:
            destroyed = await store.destroy_retired_keys(conn)
        if destroyed:
            log.info("signing_keys_destroyed", count=destroyed)

    def sign(
        self, claims: dict[str, object], *, algorithm: str = EDDSA, typ: str = TOKEN_TYPE
    ) -> str:
        """A JWT of the claims; by default an access token (EdDSA, typ at+jwt)."""
        signer = self._signers[algorithm]
        if signer.private is None:
            raise RuntimeError("signing keys not loaded")
        return jwt.encode(
            claims, signer.private, algorithm=algorithm, headers={"kid": signer.kid, "typ": typ}
        )

    async def jwks_json(self) -> str:
        async with self._db.read() as conn:
            keys = await store.public_jwks(conn)
        return orjson.dumps({"keys": keys}).decode()
