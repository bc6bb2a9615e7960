"""National cryptography for data at rest: SM4-GCM under the master key (Art. 39).

The master key comes from `SMARTCITY_MASTER_KEY` (32 hex digits: a 128-bit SM4 key) or, in the
embedded mode only, from a key file created once under the data directory with mode 0600.
A sealed blob is `version byte || 12-byte nonce || ciphertext || 16-byte tag`.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from runtime.config import ConfigError, Settings

_VERSION = b"\x01"
_NONCE = 12
_TAG = 16


class SealError(ValueError):
    """A sealed blob was tampered with, or sealed under another key or context."""


def master_key(settings: Settings) -> bytes:
    if settings.master_key:
        try:
            key = bytes.fromhex(settings.master_key)
        except ValueError:
            key = b""
        if len(key) != 16:
            raise ConfigError("SMARTCITY_MASTER_KEY must be 32 hex digits (a 128-bit SM4 key)")
        return key
    if settings.production:
        raise ConfigError("production mode needs SMARTCITY_MASTER_KEY (32 hex digits)")
    path: Path = settings.data_dir / "master.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(os.urandom(16).hex())
    return bytes.fromhex(path.read_text().strip())


def seal(key: bytes, plaintext: bytes, *, context: bytes) -> bytes:
    """Encrypt with SM4-GCM; `context` (e.g. the row id) is bound as associated data."""
    nonce = os.urandom(_NONCE)
    enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    enc.authenticate_additional_data(context)
    body = enc.update(plaintext) + enc.finalize()
    return _VERSION + nonce + body + enc.tag


def unseal(key: bytes, blob: bytes, *, context: bytes) -> bytes:
    if len(blob) < 1 + _NONCE + _TAG or blob[:1] != _VERSION:
        raise SealError("not a sealed blob of a known version")
    nonce, body, tag = blob[1 : 1 + _NONCE], blob[1 + _NONCE : -_TAG], blob[-_TAG:]
    dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    dec.authenticate_additional_data(context)
    try:
        return dec.update(body) + dec.finalize()
    except Exception as exc:
        raise SealError("the sealed blob does not authenticate") from exc


def _hmac_sm3(key: bytes, message: bytes) -> bytes:
    mac = hmac.HMAC(key, hashes.SM3())
    mac.update(message)
    return mac.finalize()


def keyed_hash(key: bytes, value: str, *, purpose: str) -> str:
    """HMAC-SM3 of `value` (hex) under a subkey of the master key for `purpose`: equal values
    can be found without storing them, and without the key nobody can test a guess."""
    subkey = _hmac_sm3(key, b"smartcity/keyed-hash/" + purpose.encode())
    return _hmac_sm3(subkey, value.encode()).hex()
