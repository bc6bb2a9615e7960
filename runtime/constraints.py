"""Value constraints declared once in proto, in protovalidate's vocabulary (`buf.validate`), and
checked here: by every gRPC server on every request (`check`) and by the gateway on every body
it maps, so a direct gRPC caller and an HTTP caller get the same answer naming the same field.
The OpenAPI document derives its keywords from the same declarations (gateway/openapi.py).

The rules this module evaluates are the ones the contracts use: `required`; string `min_len`,
`max_len`, `len`, `pattern`, `in`; integer `gte`, `gt`, `lte`, `lt`; enum `defined_only`, `in`,
`not_in`; repeated `min_items`, `max_items`, `unique` and `items`; `ignore:
IGNORE_IF_ZERO_VALUE`. Semantics are protovalidate's: a field without presence is checked even
when empty unless it says IGNORE_IF_ZERO_VALUE, lengths count characters. Any other rule is
refused when a message's rules are first read (`UnsupportedRule`): a declaration is never
silently ignored. Cross-field rules stay in the domain modules.

Why not protovalidate's own Python runtime: 2.x runs on protobuf-py, another protobuf runtime
than the `protobuf` package that grpcio, grpcio-status, reflection and our generated code use;
1.x imports `buf.validate.validate_pb2` from buf's registry (not PyPI) and evaluates each rule
through cel-python, a pure-Python CEL interpreter, on every request. The declarations are
protovalidate's, unchanged (proto/buf/validate, vendored with its licence): moving to its
runtime when one fits is a change of this module alone.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from buf.validate import validate_pb2
from runtime import fields, text
from runtime.errors import FieldViolation, InvalidArgument

IGNORE_IF_ZERO_VALUE = validate_pb2.IGNORE_IF_ZERO_VALUE
INTEGERS = frozenset({"int32", "int64", "uint32", "uint64", "sint32", "sint64"})
_SUPPORTED: dict[str, frozenset[str]] = {
    "string": frozenset({"min_len", "max_len", "len", "pattern", "in", "example"}),
    "enum": frozenset({"defined_only", "in", "not_in", "example"}),
    "repeated": frozenset({"min_items", "max_items", "unique", "items"}),
    **{kind: frozenset({"gte", "gt", "lte", "lt", "example"}) for kind in INTEGERS},
}


class UnsupportedRule(ValueError):
    """A contract declares a rule this module does not evaluate."""


@dataclass(frozen=True)
class Rules:
    """One field's declared rules: `kind` names the typed rules set ("string", "int32", ...)."""

    required: bool
    ignore_zero: bool
    kind: str
    typed: Any  # the typed rules message (validate_pb2.StringRules, ...), or None
    items: Rules | None  # for a repeated field, the rules of each item


def _read(declared: Any, where: str) -> Rules:
    kind = declared.WhichOneof("type") or ""
    if declared.cel or declared.cel_expression:
        raise UnsupportedRule(f"{where}: CEL rules are not evaluated here")
    typed: Any = getattr(declared, kind) if kind else None
    if kind and kind not in _SUPPORTED:
        raise UnsupportedRule(f"{where}: {kind} rules are not evaluated here")
    if typed is not None:
        for rule, _ in typed.ListFields():
            if rule.name not in _SUPPORTED[kind]:
                raise UnsupportedRule(f"{where}: {kind}.{rule.name} is not evaluated here")
    items = (
        _read(typed.items, f"{where}[]") if kind == "repeated" and typed.HasField("items") else None
    )
    return Rules(
        required=declared.required,
        ignore_zero=declared.ignore == IGNORE_IF_ZERO_VALUE,
        kind=kind,
        typed=typed,
        items=items,
    )


@functools.cache
def rules(field: FieldDescriptor) -> Rules | None:
    """The field's declared rules (REQUIRED from google.api.field_behavior counts), or None."""
    options: Any = field.GetOptions()
    declared = (
        options.Extensions[validate_pb2.field] if options.HasExtension(validate_pb2.field) else None
    )
    required = fields.REQUIRED in fields.behaviours(field)
    if declared is None:
        return Rules(True, False, "", None, None) if required else None
    found = _read(declared, field.full_name)
    if required and not found.required:
        found = Rules(True, found.ignore_zero, found.kind, found.typed, found.items)
    return found


@functools.cache
def _plan(descriptor: Descriptor) -> tuple[tuple[FieldDescriptor, Rules | None], ...]:
    """The fields of a message worth visiting: those with rules, and messages that may hold
    some (maps are not visited: their values are checked as text only)."""
    plan = []
    for field in descriptor.fields:
        found = rules(field)
        nested = field.type == FieldDescriptor.TYPE_MESSAGE and not _is_map(field)
        if found is not None or (nested and _has_rules(field.message_type)):
            plan.append((field, found))
    return tuple(plan)


def _is_map(field: FieldDescriptor) -> bool:
    entry: Any = field.message_type
    return field.is_repeated and entry is not None and entry.GetOptions().map_entry


@functools.cache
def _has_rules(descriptor: Descriptor, _seen: frozenset[str] = frozenset()) -> bool:
    if descriptor.full_name in _seen:
        return False
    seen = _seen | {descriptor.full_name}
    for field in descriptor.fields:
        if rules(field) is not None:
            return True
        nested = field.type == FieldDescriptor.TYPE_MESSAGE and not _is_map(field)
        if nested and _has_rules(field.message_type, seen):
            return True
    return False


def _is_zero(value: Any) -> bool:
    return value in ("", 0, False) or (hasattr(value, "__len__") and len(value) == 0)


def _scalar(
    field: FieldDescriptor, found: Rules, value: Any, at: str, out: list[FieldViolation]
) -> None:
    typed, kind = found.typed, found.kind
    if typed is None:
        return
    broken = _BROKEN.get(kind, _integer if kind in INTEGERS else None)
    if broken is not None:
        for rule, description in broken(field, typed, value):
            out.append(FieldViolation(at, description, rule))


def _string(field: FieldDescriptor, r: Any, value: str) -> list[tuple[str, str]]:
    out = []
    if r.HasField("len") and len(value) != r.len:
        out.append(("length", f"must be {r.len} characters"))
    if r.HasField("min_len") and len(value) < r.min_len:
        out.append(("min-length", f"must be at least {r.min_len} characters"))
    if r.HasField("max_len") and len(value) > r.max_len:
        out.append(("max-length", f"is longer than {r.max_len} characters"))
    if r.HasField("pattern") and not _compiled(r.pattern).search(value):
        out.append(("pattern", f"must match {r.pattern}"))
    if getattr(r, "in") and value not in getattr(r, "in"):
        out.append(("known-value", "must be one of " + ", ".join(getattr(r, "in"))))
    return out


def _integer(field: FieldDescriptor, r: Any, value: int) -> list[tuple[str, str]]:
    out = []
    if r.HasField("gte") and value < r.gte:
        out.append(("range", f"must be at least {r.gte}"))
    if r.HasField("gt") and value <= r.gt:
        out.append(("range", f"must be greater than {r.gt}"))
    if r.HasField("lte") and value > r.lte:
        out.append(("range", f"must be at most {r.lte}"))
    if r.HasField("lt") and value >= r.lt:
        out.append(("range", f"must be less than {r.lt}"))
    return out


def _enum(field: FieldDescriptor, r: Any, value: int) -> list[tuple[str, str]]:
    enum: Any = field.enum_type
    out = []
    if r.defined_only and enum.values_by_number.get(value) is None:
        out.append(("known-value", f"has no value {value}"))
    allowed, refused = getattr(r, "in"), r.not_in
    if (allowed and value not in allowed) or value in refused:
        out.append(("known-value", f"has no value {value}"))
    return out


_BROKEN: dict[str, Callable[[FieldDescriptor, Any, Any], list[tuple[str, str]]]] = {
    "string": _string,
    "enum": _enum,
}


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(python_pattern(pattern))


def python_pattern(pattern: str) -> str:
    """An RE2 pattern (protovalidate's) as Python reads it alike: RE2's `$` is the end of the
    text, Python's also matches before a final newline ("12\\n" would pass `^[0-9]{2}$`), so
    each `$` outside a character class becomes `\\Z`."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            # a `]` first in a class (after `[` or `[^`) is itself
            start = i + 2 if pattern[i + 1 : i + 2] == "^" else i + 1
            if pattern[start : start + 1] == "]":
                out.append(pattern[i : start + 1])
                i = start + 1
                continue
        elif char == "$":
            char = "\\Z"
        out.append(char)
        i += 1
    return "".join(out)


def _repeated(
    field: FieldDescriptor,
    found: Rules | None,
    items: list[Any],
    at: str,
    out: list[FieldViolation],
    pending: list[tuple[str, Message]],
) -> None:
    if found is not None and found.kind == "repeated":
        r = found.typed
        if r.HasField("min_items") and len(items) < r.min_items:
            out.append(FieldViolation(at, f"needs at least {r.min_items} items", "min-items"))
        if r.HasField("max_items") and len(items) > r.max_items:
            out.append(FieldViolation(at, f"has more than {r.max_items} items", "max-items"))
        if r.unique and len(set(items)) != len(items):
            out.append(FieldViolation(at, "repeats an item", "unique"))
    for i, item in enumerate(items):
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            pending.append((f"{at}[{i}].", item))
        elif found is not None and found.items is not None:
            _scalar(field, found.items, item, f"{at}[{i}]", out)


def _field(
    message: Message,
    field: FieldDescriptor,
    found: Rules | None,
    at: str,
    out: list[FieldViolation],
    pending: list[tuple[str, Message]],
) -> None:
    value = getattr(message, field.name)
    has_presence = field.has_presence and not field.is_repeated
    absent = (not message.HasField(field.name)) if has_presence else _is_zero(value)
    if found is not None and found.required and absent:
        out.append(FieldViolation(at, "is required", "required"))
        return
    if absent and (found is None or found.ignore_zero or has_presence):
        return
    if field.is_repeated:
        _repeated(field, found, list(value), at, out, pending)
        return
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        pending.append((f"{at}.", value))
    elif found is not None:
        _scalar(field, found, value, at, out)


def violations(message: Message, *, skip: frozenset[str] = frozenset()) -> list[FieldViolation]:
    """Every declared rule `message` breaks, nested messages included, each naming its field by
    path (`data_items[1].name`) and its rule by the platform's codes (`max-length`, as the
    domain modules name theirs, so problems read alike and translate alike). `skip`:
    top-level fields not to check (those a caller may not send: the server sets them)."""
    out: list[FieldViolation] = []
    pending: list[tuple[str, Message]] = [("", message)]
    while pending:
        prefix, current = pending.pop()
        for field, found in _plan(current.DESCRIPTOR):
            if not prefix and field.name in skip:
                continue
            _field(current, field, found, prefix + field.name, out, pending)
    return sorted(out, key=lambda v: v.field)


# google.protobuf.Timestamp's own range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z
_TIMESTAMP = "google.protobuf.Timestamp"
_FIRST_SECOND, _LAST_SECOND = -62_135_596_800, 253_402_300_799
_OUT_OF_RANGE = "must be a time from the year 1 to the year 9999"


def timestamp_violations(message: Message) -> list[FieldViolation]:
    """Every timestamp in `message` outside the range google.protobuf.Timestamp defines (RFC
    3339 years 1 to 9999): a time no calendar, store or JSON rendering can hold."""
    out: list[FieldViolation] = []
    pending: list[tuple[str, Message]] = [("", message)]
    while pending:
        prefix, current = pending.pop()
        for field, value in current.ListFields():
            kind: Any = field.message_type
            if kind is None:
                continue
            path = prefix + field.name
            if _is_map(field):
                if kind.fields_by_name["value"].message_type is not None:
                    pending.extend((f"{path}[{k}].", v) for k, v in value.items())
                continue
            items = enumerate(value) if field.is_repeated else ((None, value),)
            for i, item in items:
                at = path if i is None else f"{path}[{i}]"
                if kind.full_name != _TIMESTAMP:
                    pending.append((at + ".", item))
                elif not _in_range(item):
                    out.append(FieldViolation(at, _OUT_OF_RANGE, "timestamp-range"))
    return out


def _in_range(ts: Timestamp) -> bool:
    return _FIRST_SECOND <= ts.seconds <= _LAST_SECOND and 0 <= ts.nanos <= 999_999_999


def check(request: object) -> None:
    """Raise InvalidArgument naming every declared rule, plain-text rule (runtime.text) and
    timestamp out of its range that `request` breaks; anything but a message (raw bytes, say)
    passes."""
    if not isinstance(request, Message):
        return
    found = text.violations(request) + timestamp_violations(request) + violations(request)
    if found:
        raise InvalidArgument(found)


def declared(message: type[Message], name: str) -> Any:
    """The typed rules declared on a field (`StringRules` of `Resource.name`): what a domain
    module reads its limits from, so that a limit is written once, in proto."""
    found = rules(message.DESCRIPTOR.fields_by_name[name])
    if found is None or found.typed is None:
        raise LookupError(f"{message.DESCRIPTOR.full_name}.{name} declares no typed rules")
    return found.typed
