"""Password and client-secret hashing: argon2id, off the event loop."""

from __future__ import annotations

import asyncio

import argon2

_hasher = argon2.PasswordHasher()  # argon2id with the library's current recommended costs
# Checked when the username is unknown, so that both failures take the same time.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


def _matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


async def matches(password_hash: str | None, password: str) -> bool:
    """Whether the password matches; with no hash (unknown account), as slow as a real check.
    argon2id costs tens of milliseconds of CPU: it runs in a worker thread."""
    ok = await asyncio.to_thread(_matches, password_hash or _DUMMY_HASH, password)
    return ok and password_hash is not None


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)
