"""Key rules: names, purposes and algorithms, policies, deletion, and the self-describing form of
ciphertexts and signatures. Pure: no I/O.

Who uses a key is a `KeyCall`: the service the call comes through, if any, and the acting
subject, the one that service acts for (named in `smartcity-subject-token`) or the caller
itself. A key's policy may name the services through which alone it is used (`services`), and
its grants match the calling service and the acting subject; a refusal names the rule.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

from google.protobuf import any_pb2
from google.rpc import error_details_pb2

from runtime import algorithms
from runtime.auth import SERVICE, Principal
from runtime.errors import DOMAIN, FieldViolation, InvalidArgument, PermissionDenied
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

# Operations by the names records and the JSON of the API use: "sign", "generate_data_key".
OPERATION_NAMES: dict[int, str] = {
    number: keys_pb2.KeyOperation.Name(number).removeprefix("KEY_OPERATION_").lower()
    for number in keys_pb2.KeyOperation.values()
}

# The gRPC metadata entry in which a service names the subject it acts for (keys.proto).
SUBJECT_TOKEN_METADATA = "smartcity-subject-token"  # noqa: S105 - a name, not a secret

# The rules of a key's policy, as refusals and usage records name them.
RULE_SERVICES = "policy.services"
RULE_GRANTS = "policy.grants"
RULE_SUBJECT_TOKEN = "subject_token"  # noqa: S105 - a rule's name, not a secret

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_CLIENT = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_PREFIX = "sc"


@dataclass(frozen=True)
class KeyCall:
    """Who uses a key: `service`, the client id of the calling service ("" when the caller is
    not a service), and `actor`, the subject the service acts for or else the caller itself.
    `subject_named`: the caller named a subject (only services may)."""

    service: str
    actor: Principal
    subject_named: bool = False


def key_call(caller: Principal, subject: Principal | None = None) -> KeyCall:
    """The call of `caller`, acting for `subject` when it named one."""
    service = caller.client if caller.kind == SERVICE and caller.audience == "service" else ""
    if subject is None:
        return KeyCall(service=service, actor=caller)
    # A person who names another subject stays the actor: the refusal is theirs.
    return KeyCall(service=service, actor=subject if service else caller, subject_named=True)


class KeyPolicyDenied(PermissionDenied):
    """A key's policy refuses a call; `rule` names the rule that refused it (`RULE_*`), in the
    message and in the status's `google.rpc.ErrorInfo` (metadata `key` and `rule`)."""

    reason = "KEY_POLICY_DENIED"

    def __init__(self, key: str, rule: str, message: str) -> None:
        super().__init__(f"{message} (rule {rule} of key {key})")
        self.key = key
        self.rule = rule

    def details(self) -> list[any_pb2.Any]:
        info = error_details_pb2.ErrorInfo(
            reason=self.reason, domain=DOMAIN, metadata={"key": self.key, "rule": self.rule}
        )
        packed = any_pb2.Any()
        packed.Pack(info)
        return [packed]


@dataclass(frozen=True)
class Grant:
    services: frozenset[str] = frozenset()
    departments: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    operations: frozenset[int] = frozenset()

    def admits(self, call: KeyCall, operation: int) -> bool:
        """The calling service is one it names; the acting subject is of a department and
        holds a role it names."""
        if operation not in self.operations:
            return False
        if self.services and call.service not in self.services:
            return False
        actor = call.actor
        if self.departments and actor.department not in self.departments:
            return False
        return not self.roles or any(actor.has_role(r) for r in self.roles)


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
    # The services through which alone the key is used; empty: whoever the grants admit.
    services: frozenset[str] = frozenset()


@dataclass(frozen=True)
class KeyPolicy:
    grants: tuple[Grant, ...]
    services: frozenset[str]


def policy_from(policy: keys_pb2.KeyPolicy, *, purpose: algorithms.Purpose, path: str) -> KeyPolicy:
    """The policy's grants and services, or InvalidArgument naming each part that is wrong."""
    violations: list[FieldViolation] = []
    grants: list[Grant] = []
    allowed = OPERATIONS_OF_PURPOSE[purpose]
    for j, service in enumerate(policy.services):
        if not _CLIENT.match(service):
            violations.append(
                FieldViolation(f"{path}.services[{j}]", "must be a service's client id")
            )
    for i, grant in enumerate(policy.grants):
        at = f"{path}.grants[{i}]"
        for j, service in enumerate(grant.services):
            if policy.services and service not in policy.services:
                violations.append(
                    FieldViolation(
                        f"{at}.services[{j}]",
                        f"{service} is not among the policy's services: the grant would never "
                        "apply",
                    )
                )
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
    return KeyPolicy(grants=tuple(grants), services=frozenset(policy.services))


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
    policy = policy_from(key.policy, purpose=purpose, path="key.policy")
    return KeyInfo(
        name=key.name,
        purpose=purpose,
        algorithm=algorithm,
        latest_version=1,
        min_decryption_version=1,
        rotation_period_days=key.rotation_period_days,
        state=ENABLED,
        owner_department=owner_department,
        grants=policy.grants,
        services=policy.services,
    )


def authorise(key: KeyInfo, call: KeyCall, operation: int) -> None:
    """KeyPolicyDenied, naming the rule, unless the key's policy grants this operation to the
    call: through one of its services (when it names any), by a grant."""
    if operation not in OPERATIONS_OF_PURPOSE[key.purpose]:
        raise InvalidArgument.of(
            "name", f"{key.name} is a {key.purpose} key: it cannot be used for that"
        )
    if call.subject_named and not call.service:
        raise KeyPolicyDenied(
            key.name, RULE_SUBJECT_TOKEN, "only a service may act for another subject"
        )
    if key.services and call.service not in key.services:
        raise KeyPolicyDenied(
            key.name,
            RULE_SERVICES,
            "the key is used only through the services " + ", ".join(sorted(key.services)),
        )
    if not any(grant.admits(call, operation) for grant in key.grants):
        raise KeyPolicyDenied(
            key.name,
            RULE_GRANTS,
            f"no grant of the key allows {OPERATION_NAMES[operation]} to the caller",
        )


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
