"""Key rules: names, purposes and algorithms, policies, deletion, and the self-describing form of
ciphertexts and signatures. Pure: no I/O."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

from runtime.auth import Principal
from runtime.errors import FieldViolation, InvalidArgument, PermissionDenied
from services.keys import algorithms
from smartcity.keys.v1 import keys_pb2

SIGN: algorithms.Purpose = "sign"
ENCRYPT: algorithms.Purpose = "encrypt"
MAC: algorithms.Purpose = "mac"
PURPOSES: dict[keys_pb2.KeyPurpose.ValueType, algorithms.Purpose] = {
    keys_pb2.KEY_PURPOSE_SIGN: SIGN,
    keys_pb2.KEY_PURPOSE_ENCRYPT: ENCRYPT,
    keys_pb2.KEY_PURPOSE_MAC: MAC,
}
PURPOSE_NUMBERS: dict[str, keys_pb2.KeyPurpose.ValueType] = {
    name: number for number, name in PURPOSES.items()
}

ENABLED, PENDING_DELETION, DELETED = "enabled", "pending_deletion", "deleted"
STATE_NUMBERS: dict[str, keys_pb2.KeyState.ValueType] = {
    ENABLED: keys_pb2.KEY_STATE_ENABLED,
    PENDING_DELETION: keys_pb2.KEY_STATE_PENDING_DELETION,
    DELETED: keys_pb2.KEY_STATE_DELETED,
}
MIN_PENDING_DAYS, MAX_PENDING_DAYS = 7, 30
MAX_ROTATION_DAYS = 3650
MAX_PAYLOAD = 64 * 1024  # transit encryption is for small secrets and data keys
MAX_BATCH = 1000
MAX_BATCH_BYTES = 4 * 1024 * 1024 - 64 * 1024  # within gRPC's 4 MiB message limit
DATA_KEY_LENGTHS = (16, 32)

# Which operations each purpose allows.
OPERATIONS_OF_PURPOSE = {
    SIGN: {keys_pb2.KEY_OPERATION_SIGN, keys_pb2.KEY_OPERATION_VERIFY},
    ENCRYPT: {
        keys_pb2.KEY_OPERATION_ENCRYPT,
        keys_pb2.KEY_OPERATION_DECRYPT,
        keys_pb2.KEY_OPERATION_REWRAP,
        keys_pb2.KEY_OPERATION_GENERATE_DATA_KEY,
    },
    MAC: {keys_pb2.KEY_OPERATION_MAC, keys_pb2.KEY_OPERATION_VERIFY_MAC},
}

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_PREFIX = "sc"


@dataclass(frozen=True)
class Grant:
    services: frozenset[str] = frozenset()
    departments: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    operations: frozenset[int] = frozenset()

    def admits(self, principal: Principal, operation: int) -> bool:
        if operation not in self.operations:
            return False
        if self.services and principal.client not in self.services:
            return False
        if self.departments and principal.department not in self.departments:
            return False
        return not self.roles or any(principal.has_role(r) for r in self.roles)


@dataclass(frozen=True)
class KeyInfo:
    """A key as the domain sees it: configuration, state and versions, no material."""

    name: str
    purpose: algorithms.Purpose
    algorithm: str
    latest_version: int
    min_decryption_version: int
    rotation_period_days: int
    state: str
    owner_department: str
    grants: tuple[Grant, ...] = field(default=())
    created_us: int = 0
    delete_after_us: int | None = None


def grants_from(
    policy: keys_pb2.KeyPolicy, *, purpose: algorithms.Purpose, path: str
) -> tuple[Grant, ...]:
    """The policy's grants, or InvalidArgument naming each grant that is wrong."""
    violations: list[FieldViolation] = []
    grants: list[Grant] = []
    allowed = OPERATIONS_OF_PURPOSE[purpose]
    for i, grant in enumerate(policy.grants):
        at = f"{path}.grants[{i}]"
        if not (grant.services or grant.departments or grant.roles):
            violations.append(
                FieldViolation(
                    at,
                    "must name services, departments or roles: a grant to everyone is not a policy",
                )
            )
        if not grant.operations:
            violations.append(FieldViolation(f"{at}.operations", "at least one is required"))
        for j, operation in enumerate(grant.operations):
            if operation not in allowed:
                violations.append(
                    FieldViolation(
                        f"{at}.operations[{j}]",
                        f"a {purpose} key cannot be used for "
                        f"{keys_pb2.KeyOperation.Name(operation).removeprefix('KEY_OPERATION_').lower()}",
                    )
                )
        grants.append(
            Grant(
                services=frozenset(grant.services),
                departments=frozenset(grant.departments),
                roles=frozenset(grant.roles),
                operations=frozenset(grant.operations),
            )
        )
    if violations:
        raise InvalidArgument(violations)
    return tuple(grants)


def new_key(key: keys_pb2.Key, *, owner_department: str) -> KeyInfo:
    """A validated new key from a CreateKey request."""
    violations: list[FieldViolation] = []
    if not _NAME.match(key.name):
        violations.append(
            FieldViolation(
                "key.name", "must be 2 to 64 characters: lowercase letters, digits, '.', '_' or '-'"
            )
        )
    purpose = PURPOSES.get(key.purpose)
    if purpose is None:
        violations.append(FieldViolation("key.purpose", "must be sign, encrypt or mac"))
        raise InvalidArgument(violations)
    # The national algorithm of each purpose is the default (Art. 39).
    algorithm = key.algorithm or algorithms.DEFAULT_ALGORITHM[purpose]
    known = algorithms.ALGORITHMS.get(algorithm)
    if known is None:
        violations.append(
            FieldViolation("key.algorithm", "must be one of: " + ", ".join(algorithms.ALGORITHMS))
        )
    elif known.purpose != purpose:
        violations.append(
            FieldViolation("key.algorithm", f"{algorithm} is not an algorithm for {purpose} keys")
        )
    if not 0 <= key.rotation_period_days <= MAX_ROTATION_DAYS:
        violations.append(
            FieldViolation("key.rotation_period_days", f"must be 0 to {MAX_ROTATION_DAYS}")
        )
    if violations:
        raise InvalidArgument(violations)
    return KeyInfo(
        name=key.name,
        purpose=purpose,
        algorithm=algorithm,
        latest_version=1,
        min_decryption_version=1,
        rotation_period_days=key.rotation_period_days,
        state=ENABLED,
        owner_department=owner_department,
        grants=grants_from(key.policy, purpose=purpose, path="key.policy"),
    )


def authorise(key: KeyInfo, principal: Principal, operation: int) -> None:
    """PermissionDenied unless the key's policy grants this operation to the caller."""
    if operation not in OPERATIONS_OF_PURPOSE[key.purpose]:
        raise InvalidArgument.of(
            "name", f"{key.name} is a {key.purpose} key: it cannot be used for that"
        )
    if not any(grant.admits(principal, operation) for grant in key.grants):
        raise PermissionDenied(f"the policy of key {key.name} does not grant this to the caller")


def pending_days(requested: int) -> int:
    days = requested or MAX_PENDING_DAYS
    if not MIN_PENDING_DAYS <= days <= MAX_PENDING_DAYS:
        raise InvalidArgument.of(
            "pending_days", f"must be {MIN_PENDING_DAYS} to {MAX_PENDING_DAYS} days"
        )
    return days


# --- self-describing ciphertexts and signatures: "sc:<key>:v<version>:<base64url>" --------------


def wrap(name: str, version: int, blob: bytes) -> str:
    return f"{_PREFIX}:{name}:v{version}:" + base64.urlsafe_b64encode(blob).decode().rstrip("=")


def unwrap(text: str, *, name: str, field_name: str) -> tuple[int, bytes]:
    """The version and bytes of a value this service produced with key `name`."""
    parts = text.split(":")
    if len(parts) != 4 or parts[0] != _PREFIX or not parts[2].startswith("v"):
        raise InvalidArgument.of(field_name, "is not a value produced by the keys service")
    if parts[1] != name:
        raise InvalidArgument.of(field_name, f"was produced with another key, not {name}")
    try:
        version = int(parts[2][1:])
        padded = parts[3] + "=" * (-len(parts[3]) % 4)
        blob = base64.b64decode(padded, altchars=b"-_", validate=True)
    except (ValueError, binascii.Error):
        raise InvalidArgument.of(
            field_name, "is not a value produced by the keys service"
        ) from None
    if version < 1:
        raise InvalidArgument.of(field_name, "names no version of the key")
    return version, blob


def associated_data(name: str, version: int, extra: bytes) -> bytes:
    """What a ciphertext is bound to: its key, its version, and the caller's associated data, so
    that a ciphertext moved to another key or labelled with another version fails."""
    return f"{_PREFIX}:{name}:v{version}:".encode() + extra
