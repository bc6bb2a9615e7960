"""Exchange rules: pure functions over the contract's messages, no I/O.

Providers push records checked against their resource's data items (数据归集); consumers ask
for resources (共享申请), which the catalog's share type grants, refuses or leaves to the
provider's share approver; interface services answer queries within a grant, masking what lies
outside it, and each query leaves evidence holding an SM3 hash of the request, never its values.
Every rejection names the field and the rule it breaks, and never echoes a pushed value: it may
be personal data.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from cryptography.hazmat.primitives import hashes

from runtime.auth import PARTNER, STAFF, Principal
from runtime.errors import FailedPrecondition, FieldViolation, InvalidArgument, PermissionDenied
from runtime.roles import ROLE_BDB_ADMIN as ROLE_BDB_ADMIN
from runtime.roles import ROLE_CATALOG_OFFICER as ROLE_CATALOG_OFFICER
from runtime.roles import ROLE_SHARE_APPROVER as ROLE_SHARE_APPROVER
from smartcity.catalog.v1 import catalog_pb2
from smartcity.exchange.v1 import exchange_pb2

# The Big Data Bureau oversees every exchange (Art. 12).
BUREAU = "bdb"

MAX_BATCH = 1000  # records per push
MAX_VALUE = 2000  # characters per value
MAX_TEXT = 1000  # purpose, legal basis, reason, description
MAX_QUERY_PURPOSE = 200
DEFAULT_DUE_DAYS = 5  # a provider answers a conditional request within this
MAX_DURATION_DAYS = 365
MAX_PARAMETERS = 5
MAX_LIMIT = 100
DEFAULT_LIMIT = 20
MASK = "***"
DAY_US = 86_400_000_000
INTERFACE_NAME = re.compile(r"^[a-z][a-z0-9_-]{1,19}\.[a-z0-9][a-z0-9-]{1,62}$")

# A rejection travels in gRPC trailers, which a client refuses at random above 8 KiB and always
# above 16 KiB (RESOURCE_EXHAUSTED, no violations): listing stops at whichever bound comes first.
MAX_VIOLATIONS = 50
MAX_VIOLATION_BYTES = 6000
MAX_ECHOED_KEY = 50  # characters of an unknown field name repeated in a field path

PENDING = exchange_pb2.SHARE_REQUEST_STATE_PENDING
GRANTED = exchange_pb2.SHARE_REQUEST_STATE_GRANTED
REFUSED = exchange_pb2.SHARE_REQUEST_STATE_REFUSED


def state_name(state: int) -> str:
    """A share request state in lower-case words: 'pending', 'granted', 'refused'."""
    try:
        name = exchange_pb2.ShareRequestState.Name(state)  # type: ignore[arg-type]
    except ValueError:
        return f"in unknown state {state}"
    return name.removeprefix("SHARE_REQUEST_STATE_").lower().replace("_", " ")


# --- validation --------------------------------------------------------------------------------


def _wire_bytes(v: FieldViolation) -> int:
    """About what a violation adds to the trailers: its field in the percent-encoded
    grpc-message, and the violation in the base64 grpc-status-details-bin."""
    field = v.field.encode()
    in_message = 2 + sum(1 if 0x20 <= b < 0x7F and b != 0x25 else 3 for b in field)
    in_details = len(field) + len(v.description.encode()) + len(v.rule) + 10
    return in_message + math.ceil(in_details * 4 / 3)


class _Rules:
    """Collects violations; `broken(field, rule, description)` adds one. Past MAX_VIOLATIONS or
    MAX_VIOLATION_BYTES it stops listing and ends with a 'too-many-errors' violation."""

    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []
        self._bytes = 0
        self._overflow = ""  # the top-level field of the first violation left out

    @property
    def full(self) -> bool:
        return bool(self._overflow)

    def broken(self, field: str, rule: str, description: str) -> None:
        if self._overflow:
            return
        violation = FieldViolation(field, description, rule)
        cost = _wire_bytes(violation)
        if len(self.violations) >= MAX_VIOLATIONS or self._bytes + cost > MAX_VIOLATION_BYTES:
            self._overflow = re.split(r"[.\[]", field, maxsplit=1)[0] or field
            return
        self.violations.append(violation)
        self._bytes += cost

    def text(self, field: str, value: str, *, limit: int, required: bool) -> None:
        if required and not value.strip():
            self.broken(field, "required", "is required")
        elif len(value) > limit:
            self.broken(field, "max-length", f"is longer than {limit} characters")

    def raise_if_any(self) -> None:
        if self._overflow:
            listed = len(self.violations)
            self.violations.append(
                FieldViolation(
                    self._overflow,
                    f"has more problems than the {listed} listed; fix these and try again",
                    "too-many-errors",
                )
            )
        if self.violations:
            raise InvalidArgument(self.violations)


def _echo(key: str) -> str:
    """An unknown name as a field path repeats it: cut short, so one name cannot fill the
    error."""
    return key if len(key) <= MAX_ECHOED_KEY else key[:MAX_ECHOED_KEY] + "…"


_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)
_BOOLEANS = {"true": "true", "false": "false", "1": "true", "0": "false"}

# What each type expects, as the rejection says it: the form, never the value that broke it.
EXPECTED = {
    "string": "must be text without NUL characters",
    "integer": "must be an integer, e.g. 42",
    "decimal": "must be a decimal number without exponent, e.g. 3.14",
    "boolean": "must be true or false",
    "date": "must be a date YYYY-MM-DD, e.g. 2026-01-31",
    "datetime": "must be an RFC 3339 date-time with an offset, e.g. 2026-01-31T08:00:00+08:00",
    "binary": "must be base64, e.g. aGVsbG8=",
}


def _integer(v: str) -> str | None:
    return str(int(v)) if _INTEGER.fullmatch(v) else None


def _decimal(v: str) -> str | None:
    if not _DECIMAL.fullmatch(v):
        return None
    d = Decimal(v)
    # "f", not str(): str(Decimal("0.0000001")) is "1E-7"
    return format(d.copy_abs() if d.is_zero() else d, "f")


def _boolean(v: str) -> str | None:
    return _BOOLEANS.get(v)


def _date(v: str) -> str | None:
    # fromisoformat alone would also take "20260131" and week dates
    if not _DATE.fullmatch(v):
        return None
    try:
        return date.fromisoformat(v).isoformat()
    except ValueError:
        return None


def _datetime(v: str) -> str | None:
    m = _DATETIME.fullmatch(v)
    if not m:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    fraction, sign, off_h, off_m = m.group(7, 8, 9, 10)
    offset = timedelta()
    if sign:
        if int(off_h) > 23 or int(off_m) > 59:
            return None
        offset = timedelta(hours=int(off_h), minutes=int(off_m)) * (-1 if sign == "-" else 1)
    try:
        moment = datetime(
            year,
            month,
            day,
            hour,
            minute,
            second,
            int((fraction or "0").ljust(6, "0")),
            tzinfo=timezone(offset),
        ).astimezone(UTC)
    except (ValueError, OverflowError):  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        return None
    return moment.isoformat().replace("+00:00", "Z")


def _binary(v: str) -> str | None:
    try:
        decoded = base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        return None
    # one spelling per content: "QR==" decodes like "QQ==" but is not what encoding gives
    return v if base64.b64encode(decoded).decode() == v else None


def _string(v: str) -> str | None:
    return None if "\x00" in v else v  # no database stores NUL in text


_NORMALISE = {
    "string": _string,
    "integer": _integer,
    "decimal": _decimal,
    "boolean": _boolean,
    "date": _date,
    "datetime": _datetime,
    "binary": _binary,
}


def validate_records(
    records: Sequence[exchange_pb2.Record], items: Sequence[catalog_pb2.DataItem]
) -> list[dict[str, str]]:
    """The records as rows, each value normalised to its data item's type, or InvalidArgument
    listing every problem (all or nothing). A row holds the fields its record gave, in the data
    items' order; an absent field is a missing value, an empty one is a value of its type."""
    r = _Rules()
    if not records:
        r.broken("records", "required", "needs at least one record")
        r.raise_if_any()
    if len(records) > MAX_BATCH:
        r.broken("records", "max-items", f"has more than {MAX_BATCH} records")
        r.raise_if_any()
    types = {item.name: item.type for item in items}
    rows: list[dict[str, str]] = []
    for i, record in enumerate(records):
        if r.full:
            break
        fields = record.fields
        if not fields:
            r.broken(f"records[{i}]", "required", "has no fields")
            continue
        row: dict[str, str] = {}
        for name, kind in types.items():
            if name not in fields:
                continue
            value, at = fields[name], f"records[{i}].fields[{name}]"
            if len(value) > MAX_VALUE:
                r.broken(at, "max-length", f"is longer than {MAX_VALUE} characters")
                continue
            normalise = _NORMALISE.get(kind)
            if normalise is None:
                r.broken(at, "item-type", f"has type {kind!r}, which the exchange does not know")
                continue
            normalised = normalise(value)
            if normalised is None:
                r.broken(at, "item-type", EXPECTED[kind])
            else:
                row[name] = normalised
        for name in sorted(set(fields) - types.keys()):
            r.broken(f"records[{i}].fields[{_echo(name)}]", "known-field", "is not a data item")
        rows.append(row)
    r.raise_if_any()
    return rows


def _names(r: _Rules, field: str, names: Sequence[str], *, known: Collection[str]) -> None:
    """Each name once, each a data item of the resource."""
    seen: set[str] = set()
    for i, name in enumerate(names):
        if r.full:
            return
        if name in seen:
            r.broken(f"{field}[{i}]", "unique", "repeats an earlier one")
        elif name not in known:
            r.broken(f"{field}[{i}]", "known-field", "is not a data item of the resource")
        seen.add(name)


def _item_names(entry: catalog_pb2.Resource) -> frozenset[str]:
    return frozenset(item.name for item in entry.data_items)


def validate_share_request(request: exchange_pb2.ShareRequest, entry: catalog_pb2.Resource) -> None:
    r = _Rules()
    r.text("purpose", request.purpose, limit=MAX_TEXT, required=True)
    r.text("legal_basis", request.legal_basis, limit=MAX_TEXT, required=True)
    if not request.fields:
        r.broken("fields", "required", "needs at least one data item")
    _names(r, "fields", request.fields, known=_item_names(entry))
    if not 1 <= request.duration_days <= MAX_DURATION_DAYS:
        r.broken("duration_days", "duration", f"must be 1 to {MAX_DURATION_DAYS} days")
    r.raise_if_any()


def automatic_decision(entry: catalog_pb2.Resource) -> tuple[int, str]:
    """(state, reason) the catalog's share type decides at once; PENDING leaves it to the
    provider's share approver."""
    if entry.share_type == catalog_pb2.SHARE_TYPE_UNCONDITIONAL:
        return GRANTED, "shared unconditionally"
    if entry.share_type == catalog_pb2.SHARE_TYPE_NOT_SHARED:
        return REFUSED, f"not shared; legal basis: {entry.share_basis}"
    if entry.share_type == catalog_pb2.SHARE_TYPE_CONDITIONAL:
        return PENDING, ""
    # fail closed: nobody may grant what the catalog never declared shareable
    return REFUSED, "the catalog does not say whether it is shared"


def check_decision(
    principal: Principal,
    request: exchange_pb2.ShareRequest,
    decision: exchange_pb2.DecideShareRequestRequest,
) -> tuple[list[str], int]:
    """(granted fields, duration in days) of a grant, ([], 0) for a refusal."""
    if request.state != PENDING:
        raise FailedPrecondition(
            f"the share request is {state_name(request.state)}; only a pending one can be decided"
        )
    if not (
        request.provider_department
        and principal.department == request.provider_department
        and principal.has_role(ROLE_SHARE_APPROVER)
    ):
        raise PermissionDenied("only the provider's share approvers decide")
    r = _Rules()
    if not decision.grant:
        r.text("reason", decision.reason, limit=MAX_TEXT, required=True)
        r.raise_if_any()
        return [], 0
    r.text("reason", decision.reason, limit=MAX_TEXT, required=False)  # the approver's remark
    asked = list(request.fields)
    seen: set[str] = set()
    for i, name in enumerate(decision.fields):
        if name in seen:
            r.broken(f"fields[{i}]", "unique", "repeats an earlier one")
        elif name not in asked:
            r.broken(f"fields[{i}]", "within-request", "was not asked for")
        seen.add(name)
    days = decision.duration_days or request.duration_days
    if not 1 <= days <= MAX_DURATION_DAYS:
        r.broken("duration_days", "duration", f"must be 1 to {MAX_DURATION_DAYS} days")
    r.raise_if_any()
    return list(decision.fields) or asked, days


def interface_name(name: str, entry: catalog_pb2.Resource) -> str:
    """The full name of an interface service: a bare name ("vehicle-query") gets its provider
    department's prefix ("psb.vehicle-query"); a prefixed one is kept, to be validated."""
    if not name or "." in name:
        return name
    return f"{entry.provider_department}.{name}"


def validate_interface(service: exchange_pb2.InterfaceService, entry: catalog_pb2.Resource) -> None:
    r = _Rules()
    prefix = f"{entry.provider_department}."
    if not service.name:
        r.broken("name", "required", "is required")
    else:
        if not INTERFACE_NAME.fullmatch(service.name):
            r.broken(
                "name",
                "interface-name",
                f"must be '{prefix}<name>' or just '<name>', in lower case: 2 to 63 letters, "
                "digits and '-', e.g. 'vehicle-query'",
            )
        if not service.name.startswith(prefix):
            r.broken(
                "name",
                "provider-prefix",
                f"must start with '{prefix}' (the resource's provider department), or be sent "
                "without a prefix, which the exchange then adds",
            )
    r.text("description", service.description, limit=MAX_TEXT, required=True)
    known = _item_names(entry)
    if len(service.parameters) > MAX_PARAMETERS:
        r.broken("parameters", "max-items", f"has more than {MAX_PARAMETERS} parameters")
    _names(r, "parameters", service.parameters, known=known)
    if not service.returned_fields:
        r.broken("returned_fields", "required", "needs at least one data item")
    _names(r, "returned_fields", service.returned_fields, known=known)
    r.raise_if_any()


def check_query(
    request: exchange_pb2.QueryInterfaceServiceRequest,
    service: exchange_pb2.InterfaceService,
    *,
    granted: Collection[str],
) -> int:
    """The effective limit of a valid query within the grant. A filter on a field outside the
    grant is refused: which records match would tell its values."""
    r = _Rules()
    r.text("purpose", request.purpose, limit=MAX_QUERY_PURPOSE, required=True)
    allowed = set(service.parameters)
    keys = sorted(request.parameters)
    for key in keys:
        at = f"parameters[{_echo(key)}]"
        if key not in allowed:
            r.broken(at, "interface-parameter", "is not a parameter of the interface")
        elif len(request.parameters[key]) > MAX_VALUE:
            r.broken(at, "max-length", f"is longer than {MAX_VALUE} characters")
    if not 0 <= request.limit <= MAX_LIMIT:
        r.broken("limit", "range", f"must be 0 to {MAX_LIMIT} (0 means {DEFAULT_LIMIT})")
    r.raise_if_any()
    for key in keys:
        if key not in granted:
            raise PermissionDenied(f"parameter {key} is outside your grant")
    return request.limit or DEFAULT_LIMIT


def mask(
    rows: Iterable[Mapping[str, str]], *, returned: Sequence[str], granted: Collection[str]
) -> tuple[list[dict[str, str]], list[str]]:
    """The rows with the returned fields only, those outside the grant replaced by MASK, and
    the names of the masked fields. A masked field's value never leaves this function."""
    out = [{f: row.get(f, "") if f in granted else MASK for f in returned} for row in rows]
    return out, [f for f in returned if f not in granted]


# --- evidence ----------------------------------------------------------------------------------


def _sm3_hex(data: bytes) -> str:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize().hex()


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def request_hash(name: str, parameters: Mapping[str, str]) -> str:
    """SM3, hex, of the canonical request: the same query hashes the same however its
    parameters were ordered, so evidence can be matched without keeping their values."""
    return _sm3_hex(_canonical({"interface": name, "parameters": dict(parameters)}))


# What an evidence record's hash covers, in its canonical JSON (sorted keys, no spaces, UTF-8).
EVIDENCE_FIELDS = (
    "id",
    "interface_service",
    "resource_id",
    "consumer",
    "provider_department",
    "purpose",
    "request_hash",
    "result_count",
    "at_us",
)


def evidence_hash(record: Mapping[str, object]) -> str:
    """SM3, hex, of one evidence record's canonical form."""
    return _sm3_hex(_canonical({f: record[f] for f in EVIDENCE_FIELDS}))


def batch_digest(record_hashes: Sequence[str]) -> bytes:
    """SM3 of the concatenated record hashes (as bytes): what a batch's signature signs."""
    digest = hashes.Hash(hashes.SM3())
    for hex_hash in record_hashes:
        digest.update(bytes.fromhex(hex_hash))
    return digest.finalize()


def consumer_of(principal: Principal) -> str:
    """Who the evidence names as consumer: a partner by its client, anyone else by department."""
    if principal.kind == PARTNER:
        return f"partner:{principal.client}"
    return f"department:{principal.department}"


def share_request_overdue(*, state: int, due_us: int | None, now: int) -> bool:
    """Pending past its deadline: escalated to the Bureau."""
    return state == PENDING and due_us is not None and now > due_us


def grant_active(grant: exchange_pb2.Grant, *, now_s: float) -> bool:
    return not grant.revoked and grant.expire_time.seconds > now_s


# --- who may do what ---------------------------------------------------------------------------


def is_bureau(principal: Principal) -> bool:
    """Staff of the Big Data Bureau, who oversee every exchange."""
    return principal.kind == STAFF and principal.department == BUREAU


def can_see(principal: Principal, *, consumer: str, provider_department: str) -> bool:
    """A share request or grant is its consumer's and its provider's business, and the
    Bureau's."""
    if consumer and consumer == consumer_of(principal):
        return True
    staff = principal.kind == STAFF and bool(principal.department)
    return staff and principal.department in (provider_department, BUREAU)


def party_of(principal: Principal) -> tuple[str, str]:
    """(what the caller consumes as, the department it provides for: empty for partners)."""
    department = principal.department if principal.kind == STAFF else ""
    return consumer_of(principal), department


def _officer_of(principal: Principal, department: str) -> bool:
    return (
        bool(department)
        and principal.department == department
        and principal.has_role(ROLE_CATALOG_OFFICER)
    )


def authorise_push(principal: Principal, entry: catalog_pb2.Resource) -> None:
    if not _officer_of(principal, entry.provider_department):
        raise PermissionDenied("only the provider's catalog officers push its records")


def authorise_request(principal: Principal, entry: catalog_pb2.Resource) -> None:
    """Staff of a department, or a partner system (enterprises and organisations, Art. 14)."""
    if principal.kind == PARTNER and principal.client:
        return
    if principal.kind != STAFF or not principal.department:
        raise PermissionDenied("only departments and partner systems ask for shared data")
    if principal.department == entry.provider_department:
        raise PermissionDenied("a provider does not ask for its own data")


def authorise_revoke(principal: Principal, grant: exchange_pb2.Grant) -> None:
    provider = (
        bool(grant.provider_department)
        and principal.department == grant.provider_department
        and principal.has_role(ROLE_SHARE_APPROVER)
    )
    bureau = principal.department == BUREAU and (
        principal.has_role(ROLE_BDB_ADMIN) or principal.has_role(ROLE_CATALOG_OFFICER)
    )
    if not (provider or bureau):
        raise PermissionDenied("only the provider's share approvers or the Bureau revoke a grant")


def authorise_interface(principal: Principal, entry: catalog_pb2.Resource) -> None:
    if not _officer_of(principal, entry.provider_department):
        raise PermissionDenied("only the provider's catalog officers register its interfaces")
