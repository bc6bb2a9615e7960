"""Partner delivery rules: subjects and NATS permissions per partner, entitlement scopes, NKEYs,
webhook endpoints and their retry schedule. Pure: no I/O."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from runtime.errors import FieldViolation, InvalidArgument
from services.partners.catalog import ALL, GRANTED, OWN, PARTNER_EVENTS, PartnerEvent

STREAM = "PARTNERS"
DELIVERY_PREFIX = "smartcity.partners.delivery"
_CLIENT = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")


def check_client(client_id: str, *, field: str = "client_id") -> str:
    if not _CLIENT.fullmatch(client_id):
        raise InvalidArgument([FieldViolation(field, "is not a client id", "client-id")])
    return client_id


def token(client_id: str) -> str:
    """The client id as one NATS subject token: client ids may hold dots, which would make one
    partner's subjects a prefix of another's ("demo" and "demo.partner"); "~" never occurs in a
    client id, so the mapping is one to one."""
    return client_id.replace(".", "~")


def delivery_filter(client_id: str) -> str:
    return f"{DELIVERY_PREFIX}.{token(client_id)}.>"


def delivery_subject(client_id: str, event_type: str) -> str:
    return f"{DELIVERY_PREFIX}.{token(client_id)}.{event_type}"


def durable(client_id: str) -> str:
    return f"partner-{token(client_id)}"


def inbox_prefix(client_id: str) -> str:
    return f"_INBOX_{token(client_id)}"


def nats_permissions(client_id: str) -> dict[str, Any]:
    """What a partner's NATS user may do: read its own deliveries through its durable consumer
    or consumers of its own filtered to them (a replay from a sequence or a time), acknowledge
    them, and hear replies on its private inbox. Everything else is refused by the server."""
    name = durable(client_id)
    own = delivery_filter(client_id)
    api = "$JS.API.CONSUMER"
    return {
        "publish": {
            "allow": [
                f"{api}.INFO.{STREAM}.{name}",
                f"{api}.MSG.NEXT.{STREAM}.{name}",
                f"{api}.CREATE.{STREAM}.*.{own}",
                f"{api}.MSG.NEXT.{STREAM}.*",
                f"$JS.ACK.{STREAM}.>",
                f"$JS.FC.{STREAM}.>",
            ]
        },
        "subscribe": {"allow": [own, f"{inbox_prefix(client_id)}.>"]},
    }


# --- entitlement scopes ------------------------------------------------------------------------


def partner_event(event_type: str, *, field: str = "event_type") -> PartnerEvent:
    found = PARTNER_EVENTS.get(event_type)
    if found is None:
        raise InvalidArgument(
            [
                FieldViolation(
                    field, "is not an event type partners may receive", "partner-event-type"
                )
            ]
        )
    return found


def party(client_id: str) -> str:
    return f"partner:{client_id}"


def in_scope(event: PartnerEvent, payload: Any, client_id: str, *, holds_grant: bool) -> bool:
    """Whether an entitled partner receives this event: `all`, its `own`, or the resources its
    grants cover (`holds_grant`, looked up by the caller)."""
    if event.scope == ALL:
        return True
    if event.scope == OWN:
        return bool(getattr(payload, event.key) == party(client_id))
    if event.scope == GRANTED:
        return holds_grant
    return False


# --- NKEYs ---------------------------------------------------------------------------------------

_USER_PREFIX = 20 << 3  # NKEY prefix byte of a user public key ("U")


def _crc16(data: bytes) -> int:
    """CRC-16/XMODEM, as NKEYs check their encoding."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def check_nkey(public_key: str) -> str:
    """A user NKEY public key ("U" + 55 base32 characters with its CRC), or InvalidArgument."""
    problem = ""
    try:
        raw = base64.b32decode(public_key.encode())
    except (binascii.Error, ValueError):
        raw = b""
    if len(public_key) != 56 or len(raw) != 35:
        problem = "is not an NKEY public key (56 base32 characters)"
    elif raw[0] != _USER_PREFIX:
        problem = "is not a user NKEY (it starts with U)"
    elif _crc16(raw[:33]) != int.from_bytes(raw[33:], "little"):
        problem = "fails its checksum"
    if problem:
        raise InvalidArgument([FieldViolation("public_key", problem, "nkey")])
    return public_key


def encode_nkey(raw_public_key: bytes) -> str:
    """The user NKEY of a raw Ed25519 public key (for tests and tools)."""
    body = bytes([_USER_PREFIX]) + raw_public_key
    return base64.b32encode(body + _crc16(body).to_bytes(2, "little")).decode().rstrip("=")


# --- webhooks ------------------------------------------------------------------------------------

MAX_URL = 2000


def check_webhook_url(url: str, *, production: bool) -> str:
    """An HTTPS endpoint on the internet. Outside production, plain HTTP to this machine is
    allowed too (the embedded mode and its tests)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    problem = ""
    if len(url) > MAX_URL or not host or parts.username or parts.password:
        problem = "is not an absolute URL without credentials"
    elif parts.scheme == "https":
        if production and _internal(host):
            problem = "names an internal address"
    elif parts.scheme == "http" and not production and _loopback(host):
        pass
    else:
        problem = "must be an https:// URL"
    if problem:
        raise InvalidArgument([FieldViolation("url", problem, "webhook-url")])
    return url


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _internal(host: str) -> bool:
    if host == "localhost" or host.endswith(".internal") or host.endswith(".local"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not address.is_global


def retry_delay(attempt: int, *, base_seconds: float) -> float:
    """Exponential backoff after the n-th failed attempt: base, 2 base, 4 base ... at most 10
    minutes."""
    return float(min(base_seconds * 2 ** (attempt - 1), 600.0))


def headers_without_transport(headers: Mapping[str, str]) -> dict[str, str]:
    """The CloudEvents attributes of a NATS message, without NATS's own headers."""
    return {k: v for k, v in headers.items() if not k.lower().startswith("nats-")}
