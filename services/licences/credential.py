"""The electronic licence on the wire: credential, presentation, status list, trust list, and
how a verifier checks a presentation offline. Pure: no I/O, no clock (callers pass `now`).

The format follows SD-JWT (draft-ietf-oauth-selective-disclosure-jwt) with SM3 in place of
SHA-256 and the keys service's SM2 signatures in place of JWS, and the Token Status List
(draft-ietf-oauth-status-list) with 2 bits per licence. It is SD-JWT *style*: there is no JOSE
header and the signature is not base64url, so generic SD-JWT libraries do not read it.

Encodings
---------
* `b64u`: base64url without padding (RFC 4648 §5); decoding is strict (no padding, no other
  characters, no non-zero trailing bits).
* canonical JSON: UTF-8, keys sorted, no whitespace (`orjson` with `OPT_SORT_KEYS`). Everything
  signed or hashed is canonical, and parsers refuse signed JSON that is not.
* a signature is the keys service's self-describing string `sc:<key name>:v<version>:<b64u DER>`,
  e.g. `sc:psb.licence-signing:v1:MEUCIQD...`; SM2 signatures are DER `SEQUENCE {r, s}`.
* every signature is over the SM3 digest of the canonical payload (`signing_input`); SM2 then
  hashes that digest again with SM3 and the signer's Z value, as SM2 always does.

The parts
---------
A **disclosure** reveals one claim: `b64u(canonical([salt, name, value]))` with a salt of 16
random bytes in b64u; its digest is `b64u(sm3(disclosure as ASCII))`. For example
`b64u('["hJ3kQ2...","name","张三"]')`. Names never start with `_`.

A **credential** is the issuer-signed part, `b64u(payload) + "." + signature`, payload e.g.::

    {"_sd":["3pZ...","Xq1..."],"exp":"2031-06-30","hk":"citizen","iat":1751270400,
     "id":"1.2.156.3005.2.111000000000DM01XR002.11460100MB0A10021G.0000000123.001.L","iss":"psb",
     "lt":"driving_licence","nbf":"2025-07-01","sd_alg":"sm3","st":4711,"typ":"licence","v":1}

`nbf` and `exp` are calendar dates in China Standard Time; `exp` is the last valid day
(inclusive) and `null` for a long-term licence. `st` is the licence's index in the status list.
`_sd` holds the sorted digests of all its disclosures: the claims themselves are not in it.

A **presentation** (what the QR code holds) is the credential, the chosen disclosures and a
binding, separated by `~`; there is always a trailing binding part, also with no disclosure::

    <credential>~<disclosure>~<disclosure>~<binding>
    <credential>~<binding>

The **binding** plays SD-JWT's key-binding JWT, signed by the platform's key
(holders carry no device key: the platform is the holder's wallet): `b64u(payload) + "." +
signature`, payload e.g.::

    {"exp":1751270520,"iat":1751270400,"jti":"0b0c7c1e-...",
     "lid":"1.2.156.3005.2.111000000000DM01XR002.11460100MB0A10021G.0000000123.001.L",
     "sd_hash":"Vd2...","typ":"presentation"}

`sd_hash` is `b64u(sm3(...))` of everything before the binding, including the last `~`, so no
disclosure can be added, dropped or swapped. A presentation lives at most 600 s and at most
8,192 characters.

The **status list** gives each licence 2 bits: 0 valid, 1 revoked, 2 suspended, 3 superseded.
Index i is in byte i // 4 at bit offset (i % 4) * 2, least significant bits first, and the bytes
are zlib-compressed (level 9). The platform signs `b64u(payload) + "." + signature`, payload::

    {"bits":2,"iat":1751270400,"lst":"eNrtwTEBAAAAwqD1T20ND6AAAA...","seq":812,
     "ttl":300,"typ":"status-list"}

The **trust list** (JSON, served publicly by the gateway) names each issuing department, the
licence types it may issue and its public keys, and the platform's keys::

    {"issuers": [{"department": "psb",
                  "licence_types": ["driving_licence", "id_card", "vehicle_licence"],
                  "keys": [{"name": "psb.licence-signing", "version": 1, "algorithm": "sm2",
                            "public_key_pem": "-----BEGIN PUBLIC KEY-----\\n..."}]}],
     "platform": {"keys": [{"name": "licences.platform-signing", "version": 1,
                            "algorithm": "sm2", "public_key_pem": "..."}]}}

Offline verification (`verify_offline`)
---------------------------------------
Inputs: the presentation text, the trust list, the signed status list (optional), the time.
The first step that fails decides the result; the reason never contains claim values.

1. Parse the presentation: at most 8,192 ASCII characters, `~`-separated, every part well
   formed, canonical JSON, the required claims with their types → else **malformed**.
2. The credential's issuer `iss` is in the trust list, its licence types include `lt`, and the
   credential's signing key (name and version) is one of that issuer's keys, and when the
   issuer lists `issuer_codes` (another platform's issuer), the licence id is a GB/T 36904
   identifier carrying one of them → else **forged**.
3. The issuer's signature verifies over `sm3(credential payload)` → else **forged**.
4. The binding's key is one of the platform's keys and its signature verifies over
   `sm3(binding payload)`; `sd_hash` matches, `lid` is the credential's `id`, and every
   disclosure's digest is in `_sd` → else **forged** (`parse_presentation` already finds
   these three in step 1 and raises `PresentationAltered`, which is reported as forged, not
   malformed). A binding that claims a life (`exp - iat`) outside 0 to 600 s is also
   **forged**: the platform never makes one.
5. `iat - max_skew <= now <= exp + max_skew` for the binding → else **presentation_expired**.
6. The licence's dates, in China Standard Time (UTC+8): today >= `nbf` → else
   **not_yet_valid**; today <= `exp` (unless `exp` is null) → else **expired**.
7. The status: the status list's signature verifies with a platform key, and it is not older
   than its `ttl` plus 24 hours → else **unknown_status** (also when it is missing, malformed,
   dated in the future or too short for the licence's index). Then the 2 bits at `st`:
   **revoked**, **suspended** or **superseded**; 0 means in force. A caller may pass
   `require_status=False` to skip this step when it has no list (the reason then says so).

Then the result is **valid**, with the disclosed claims (name → value). Licence id, type and
issuer are reported from step 5 on, once the signatures are known to hold.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import os
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes

from runtime import algorithms
from services.licences import identifier

__all__ = [
    "HOLDER_KINDS",
    "MAX_PRESENTATION_CHARS",
    "MAX_PRESENTATION_LIFE",
    "MAX_STATUS_LIST_BYTES",
    "RESULTS",
    "REVOKED",
    "STATUS_NAMES",
    "SUPERSEDED",
    "SUSPENDED",
    "VALID",
    "Credential",
    "CredentialError",
    "Disclosure",
    "Presentation",
    "PresentationAltered",
    "StatusList",
    "TrustList",
    "TrustedIssuer",
    "TrustedKey",
    "Verification",
    "b64u",
    "binding_payload",
    "binding_signing_input",
    "canonical",
    "compact",
    "credential_payload",
    "decode_status_list",
    "encode_status_list",
    "make_disclosures",
    "parse_credential",
    "parse_disclosure",
    "parse_presentation",
    "parse_signature",
    "parse_status_list",
    "presentation_prefix",
    "signing_input",
    "sm3",
    "status_list_payload",
    "unb64u",
    "verify_binding_signature",
    "verify_credential_signature",
    "verify_offline",
    "verify_signature",
]

FORMAT_VERSION = 1
SD_ALG = "sm3"
HOLDER_KINDS = frozenset({"citizen", "enterprise"})
SALT_BYTES = 16
MAX_PRESENTATION_CHARS = 8192
MAX_PRESENTATION_LIFE = 600  # seconds
MAX_STATUS_LIST_BYTES = 16 * 1024 * 1024  # decompressed: 64 Mi licences at 2 bits
# The compact status list: the compressed list in base64 plus a little JSON and a signature.
MAX_STATUS_LIST_CHARS = 24 * 1024 * 1024
STATUS_LIST_GRACE = 24 * 3600  # seconds a list may be used past its ttl
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")

VALID, REVOKED, SUSPENDED, SUPERSEDED = 0, 1, 2, 3
STATUS_NAMES: Mapping[int, str] = {
    VALID: "valid",
    REVOKED: "revoked",
    SUSPENDED: "suspended",
    SUPERSEDED: "superseded",
}
RESULTS = frozenset(
    {
        "valid",
        "suspended",
        "revoked",
        "superseded",
        "expired",
        "not_yet_valid",
        "forged",
        "presentation_expired",
        "malformed",
        "unknown_status",
    }
)

_B64U = re.compile(r"[A-Za-z0-9_-]*")
_SIGNATURE = re.compile(r"sc:([a-z0-9][a-z0-9._-]{1,63}):v([1-9][0-9]{0,8}):([A-Za-z0-9_-]+)")
_KEY_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_IDENTIFIER_MAX = 128


class CredentialError(ValueError):
    """Input that is not a well-formed credential, presentation, status list or trust list.
    Messages name the part and the rule, never a claim value."""


class PresentationAltered(CredentialError):
    """A well-formed presentation whose parts do not belong together: altered, swapped or
    assembled from other presentations. Verification reports it as forged, not malformed."""


# --- encodings ------------------------------------------------------------------------------


def b64u(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def unb64u(text: str) -> bytes:
    """Strict base64url without padding: one encoding per byte string, else CredentialError."""
    if not isinstance(text, str) or not _B64U.fullmatch(text) or len(text) % 4 == 1:
        raise CredentialError("not base64url without padding")
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise CredentialError("not base64url without padding") from None
    # Non-zero trailing bits decode too: refuse them so that no part has two spellings.
    if b64u(data) != text:
        raise CredentialError("not base64url in its canonical form")
    return data


def sm3(data: bytes) -> bytes:
    """The SM3 digest (GB/T 32905) of `data`: 32 bytes."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def canonical(obj: object) -> bytes:
    """Canonical JSON: UTF-8, sorted keys, no whitespace."""
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


def compact(payload: bytes, signature: str) -> str:
    """A signed part, as credentials, bindings and status lists travel: `b64u(payload).sig`."""
    return f"{b64u(payload)}.{signature}"


def parse_signature(text: str) -> tuple[str, int, bytes]:
    """(key name, version, signature bytes) of an `sc:<key>:v<version>:<b64u>` signature."""
    found = _SIGNATURE.fullmatch(text) if isinstance(text, str) else None
    if found is None:
        raise CredentialError("the signature is not a keys service signature")
    return found.group(1), int(found.group(2)), unb64u(found.group(3))


def _json_object(data: bytes, part: str) -> dict[str, Any]:
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise CredentialError(f"the {part} is not JSON") from None
    if not isinstance(obj, dict):
        raise CredentialError(f"the {part} is not a JSON object")
    # Signed JSON must be canonical: one spelling per payload, and no duplicate keys that
    # another language's parser might resolve differently.
    if canonical(obj) != data:
        raise CredentialError(f"the {part} is not canonical JSON")
    return obj


def _split_signed(text: str, part: str) -> tuple[dict[str, Any], bytes, str]:
    encoded, dot, signature = text.partition(".")  # key names may contain dots; b64u does not
    if not dot or not encoded:
        raise CredentialError(f"the {part} is not <payload>.<signature>")
    try:
        payload_bytes = unb64u(encoded)
    except CredentialError:
        raise CredentialError(f"the {part} payload is not base64url") from None
    payload = _json_object(payload_bytes, f"{part} payload")
    return payload, payload_bytes, signature


def _is_int(value: object) -> bool:
    return type(value) is int  # bool is an int too; never accept true as 1


def _is_identifier(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= _IDENTIFIER_MAX


def _is_date(value: object) -> bool:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


# --- disclosures ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Disclosure:
    """One selectively disclosable claim and its SD-JWT encoding and digest."""

    name: str
    value: object
    encoded: str
    digest: str


def _digest(encoded: str) -> str:
    return b64u(sm3(encoded.encode("ascii")))


def make_disclosures(
    claims: Mapping[str, object], *, random: Callable[[int], bytes] = os.urandom
) -> list[Disclosure]:
    """One disclosure per claim, in claim order, each with a fresh salt."""
    made = []
    for name, value in claims.items():
        if not isinstance(name, str) or not name or name.startswith("_"):
            raise CredentialError("a claim name must be a non-empty string not starting with _")
        encoded = b64u(canonical([b64u(random(SALT_BYTES)), name, value]))
        made.append(Disclosure(name=name, value=value, encoded=encoded, digest=_digest(encoded)))
    return made


def parse_disclosure(encoded: str) -> Disclosure:
    """The disclosure `encoded`, or CredentialError("malformed disclosure")."""
    try:
        obj = orjson.loads(unb64u(encoded))
    except (CredentialError, orjson.JSONDecodeError):
        raise CredentialError("malformed disclosure") from None
    if (
        not isinstance(obj, list)
        or len(obj) != 3
        or not isinstance(obj[0], str)
        or not obj[0]
        or not isinstance(obj[1], str)
        or not obj[1]
        or obj[1].startswith("_")
    ):
        raise CredentialError("malformed disclosure")
    return Disclosure(name=obj[1], value=obj[2], encoded=encoded, digest=_digest(encoded))


# --- the credential -------------------------------------------------------------------------


def credential_payload(
    *,
    licence_id: str,
    licence_type: str,
    issuer: str,
    holder_kind: str,
    issued_at: int,
    valid_from: date,
    valid_until: date | None,
    status_index: int,
    digests: Sequence[str],
) -> bytes:
    """The canonical payload the issuer signs (through `signing_input`)."""
    if holder_kind not in HOLDER_KINDS:
        raise CredentialError("the holder kind must be citizen or enterprise")
    if valid_until is not None and valid_until < valid_from:
        raise CredentialError("a licence cannot end before it starts")
    if status_index < 0:
        raise CredentialError("the status index must not be negative")
    if len(set(digests)) != len(digests):
        raise CredentialError("the disclosure digests must be distinct")
    return canonical(
        {
            "v": FORMAT_VERSION,
            "typ": "licence",
            "id": licence_id,
            "lt": licence_type,
            "iss": issuer,
            "hk": holder_kind,
            "iat": issued_at,
            "nbf": valid_from.isoformat(),
            "exp": None if valid_until is None else valid_until.isoformat(),
            "st": status_index,
            "sd_alg": SD_ALG,
            "_sd": sorted(digests),
        }
    )


def signing_input(payload: bytes) -> bytes:
    """What the issuer's key signs for a credential payload: its SM3 digest."""
    return sm3(payload)


@dataclass(frozen=True)
class Credential:
    """A parsed credential; nothing in it is trusted until its signature is verified."""

    payload: dict[str, Any]
    payload_bytes: bytes
    signature: str
    key_name: str
    key_version: int
    der: bytes
    compact: str

    @property
    def licence_id(self) -> str:
        return str(self.payload["id"])

    @property
    def licence_type(self) -> str:
        return str(self.payload["lt"])

    @property
    def issuer(self) -> str:
        return str(self.payload["iss"])


def _check_credential_claims(payload: Mapping[str, Any]) -> None:
    if not _is_int(payload.get("v")) or payload["v"] != FORMAT_VERSION:
        raise CredentialError(f"the credential is not format version {FORMAT_VERSION}")
    if payload.get("typ") != "licence":
        raise CredentialError("the credential is not a licence (typ)")
    for claim in ("id", "lt", "iss"):
        if not _is_identifier(payload.get(claim)):
            raise CredentialError(f"the credential's {claim} is missing or not a short string")
    if payload.get("hk") not in HOLDER_KINDS:
        raise CredentialError("the credential's hk is not citizen or enterprise")
    if not _is_int(payload.get("iat")) or payload["iat"] < 0:
        raise CredentialError("the credential's iat is not a time in seconds")
    if not _is_date(payload.get("nbf")):
        raise CredentialError("the credential's nbf is not a date YYYY-MM-DD")
    if "exp" not in payload or not (payload["exp"] is None or _is_date(payload["exp"])):
        raise CredentialError("the credential's exp is not a date YYYY-MM-DD or null")
    if not _is_int(payload.get("st")) or payload["st"] < 0:
        raise CredentialError("the credential's st is not a status list index")
    if payload.get("sd_alg") != SD_ALG:
        raise CredentialError(f"the credential's sd_alg is not {SD_ALG}")
    digests = payload.get("_sd")
    if (
        not isinstance(digests, list)
        or not all(isinstance(d, str) and len(d) == 43 for d in digests)
        or len(set(digests)) != len(digests)
    ):
        raise CredentialError("the credential's _sd is not a list of distinct SM3 digests")


def parse_credential(compact: str) -> Credential:
    """The credential `compact` (`b64u(payload).signature`), its shape and claims checked."""
    payload, payload_bytes, signature = _split_signed(compact, "credential")
    _check_credential_claims(payload)
    key_name, key_version, der = parse_signature(signature)
    return Credential(
        payload=payload,
        payload_bytes=payload_bytes,
        signature=signature,
        key_name=key_name,
        key_version=key_version,
        der=der,
        compact=compact,
    )


# --- the presentation -----------------------------------------------------------------------


def presentation_prefix(credential: str, disclosures: Sequence[str]) -> str:
    """Everything before the binding, up to and including the last `~`: what `sd_hash`
    covers."""
    return credential + "~" + "".join(f"{d}~" for d in disclosures)


def _sd_hash(prefix: str) -> str:
    return b64u(sm3(prefix.encode("ascii")))


def binding_payload(
    *, prefix: str, presentation_id: str, licence_id: str, issued_at: int, expires_at: int
) -> bytes:
    """The canonical binding payload the platform signs (through `binding_signing_input`)."""
    if not 0 <= expires_at - issued_at <= MAX_PRESENTATION_LIFE:
        raise CredentialError(f"a presentation lives 0 to {MAX_PRESENTATION_LIFE} seconds")
    return canonical(
        {
            "typ": "presentation",
            "jti": presentation_id,
            "lid": licence_id,
            "iat": issued_at,
            "exp": expires_at,
            "sd_hash": _sd_hash(prefix),
        }
    )


def binding_signing_input(payload: bytes) -> bytes:
    """What the platform key signs for a binding payload: its SM3 digest."""
    return sm3(payload)


@dataclass(frozen=True)
class Presentation:
    """A parsed presentation. Its parts are known to belong together (sd_hash, lid, digests),
    but no signature has been verified yet."""

    credential: Credential
    disclosures: tuple[Disclosure, ...]
    binding_payload: dict[str, Any]
    binding_payload_bytes: bytes
    binding_signature: str
    prefix: str
    text: str

    @property
    def binding_key(self) -> tuple[str, int, bytes]:
        """(key name, version, signature bytes) of the binding's signature."""
        return parse_signature(self.binding_signature)

    @property
    def disclosed(self) -> dict[str, object]:
        return {d.name: d.value for d in self.disclosures}


def _check_binding_claims(payload: Mapping[str, Any]) -> None:
    if payload.get("typ") != "presentation":
        raise CredentialError("the binding is not a presentation binding (typ)")
    for claim in ("jti", "lid", "sd_hash"):
        if not _is_identifier(payload.get(claim)):
            raise CredentialError(f"the binding's {claim} is missing or not a short string")
    for claim in ("iat", "exp"):
        if not _is_int(payload.get(claim)) or payload[claim] < 0:
            raise CredentialError(f"the binding's {claim} is not a time in seconds")


# A licence's credential and disclosures come back in every presentation of it: parsed once per
# process (the results are shared: never mutate them). Refusals raise, and are not kept.
_parse_credential_once = functools.lru_cache(maxsize=4096)(parse_credential)
_parse_disclosure_once = functools.lru_cache(maxsize=16384)(parse_disclosure)


def parse_presentation(text: str) -> Presentation:
    """The presentation `text`, or CredentialError (`PresentationAltered` when well formed but
    its parts do not belong together)."""
    if not isinstance(text, str) or len(text) > MAX_PRESENTATION_CHARS:
        raise CredentialError(f"a presentation is at most {MAX_PRESENTATION_CHARS} characters")
    if not text.isascii():
        raise CredentialError("a presentation is ASCII")
    parts = text.split("~")
    if len(parts) < 2:
        raise CredentialError("a presentation is <credential>~[<disclosure>~...]<binding>")
    credential = _parse_credential_once(parts[0])
    binding, binding_bytes, binding_signature = _split_signed(parts[-1], "binding")
    _check_binding_claims(binding)
    parse_signature(binding_signature)
    disclosures = tuple(_parse_disclosure_once(encoded) for encoded in parts[1:-1])
    if len({d.encoded for d in disclosures}) != len(disclosures):
        raise CredentialError("a disclosure appears twice")
    if len({d.name for d in disclosures}) != len(disclosures):
        raise CredentialError("two disclosures reveal the same claim")
    prefix = presentation_prefix(parts[0], parts[1:-1])
    if not hmac.compare_digest(_sd_hash(prefix), binding["sd_hash"]):
        raise PresentationAltered("the presentation was altered")
    if binding["lid"] != credential.payload["id"]:
        raise PresentationAltered("the binding belongs to another licence")
    digests = set(credential.payload["_sd"])
    if any(d.digest not in digests for d in disclosures):
        raise PresentationAltered("a disclosure is not part of the licence")
    return Presentation(
        credential=credential,
        disclosures=disclosures,
        binding_payload=binding,
        binding_payload_bytes=binding_bytes,
        binding_signature=binding_signature,
        prefix=prefix,
        text=text,
    )


# --- the status list ------------------------------------------------------------------------


def encode_status_list(statuses: Mapping[int, int], *, size: int) -> bytes:
    """The zlib-compressed list of `size` 2-bit statuses; indexes not in `statuses` are 0."""
    if size < 0:
        raise CredentialError("a status list size is not negative")
    raw = bytearray((size + 3) // 4)
    for index, status in statuses.items():
        if not 0 <= index < size:
            raise CredentialError(f"status index {index} is outside a list of {size}")
        if status not in STATUS_NAMES:
            raise CredentialError(f"status {status} is not one of 0 to 3")
        raw[index // 4] |= status << (index % 4 * 2)
    return zlib.compress(bytes(raw), level=9)


@dataclass(frozen=True)
class StatusList:
    """The decompressed list: 4 licences per byte, least significant bits first."""

    raw: bytes

    def __len__(self) -> int:
        return len(self.raw) * 4

    def status(self, index: int) -> int:
        if not 0 <= index < len(self.raw) * 4:
            raise CredentialError("the status list does not cover this index")
        return (self.raw[index // 4] >> (index % 4 * 2)) & 0b11


def decode_status_list(compressed: bytes) -> StatusList:
    """The list in `compressed`; refuses more than 16 MiB once decompressed (zip bombs)."""
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(compressed, MAX_STATUS_LIST_BYTES + 1)
    except zlib.error:
        raise CredentialError("the status list is not zlib data") from None
    if len(raw) > MAX_STATUS_LIST_BYTES or inflater.unconsumed_tail:
        raise CredentialError("the status list decompresses to more than 16 MiB")
    if not inflater.eof or inflater.unused_data:
        raise CredentialError("the status list is truncated or has trailing data")
    return StatusList(raw=raw)


def status_list_payload(*, compressed: bytes, issued_at: int, ttl: int, sequence: int) -> bytes:
    """The canonical status list payload the platform signs over `sm3(payload)`."""
    return canonical(
        {
            "typ": "status-list",
            "bits": 2,
            "lst": b64u(compressed),
            "iat": issued_at,
            "ttl": ttl,
            "seq": sequence,
        }
    )


def parse_status_list(compact: str) -> tuple[dict[str, Any], bytes, str]:
    """(payload, payload bytes, signature) of a signed status list; the list itself (`lst`)
    is decoded by `decode_status_list(unb64u(payload["lst"]))`."""
    if not isinstance(compact, str) or len(compact) > MAX_STATUS_LIST_CHARS:
        raise CredentialError("the status list is too long")
    payload, payload_bytes, signature = _split_signed(compact.strip(), "status list")
    if payload.get("typ") != "status-list" or payload.get("bits") != 2:
        raise CredentialError("the status list is not a 2-bit status list (typ, bits)")
    if not isinstance(payload.get("lst"), str):
        raise CredentialError("the status list has no lst")
    for claim in ("iat", "ttl", "seq"):
        if not _is_int(payload.get(claim)) or payload[claim] < 0:
            raise CredentialError(f"the status list's {claim} is not a non-negative integer")
    parse_signature(signature)
    return payload, payload_bytes, signature


# --- the trust list -------------------------------------------------------------------------


@dataclass(frozen=True)
class TrustedKey:
    name: str
    version: int
    algorithm: str
    public_key_pem: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "algorithm": self.algorithm,
            "public_key_pem": self.public_key_pem,
        }


@dataclass(frozen=True)
class TrustedIssuer:
    """An issuing department: the licence types it may issue and its signing keys."""

    department: str
    licence_types: frozenset[str]
    keys: Mapping[tuple[str, int], TrustedKey]
    # An issuer of another platform (another city's, another province's) publishes the keys of
    # its own platform too: they, and only they, sign its presentations' bindings and the status
    # list of its licences. Empty: this platform's keys do.
    platform_keys: Mapping[tuple[str, int], TrustedKey] = field(default_factory=dict)
    # The GB/T 36904 issuer codes another platform's issuer vouches for: its licences'
    # identifiers must carry one of them (empty: not checked, as for this platform's issuers).
    issuer_codes: frozenset[str] = frozenset()
    # Configured from outside this platform (another platform's issuer), marked so in the list.
    external: bool = False


@dataclass(frozen=True)
class TrustList:
    """Whom a verifier trusts: issuers by department, and the platform's keys (bindings and
    status lists)."""

    issuers: Mapping[str, TrustedIssuer]
    platform_keys: Mapping[tuple[str, int], TrustedKey]

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> TrustList:
        """The trust list in `obj` (the gateway's JSON), or CredentialError naming the field."""
        if not isinstance(obj, Mapping):
            raise CredentialError("the trust list is not a JSON object")
        issuers_json = obj.get("issuers")
        if not isinstance(issuers_json, list):
            raise CredentialError("trust list: issuers must be a list")
        seen_pems: set[str] = set()
        issuers: dict[str, TrustedIssuer] = {}
        for i, entry in enumerate(issuers_json):
            at = f"issuers[{i}]"
            if not isinstance(entry, Mapping):
                raise CredentialError(f"trust list: {at} must be an object")
            department = entry.get("department")
            if not isinstance(department, str) or not _is_identifier(department):
                raise CredentialError(f"trust list: {at}.department must be a short string")
            if department in issuers:
                raise CredentialError(f"trust list: {at}.department appears twice")
            types = entry.get("licence_types")
            if not isinstance(types, list) or not all(_is_identifier(t) for t in types):
                raise CredentialError(f"trust list: {at}.licence_types must be a list of strings")
            own_platform = entry.get("platform_keys", [])
            codes = entry.get("issuer_codes", [])
            if not isinstance(codes, list) or not all(_is_identifier(c) for c in codes):
                raise CredentialError(f"trust list: {at}.issuer_codes must be a list of strings")
            external = entry.get("external", False)
            if not isinstance(external, bool):
                raise CredentialError(f"trust list: {at}.external must be true or false")
            issuers[department] = TrustedIssuer(
                department=department,
                licence_types=frozenset(types),
                keys=_keys(entry.get("keys"), at=f"{at}.keys", seen_pems=seen_pems),
                platform_keys=_keys(own_platform, at=f"{at}.platform_keys", seen_pems=seen_pems),
                issuer_codes=frozenset(codes),
                external=external,
            )
        platform = obj.get("platform")
        if not isinstance(platform, Mapping):
            raise CredentialError("trust list: platform must be an object")
        platform_keys = _keys(platform.get("keys"), at="platform.keys", seen_pems=seen_pems)
        return cls(issuers=issuers, platform_keys=platform_keys)

    def to_json(self) -> dict[str, Any]:
        return {
            "issuers": [
                {
                    "department": issuer.department,
                    "licence_types": sorted(issuer.licence_types),
                    "keys": [issuer.keys[k].to_json() for k in sorted(issuer.keys)],
                    **(
                        {
                            "platform_keys": [
                                issuer.platform_keys[k].to_json()
                                for k in sorted(issuer.platform_keys)
                            ]
                        }
                        if issuer.platform_keys
                        else {}
                    ),
                    **(
                        {"issuer_codes": sorted(issuer.issuer_codes)} if issuer.issuer_codes else {}
                    ),
                    **({"external": True} if issuer.external else {}),
                }
                for issuer in sorted(self.issuers.values(), key=lambda i: i.department)
            ],
            "platform": {
                "keys": [self.platform_keys[k].to_json() for k in sorted(self.platform_keys)]
            },
        }


def _keys(keys_json: object, *, at: str, seen_pems: set[str]) -> dict[tuple[str, int], TrustedKey]:
    if not isinstance(keys_json, list):
        raise CredentialError(f"trust list: {at} must be a list")
    keys: dict[tuple[str, int], TrustedKey] = {}
    for j, entry in enumerate(keys_json):
        where = f"{at}[{j}]"
        if not isinstance(entry, Mapping):
            raise CredentialError(f"trust list: {where} must be an object")
        name, version = entry.get("name"), entry.get("version")
        algorithm, pem = entry.get("algorithm"), entry.get("public_key_pem")
        if not isinstance(name, str) or not _KEY_NAME.fullmatch(name):
            raise CredentialError(f"trust list: {where}.name is not a key name")
        if not isinstance(version, int) or isinstance(version, bool) or not 0 < version < 10**9:
            raise CredentialError(f"trust list: {where}.version must be a positive integer")
        try:
            spec = algorithms.require(str(algorithm), "sign")
        except algorithms.AlgorithmError:
            raise CredentialError(
                f"trust list: {where}.algorithm is not a signing algorithm"
            ) from None
        if not isinstance(pem, str) or not _loads_as(spec.name, pem):
            raise CredentialError(f"trust list: {where}.public_key_pem is not a {spec.name} key")
        # One key, one role: an issuer key listed for another issuer (or as a platform key)
        # would let one sign what only the other may.
        if pem.strip() in seen_pems or (name, version) in keys:
            raise CredentialError(f"trust list: {where} appears twice")
        seen_pems.add(pem.strip())
        keys[(name, version)] = TrustedKey(
            name=name, version=version, algorithm=spec.name, public_key_pem=pem
        )
    return keys


def _loads_as(algorithm: str, pem: str) -> bool:
    # Verifying an empty signature loads the key and then fails: the schemes offer no
    # separate "load a public key", and InvalidKeyMaterial is exactly the answer wanted.
    try:
        algorithms.signing_scheme(algorithm).verify(pem.encode(), b"", signature=b"")
    except (algorithms.AlgorithmError, UnicodeEncodeError):
        return False
    return True


def verify_signature(key: TrustedKey, message: bytes, der: bytes) -> bool:
    """Whether `der` is `key`'s signature of `message`; False for any bad signature."""
    try:
        return algorithms.signing_scheme(key.algorithm).verify(
            key.public_key_pem.encode(), message, signature=der
        )
    except algorithms.AlgorithmError:
        return False


def verify_credential_signature(credential: Credential, trust: TrustList) -> str | None:
    """Steps 2 and 3: None when the issuer is trusted for this licence type and its key signed
    the credential, else the reason it is forged. Depends only on the credential and the trust
    list, so the online service may cache it per credential and trust list."""
    issuer = trust.issuers.get(credential.issuer)
    if issuer is None:
        return "the issuer is not in the trust list"
    if credential.licence_type not in issuer.licence_types:
        return "the issuer does not issue this licence type"
    key = issuer.keys.get((credential.key_name, credential.key_version))
    if key is None:
        return (
            f"the licence was signed with key {credential.key_name} "
            f"v{credential.key_version}, which is not one of its issuer's keys"
        )
    if not verify_signature(key, signing_input(credential.payload_bytes), credential.der):
        return "the issuer's signature does not verify: the licence was altered or forged"
    if issuer.issuer_codes and _issuer_code(credential.licence_id) not in issuer.issuer_codes:
        # another platform's issuer vouches for its own identifiers only, never for ours
        return "the licence's identifier names an issuer code its issuer does not vouch for"
    return None


def _issuer_code(licence_id: str) -> str | None:
    try:
        return identifier.parse(licence_id).issuer_code
    except identifier.IdentifierPartError:
        return None


def verify_binding_signature(presentation: Presentation, trust: TrustList) -> str | None:
    """Step 4's signature: None when one of the keys that bind the credential's issuer's
    presentations signed this one, else the reason it is forged."""
    return _verify_binding_signature(presentation, trust)


def platform_keys_for(trust: TrustList, issuer: str) -> Mapping[tuple[str, int], TrustedKey]:
    """The keys that sign the bindings and the status list of `issuer`'s licences: its own
    platform's when it publishes them (another platform's issuer), else this platform's."""
    found = trust.issuers.get(issuer)
    if found is not None and found.platform_keys:
        return found.platform_keys
    return trust.platform_keys


def _verify_binding_signature(presentation: Presentation, trust: TrustList) -> str | None:
    name, version, der = presentation.binding_key
    key = platform_keys_for(trust, presentation.credential.issuer).get((name, version))
    if key is None:
        return f"the presentation was signed with key {name} v{version}, not a platform key"
    message = binding_signing_input(presentation.binding_payload_bytes)
    if not verify_signature(key, message, der):
        return "the platform's signature on the presentation does not verify"
    return None


# --- offline verification -------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """The outcome of verifying a presentation. `disclosed` is filled only when valid."""

    result: str  # one of RESULTS
    reason: str  # precise, for people; never a claim value
    licence_id: str = ""
    licence_type: str = ""
    issuer: str = ""
    disclosed: Mapping[str, object] = field(default_factory=dict)
    presentation_id: str = ""
    expires_at: int = 0


def _status_of(
    text: str, *, index: int, issuer: str, trust: TrustList, now: float, max_skew: int
) -> tuple[str, str]:
    """(result, reason) of step 7 for the licence at `index` of `issuer`."""
    try:
        payload, payload_bytes, signature = parse_status_list(text)
        name, version, der = parse_signature(signature)
    except CredentialError as exc:
        return "unknown_status", f"the status list is malformed: {exc}"
    key = platform_keys_for(trust, issuer).get((name, version))
    if key is None:
        return "unknown_status", "the status list is not signed by a platform key"
    if not verify_signature(key, sm3(payload_bytes), der):
        return "unknown_status", "the status list's signature does not verify"
    if payload["iat"] > now + max_skew:
        return "unknown_status", "the status list is dated in the future"
    if now > payload["iat"] + payload["ttl"] + STATUS_LIST_GRACE:
        return "unknown_status", "the status list is out of date"
    try:
        status = decode_status_list(unb64u(payload["lst"])).status(index)
    except CredentialError as exc:
        return "unknown_status", f"the status list cannot be read: {exc}"
    if status == VALID:
        return "valid", "the licence is valid and in force"
    return STATUS_NAMES[status], f"the licence is {STATUS_NAMES[status]}"


def _about(
    presentation: Presentation,
    result: str,
    reason: str,
    *,
    disclosed: Mapping[str, object] | None = None,
) -> Verification:
    credential, binding = presentation.credential, presentation.binding_payload
    return Verification(
        result=result,
        reason=reason,
        licence_id=credential.licence_id,
        licence_type=credential.licence_type,
        issuer=credential.issuer,
        disclosed={} if disclosed is None else dict(disclosed),
        presentation_id=str(binding["jti"]),
        expires_at=int(binding["exp"]),
    )


def verify_offline(  # noqa: C901 (each step of the offline check, each a named failure)
    text: str,
    *,
    trust: TrustList,
    status_list: str | None,
    now: float,
    max_skew: int = 30,
    require_status: bool = True,
) -> Verification:
    """Verify a presentation with no network: the steps in this module's docstring. Never
    raises for bad input: every outcome is a `Verification`."""
    # 1. parse; parts that do not belong together are a forgery, not a typo
    try:
        presentation = parse_presentation(text)
    except PresentationAltered as exc:
        return Verification("forged", str(exc))
    except CredentialError as exc:
        return Verification("malformed", str(exc))
    credential, binding = presentation.credential, presentation.binding_payload
    # 2, 3. the issuer, its licence types, its key and its signature
    forged = verify_credential_signature(credential, trust)
    # 4. the platform's binding (the parser checked sd_hash, lid and the digests)
    if forged is None:
        forged = _verify_binding_signature(presentation, trust)
    if forged is None and not 0 <= binding["exp"] - binding["iat"] <= MAX_PRESENTATION_LIFE:
        forged = f"the presentation claims a life beyond {MAX_PRESENTATION_LIFE} seconds"
    if forged is not None:
        return Verification("forged", forged)
    # 5. the presentation's own life
    if now < binding["iat"] - max_skew:
        reason = "the presentation is dated in the future: check this device's clock"
        return _about(presentation, "presentation_expired", reason)
    if now > binding["exp"] + max_skew:
        reason = "the presentation has expired: ask the holder for a new code"
        return _about(presentation, "presentation_expired", reason)
    # 6. the licence's dates, as calendar days in China Standard Time
    today = datetime.fromtimestamp(now, tz=CHINA_STANDARD_TIME).date()
    if today < date.fromisoformat(credential.payload["nbf"]):
        return _about(presentation, "not_yet_valid", "the licence is not valid yet")
    until = credential.payload["exp"]
    if until is not None and today > date.fromisoformat(until):
        return _about(presentation, "expired", "the licence has expired")
    # 7. the status
    if status_list is not None:
        result, reason = _status_of(
            status_list,
            index=credential.payload["st"],
            issuer=credential.issuer,
            trust=trust,
            now=now,
            max_skew=max_skew,
        )
    elif require_status:
        result, reason = "unknown_status", "no status list: the licence's status is unknown"
    else:
        result, reason = "valid", "the licence is valid (its status was not checked)"
    if result != "valid":
        return _about(presentation, result, reason)
    return _about(presentation, result, reason, disclosed=presentation.disclosed)
