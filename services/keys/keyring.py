"""The keys in use, in memory: each key's configuration, cached for a moment so that a change made
by another replica (rotation, policy, deletion) takes effect within a second, and each version's
unsealed material, which never changes and stays cached until the key is destroyed."""

from __future__ import annotations

import time

from runtime import crypto
from runtime.errors import FailedPrecondition, NotFound
from runtime.storage import Database
from services.keys import domain, store
from services.keys.domain import KeyInfo

CONFIG_TTL_SECONDS = 1.0


def sealing_context(name: str, version: int) -> bytes:
    return f"key:{name}:v{version}".encode()


class Keyring:
    def __init__(self, db: Database, *, master_key: bytes) -> None:
        self._db = db
        self._master_key = master_key
        self._config: dict[str, tuple[float, KeyInfo]] = {}
        self._material: dict[tuple[str, int], bytes] = {}
        self._public: dict[tuple[str, int], bytes] = {}

    def seal(self, name: str, version: int, material: bytes) -> bytes:
        return crypto.seal(self._master_key, material, context=sealing_context(name, version))

    def forget(self, name: str) -> None:
        self._config.pop(name, None)
        for cache in (self._material, self._public):
            for key in [k for k in cache if k[0] == name]:
                del cache[key]

    async def key(self, name: str) -> KeyInfo:
        cached = self._config.get(name)
        if cached is not None and time.monotonic() - cached[0] < CONFIG_TTL_SECONDS:
            return cached[1]
        async with self._db.read() as conn:
            key = await store.get_key(conn, name) if name else None
        if key is None:
            raise NotFound("key", name)
        self._config[name] = (time.monotonic(), key)
        return key

    async def usable(self, name: str) -> KeyInfo:
        key = await self.key(name)
        if key.state == domain.PENDING_DELETION:
            raise FailedPrecondition(f"key {name} is pending deletion: cancel it to use the key")
        if key.state == domain.DELETED:
            raise FailedPrecondition(f"key {name} is destroyed")
        return key

    def check_version(self, key: KeyInfo, version: int, *, field_name: str) -> None:
        if version > key.latest_version:
            raise FailedPrecondition(f"{field_name} names version {version}, which does not exist")
        if version < key.min_decryption_version:
            raise FailedPrecondition(
                f"{field_name} was made with version {version}, below the key's "
                f"min_decryption_version {key.min_decryption_version}: rewrap newer data"
            )

    async def material(self, key: KeyInfo, version: int) -> bytes:
        found = self._material.get((key.name, version))
        if found is not None:
            return found
        async with self._db.read() as conn:
            row = await store.version_row(conn, key.name, version)
        if row is None or not row.material_sealed:
            raise FailedPrecondition(f"version {version} of key {key.name} has no material")
        material = crypto.unseal(
            self._master_key, row.material_sealed, context=sealing_context(key.name, version)
        )
        self._material[(key.name, version)] = material
        return material

    async def public_key_pem(self, key: KeyInfo, version: int) -> bytes:
        found = self._public.get((key.name, version))
        if found is not None:
            return found
        async with self._db.read() as conn:
            row = await store.version_row(conn, key.name, version)
        if row is None or not row.public_key_pem:
            raise NotFound("public key", f"{key.name} v{version}")
        pem = str(row.public_key_pem).encode()
        self._public[(key.name, version)] = pem
        return pem
