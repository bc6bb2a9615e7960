"""Personal data at rest: identity numbers, profiles and TOTP secrets are SM4-GCM sealed under
the master key, bound to their row; identity numbers are also kept as keyed hashes so that a
duplicate can be found without decrypting anything."""

from __future__ import annotations

import orjson

from runtime import crypto
from services.identity.domain import Profile


class PersonalData:
    def __init__(self, master_key: bytes) -> None:
        self._key = master_key

    def _seal(self, kind: str, owner: str, value: str) -> bytes:
        return crypto.seal(self._key, value.encode(), context=f"{kind}:{owner}".encode())

    def _open(self, kind: str, owner: str, blob: bytes) -> str:
        return crypto.unseal(self._key, blob, context=f"{kind}:{owner}".encode()).decode()

    def identity_number_hash(self, number: str, *, kind: str) -> str:
        return crypto.keyed_hash(self._key, number, purpose=kind)

    def seal_identity_number(self, number: str, *, kind: str, owner: str) -> bytes:
        return self._seal(kind, owner, number)

    def open_identity_number(self, blob: bytes, *, kind: str, owner: str) -> str:
        return self._open(kind, owner, blob)

    def seal_profile(self, profile: Profile, *, owner: str) -> bytes:
        data = {"display_name": profile.display_name, "phone": profile.phone}
        return self._seal("profile", owner, orjson.dumps(data).decode())

    def open_profile(self, blob: bytes | None, *, owner: str) -> Profile:
        if not blob:
            return Profile()
        data = orjson.loads(self._open("profile", owner, blob))
        return Profile(display_name=data.get("display_name", ""), phone=data.get("phone", ""))

    def seal_totp(self, secret: str, *, owner: str) -> bytes:
        return self._seal("totp", owner, secret)

    def open_totp(self, blob: bytes, *, owner: str) -> str:
        return self._open("totp", owner, blob)
