"""Other platforms' licence issuers this platform trusts, from the file that
`SMARTCITY_LICENCE_TRUSTED_ISSUERS` names (runtime.config).

Guarantee: the licences service starts only with a file every entry of which is sound (its SM2
keys parse, its issuer codes are GB/T 36904 issuer codes and its own: no department's of ours, no
other entry's; its name is no department of ours and appears once, it names its own platform's
keys); else `ConfigError` names the entry and what is wrong. Each entry vouches for its own
issuer only: its keys sign its licences, its platform's keys bind its presentations and sign its
status list, and its licences' identifiers must carry one of its issuer codes
(`credential.verify_credential_signature`).

The file::

    {"issuers": [{"department": "hefei", "issuer_codes": ["340100"],
                  "licence_types": ["driving_licence"],
                  "keys": [{"name": "hefei.licence-signing", "version": 1, "algorithm": "sm2",
                            "public_key_pem": "-----BEGIN PUBLIC KEY-----\\n..."}],
                  "platform_keys": [{"name": "hefei.platform-signing", ...}]}]}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from runtime.config import ConfigError
from runtime.departments import DEPARTMENTS
from services.licences import identifier
from services.licences.credential import CredentialError, TrustList

VARIABLE = "SMARTCITY_LICENCE_TRUSTED_ISSUERS"
MAX_FILE_BYTES = 1024 * 1024


def load(path: str, *, own_departments: Iterable[str]) -> list[dict[str, Any]]:
    """The external issuers' trust-list entries (marked external), none when `path` is empty."""
    if not path:
        return []
    try:
        raw = Path(path).read_bytes()[: MAX_FILE_BYTES + 1]
    except OSError as exc:
        raise ConfigError(f"{VARIABLE}: cannot read the file ({exc.strerror})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"{VARIABLE}: the file is larger than {MAX_FILE_BYTES} bytes")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ConfigError(f"{VARIABLE}: the file is not JSON") from None
    if not isinstance(obj, Mapping) or not isinstance(obj.get("issuers"), list):
        raise ConfigError(f'{VARIABLE}: the file must be an object with an "issuers" list')
    return parse(obj["issuers"], own_departments=frozenset(own_departments))


def parse(entries: list[Any], *, own_departments: frozenset[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for i, entry in enumerate(entries):
        found.append(_entry(entry, at=f"issuers[{i}]", own_departments=own_departments))
    names = [e["department"] for e in found]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"{VARIABLE}: issuers[{i}] ({name}): the department appears twice")
    _check_codes_are_their_own(found, own_departments=own_departments)
    # All of them together, as the published list will hold them: a key listed twice (for two
    # issuers, or as an issuer's and a platform's key) would let one sign what the other may.
    try:
        TrustList.from_json({"issuers": found, "platform": {"keys": []}})
    except CredentialError as exc:
        raise ConfigError(f"{VARIABLE}: {exc}") from None
    return found


def _check_codes_are_their_own(
    found: list[dict[str, Any]], *, own_departments: frozenset[str]
) -> None:
    """An issuer code belongs to one issuer: never one of this platform's departments' (another
    platform's licences would read as ours), never two entries' (each could pass for the other)."""
    owner = {DEPARTMENTS[d].credit_code: None for d in own_departments if d in DEPARTMENTS}
    for i, entry in enumerate(found):
        for j, code in enumerate(entry["issuer_codes"]):
            at = f"issuers[{i}] ({entry['department'][:64]}).issuer_codes[{j}]"
            if code in owner:
                held = owner[code]
                whose = "one of this platform's own" if held is None else f"{held}'s too"
                raise ConfigError(f"{VARIABLE}: {at}: the issuer code is {whose}")
            owner[code] = entry["department"][:64]


def _entry(entry: object, *, at: str, own_departments: frozenset[str]) -> dict[str, Any]:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{VARIABLE}: {at} must be an object")
    department = entry.get("department")
    if not isinstance(department, str) or not department:
        raise ConfigError(f"{VARIABLE}: {at}.department must be a non-empty string")
    at = f"{at} ({department[:64]})"
    if department in own_departments:
        raise ConfigError(f"{VARIABLE}: {at}: the department is one of this platform's own")
    codes = entry.get("issuer_codes")
    if not isinstance(codes, list) or not codes:
        raise ConfigError(f"{VARIABLE}: {at}.issuer_codes must be a non-empty list")
    for j, code in enumerate(codes):
        try:
            identifier.check_issuer_code(code)
        except identifier.IdentifierPartError as exc:
            raise ConfigError(f"{VARIABLE}: {at}.issuer_codes[{j}]: {exc}") from None
    if not entry.get("platform_keys"):
        raise ConfigError(
            f"{VARIABLE}: {at}.platform_keys must list its own platform's keys (they alone "
            "sign its presentations and its status list)"
        )
    cleaned = {
        "department": department,
        "issuer_codes": list(codes),
        "licence_types": entry.get("licence_types"),
        "keys": entry.get("keys"),
        "platform_keys": entry.get("platform_keys"),
        "external": True,
    }
    try:
        TrustList.from_json({"issuers": [cleaned], "platform": {"keys": []}})
    except CredentialError as exc:
        # "trust list: issuers[0].keys[0]..." -> this entry's name
        detail = str(exc).removeprefix("trust list: issuers[0]")
        raise ConfigError(f"{VARIABLE}: {at}{detail}") from None
    return cleaned
