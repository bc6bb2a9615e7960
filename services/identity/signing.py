"""The keys that sign access tokens: Ed25519 (EdDSA), each with a `kid`, sealed at rest.

JWT verifiers everywhere speak EdDSA; the national suite signs licences and audit records instead.
"""

from __future__ import annotations

import uuid
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from runtime import crypto
from runtime.storage import Database
from services.identity import store

ALGORITHM = "EdDSA"


class SigningKeys:
    """Holds the active private key in memory (unsealed once) and serves the JWKS."""

    def __init__(self, db: Database, *, master_key: bytes) -> None:
        self._db = db
        self._master_key = master_key
        self._kid = ""
        self._private: Ed25519PrivateKey | None = None

    async def ensure(self) -> None:
        """Load the active key, or create the first one."""
        async with self._db.begin() as conn:
            row = await store.active_signing_key(conn)
            if row is None:
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
            else:
                kid = str(row.kid)
                pem = crypto.unseal(self._master_key, row.private_key_sealed, context=kid.encode())
                loaded = serialization.load_pem_private_key(pem, password=None)
                if not isinstance(loaded, Ed25519PrivateKey):
                    raise TypeError(f"signing key {kid} is not Ed25519")
                private = loaded
        self._kid, self._private = kid, private

    def sign(self, claims: dict[str, object]) -> str:
        if self._private is None:
            raise RuntimeError("signing keys not loaded")
        return jwt.encode(claims, self._private, algorithm=ALGORITHM, headers={"kid": self._kid})

    async def jwks_json(self) -> str:
        async with self._db.read() as conn:
            keys = await store.public_jwks(conn)
        return orjson.dumps({"keys": keys}).decode()
