"""Webhook signatures, as the Standard Webhooks specification defines them (HMAC-SHA256).

Each delivery carries three headers:

    webhook-id: <the event's id>            (the same on every retry of the event)
    webhook-timestamp: <unix seconds>       (when this attempt was signed)
    webhook-signature: v1,<base64 signature>

with signature = base64(HMAC-SHA256(key, f"{webhook-id}.{webhook-timestamp}.{body}")) and key =
base64-decoded part of the endpoint's secret after "whsec_". To verify a delivery (`verify`,
standard library only, so that a partner may copy this file):

1. recompute the signature over the raw body and compare in constant time with each `v1,`
   signature of the header (several are sent while a secret rotates);
2. refuse a timestamp more than 5 minutes away from your clock (a replay of an old delivery);
3. remember the webhook-ids you processed for longer than that and ignore repeats (a retry
   of a delivery you already handled, or a replay within the 5 minutes).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping

PREFIX = "whsec_"
TOLERANCE_SECONDS = 300


class WebhookVerificationError(ValueError):
    """The delivery is not authentic or not fresh; the message says which."""


def new_secret() -> str:
    return PREFIX + base64.b64encode(os.urandom(32)).decode()


def _key(secret: str) -> bytes:
    if not secret.startswith(PREFIX):
        raise WebhookVerificationError("the secret does not start with whsec_")
    return base64.b64decode(secret[len(PREFIX) :])


def sign(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """Raise WebhookVerificationError unless the delivery was signed with `secret`, recently."""
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id", "")
    stamp = lowered.get("webhook-timestamp", "")
    signatures = lowered.get("webhook-signature", "")
    if not msg_id or not stamp or not signatures:
        raise WebhookVerificationError("the webhook-id, -timestamp and -signature are required")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError("the timestamp is not a number") from None
    if abs(now - timestamp) > tolerance:
        raise WebhookVerificationError("the timestamp is too old or too new")
    expected = sign(secret, msg_id=msg_id, timestamp=timestamp, body=body)
    for candidate in signatures.split():
        if hmac.compare_digest(candidate, expected):
            return
    raise WebhookVerificationError("no signature matches")
