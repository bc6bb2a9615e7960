"""Partner delivery rules: subjects and NATS permissions per partner, entitlement scopes, NKEYs,
webhook endpoints and their retry schedule. Pure: no I/O."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from yarl import URL

from runtime import natsauth
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


def replay_consumer(client_id: str) -> str:
    """A partner's replay consumer, from a sequence or a time: the partners service creates it
    on request (a pull consumer filtered to the partner's own subject); the partner pulls,
    acknowledges, reads and deletes it. Never another partner's name: "replay-" begins no
    durable's, and tokens are one to one."""
    return f"replay-{token(client_id)}"


# A replay consumer unread this long is removed by the server (the partner asks for another).
REPLAY_INACTIVE_SECONDS = 120


def inbox_prefix(client_id: str) -> str:
    return f"_INBOX_{token(client_id)}"


def nats_permissions(client_id: str) -> dict[str, Any]:
    """What a partner's NATS user may do, every consumer named exactly (a wildcard over another
    partner's consumer or acknowledgement subjects would read and swallow its events): pull,
    acknowledge and read the info of its durable and of its replay consumer, delete the replay
    consumer, and hear replies on its private inbox and its own deliveries live. It creates no
    consumer: a create request's body (a push consumer's `deliver_subject`) is beyond what
    permissions see, and would have the server publish its events onto any subject; the
    partners service creates its replay consumer for it (`StartNatsReplay`). The server refuses
    everything else, the stream's info and direct gets included."""
    own = delivery_filter(client_id)
    replay = replay_consumer(client_id)
    return {
        "publish": {
            "allow": sorted(
                {
                    *natsauth.consumer_rights(STREAM, durable(client_id)),
                    *natsauth.consumer_rights(STREAM, replay),
                    f"$JS.API.CONSUMER.DELETE.{STREAM}.{replay}",
                }
            )
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
# Cloud instance metadata services answer the machine's own credentials to whoever asks: AWS,
# GCP, Huawei and OpenStack (169.254.169.254, fd00:ec2::254), AWS containers (169.254.170.2,
# .23, fd00:ec2::23), Alibaba Cloud (100.100.100.200), Tencent Cloud (169.254.0.23), Azure's
# wire server (168.63.129.16, an address in a public range) and Oracle Cloud (192.0.0.192).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.170.23",
        "169.254.0.23",
        "100.100.100.200",
        "168.63.129.16",
        "192.0.0.192",
        "fd00:ec2::254",
        "fd00:ec2::23",
    )
)
# Private ranges that `ipaddress` does not call private: shared address space (carrier-grade
# NAT, where Alibaba Cloud's metadata service lives) and IPv6's deprecated site-local range.
_PRIVATE = (
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("172.16.0.0/12"),
    ipaddress.ip_network("192.168.0.0/16"),
    ipaddress.ip_network("100.64.0.0/10"),
    ipaddress.ip_network("fec0::/10"),
)
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def webhook_host(url: str, *, allow_http: bool) -> str:
    """The host of a webhook endpoint, as aiohttp will resolve or connect to it: the URL must be
    absolute, https:// (plain http too when `allow_http`, local testing only) and without
    credentials, or InvalidArgument names `url`. Where the host points is checked on its
    addresses (`address_refusal`), by the caller that resolves them."""
    try:
        parts = URL(url)
    except (TypeError, ValueError):
        parts = URL()
    problem = ""
    credentials = parts.user is not None or parts.password is not None
    if len(url) > MAX_URL or not parts.absolute or not parts.raw_host or credentials:
        problem = "is not an absolute URL without credentials"
    elif parts.scheme != "https" and not (allow_http and parts.scheme == "http"):
        problem = "must be an https:// URL"
    if problem:
        raise InvalidArgument([FieldViolation("url", problem, "webhook-url")])
    return parts.raw_host or ""


def is_address_literal(host: str) -> bool:
    """Whether aiohttp takes this URL host for an IP address and connects to it without
    resolving it (its own test: a colon, or nothing but digits and dots)."""
    return ":" in host or host.replace(".", "").isdigit()


def address_refusal(host: str) -> str:
    """Why webhooks never go to this IP address: "cloud metadata", "unspecified", "loopback",
    "link-local", "multicast", "unique-local", "private" or "reserved"; "" for a public unicast
    address. An IPv6 address that carries an IPv4 one (IPv4-mapped, NAT64, 6to4) is judged by
    the IPv4 address it carries; anything else that is not a canonical IP address is "reserved"
    (aiohttp refuses such forms as 127.1 or 2130706433 too, and the platform never guesses)."""
    try:
        address: IPAddress = ipaddress.ip_address(host)
    except ValueError:
        return "reserved"
    if isinstance(address, ipaddress.IPv6Address):
        carried = address.ipv4_mapped or address.sixtofour
        if carried is None and address in _NAT64:
            carried = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if carried is not None:
            refusal = _refusal(carried)
            if refusal or address.sixtofour is None:
                return refusal  # a mapped or NAT64 form of a public address reaches only it
    return _refusal(address)


def _refusal(address: IPAddress) -> str:
    if address in METADATA_ADDRESSES:
        return "cloud metadata"
    if address.is_unspecified:
        return "unspecified"  # 0.0.0.0 and :: reach this machine
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address in _UNIQUE_LOCAL:
        return "unique-local"
    if any(address in network for network in _PRIVATE):
        return "private"
    if address.is_reserved or address.is_private or not address.is_global:
        return "reserved"  # documentation, benchmarking, protocol assignments, 240/4, ...
    return ""


def retry_delay(attempt: int, *, base_seconds: float) -> float:
    """Exponential backoff after the n-th failed attempt: base, 2 base, 4 base ... at most 10
    minutes."""
    return float(min(base_seconds * 2 ** (attempt - 1), 600.0))


def headers_without_transport(headers: Mapping[str, str]) -> dict[str, str]:
    """The CloudEvents attributes of a NATS message, without NATS's own headers."""
    return {k: v for k, v in headers.items() if not k.lower().startswith("nats-")}
