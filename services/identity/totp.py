"""Time-based one-time passwords (RFC 6238) as authenticator apps use them.

HMAC-SHA1, 6 digits, 30-second steps. `verify` returns the time step that matched so the caller
can store it and refuse any later code whose step is not newer: a code works once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

STEP_SECONDS = 30
DIGITS = 6
SECRET_BYTES = 20  # 160 bits, the HMAC-SHA1 block-size recommendation of RFC 4226


def new_secret() -> str:
    """A fresh random secret, base32 without padding (32 characters)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii").rstrip("=")


def code_at(secret: str, at: float, *, step: int = STEP_SECONDS, digits: int = DIGITS) -> str:
    """The code an authenticator shows at Unix time `at`."""
    return _hotp(_decode(secret), _counter(at, step), digits)


def verify(
    secret: str,
    code: str,
    *,
    at: float,
    last_used_step: int | None,
    window: int = 1,
    step: int = STEP_SECONDS,
    digits: int = DIGITS,
) -> int | None:
    """The time step `code` belongs to, within `window` steps of `at`, or None.

    Steps at or before `last_used_step` never match, which refuses a replayed code.
    """
    if window < 0:
        raise ValueError("window must not be negative")
    if len(code) != digits or not (code.isascii() and code.isdigit()):
        return None
    key = _decode(secret)
    current = _counter(at, step)
    matched: int | None = None
    # Every candidate is compared, without stopping early, so timing tells nothing.
    for candidate in range(current - window, current + window + 1):
        if candidate < 0 or (last_used_step is not None and candidate <= last_used_step):
            continue
        expected = _hotp(key, candidate, digits)
        if hmac.compare_digest(expected.encode("ascii"), code.encode("ascii")) and matched is None:
            matched = candidate
    return matched


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The otpauth:// URI an authenticator app reads from a QR code (Google's key URI format)."""
    if ":" in account or ":" in issuer:
        raise ValueError("neither the account nor the issuer may contain a colon")
    if not account or not issuer:
        raise ValueError("the account and the issuer are required")
    secret = _normalise(secret)
    _decode(secret)
    label = f"{quote(issuer, safe='')}:{quote(account, safe='')}"
    query = urlencode(
        {
            "secret": secret,
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": str(DIGITS),
            "period": str(STEP_SECONDS),
        },
        quote_via=quote,  # %20 for spaces: some apps show '+' literally
    )
    return f"otpauth://totp/{label}?{query}"


def _counter(at: float, step: int) -> int:
    if step <= 0:
        raise ValueError("step must be positive")
    return int(at // step)


def _hotp(key: bytes, counter: int, digits: int) -> str:
    """RFC 4226 HOTP: HMAC-SHA1 of the counter, dynamically truncated to `digits` digits."""
    if not 6 <= digits <= 8:
        raise ValueError("digits must be between 6 and 8")
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def _normalise(secret: str) -> str:
    # Secrets are often shown in groups of four and typed in lowercase.
    return secret.replace(" ", "").replace("-", "").upper().rstrip("=")


def _decode(secret: str) -> bytes:
    text = _normalise(secret)
    try:
        key = base64.b32decode(text + "=" * (-len(text) % 8))
    except binascii.Error:
        raise ValueError("the secret is not valid base32") from None
    if not key:
        raise ValueError("the secret is empty")
    return key
