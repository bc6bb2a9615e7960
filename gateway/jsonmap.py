"""JSON to and from the contract's protobuf messages, with errors that name the field.

Field names are the proto names (snake_case). Enums are written by their short lower-case name
(`SHARE_TYPE_UNCONDITIONAL` is `"unconditional"`); timestamps are RFC 3339 strings; maps are
JSON objects (`{"车牌号": "琼A12345"}`), their integer and boolean keys written as text.

A value that breaks the contract is named by its path: InvalidArgument (422) for a value of the
wrong type or a text with control characters (`runtime.text`), OutOfRange (400) for an integer
its field's type cannot hold, whatever else is wrong. `loads` reads a request body: JSON with
no key twice in one object.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from runtime import text
from runtime.errors import FieldViolation, InvalidArgument

_TIMESTAMP = Timestamp.DESCRIPTOR.full_name
_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
}
_INTEGER_TEXT = re.compile(r"-?[0-9]+")
# Digits enough for any 64-bit integer; longer text is out of range without converting it.
_MAX_INTEGER_DIGITS = 20
_BEYOND_ANY_RANGE: int = 10**_MAX_INTEGER_DIGITS
RANGE = "range"


class OutOfRange(InvalidArgument):
    """An integer that its field's type cannot hold (int32 2147483648): a request that cannot
    be decoded into the contract's message, answered 400 like malformed JSON, not 422."""


class DuplicateKey(ValueError):
    """A JSON object names a key twice; `paths` are where (`data_items[0].name`)."""

    def __init__(self, paths: list[str]) -> None:
        super().__init__(", ".join(paths))
        self.paths = paths


def _enum_prefix(enum: EnumDescriptor) -> str:
    name = enum.name
    snake = "".join(f"_{c}" if c.isupper() and i else c for i, c in enumerate(name)).upper()
    return snake + "_"


@functools.cache
def enum_names(enum: EnumDescriptor) -> dict[int, str]:
    """Short names of an enum's values, without the zero value."""
    prefix = _enum_prefix(enum)
    return {v.number: v.name.removeprefix(prefix).lower() for v in enum.values if v.number != 0}


@functools.cache
def _enum_numbers(enum: EnumDescriptor) -> dict[str, int]:
    return {name: number for number, name in enum_names(enum).items()}


def _type_name(field: FieldDescriptor) -> str:
    if field.type == FieldDescriptor.TYPE_STRING:
        return "a string"
    if field.type == FieldDescriptor.TYPE_BOOL:
        return "true or false"
    if field.type in _INT_RANGES:
        return "an integer"
    if field.type == FieldDescriptor.TYPE_ENUM:
        return "one of: " + ", ".join(enum_names(field.enum_type).values())
    return "an object"


def _scalar(field: FieldDescriptor, value: Any, path: str, out: list[FieldViolation]) -> Any:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING and isinstance(value, str):
        if (character := text.unsafe_character(value)) is not None:
            out.append(text.violation(path, character))
            return None
        return value
    if kind == FieldDescriptor.TYPE_BOOL and isinstance(value, bool):
        return value
    if kind in _INT_RANGES and isinstance(value, int) and not isinstance(value, bool):
        low, high = _INT_RANGES[kind]
        if low <= value <= high:
            return value
        out.append(FieldViolation(path, f"must be between {low} and {high}", RANGE))
        return None
    if kind == FieldDescriptor.TYPE_ENUM and isinstance(value, str):
        number = _enum_numbers(field.enum_type).get(value)
        if number is not None:
            return number
    out.append(FieldViolation(path, f"must be {_type_name(field)}"))
    return None


def _timestamp(target: Any, value: Any, path: str, out: list[FieldViolation]) -> None:
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
            # the year 1 east of UTC, or 9999 west of it, leaves the calendar in UTC
            utc = when.astimezone(UTC) if when.tzinfo is not None else None
        except (ValueError, OverflowError):
            pass
        else:
            if utc is not None:
                target.FromDatetime(utc.replace(tzinfo=None))
                return
    out.append(
        FieldViolation(path, "must be an RFC 3339 time with a zone, e.g. 2026-01-31T08:00:00Z")
    )


@functools.cache
def map_fields(field: FieldDescriptor) -> tuple[FieldDescriptor, FieldDescriptor] | None:
    """The key and value fields of a map field (a repeated entry message marked `map_entry`),
    or None for any other field."""
    if not field.is_repeated or field.type != FieldDescriptor.TYPE_MESSAGE:
        return None
    entry: Any = field.message_type
    if not entry.GetOptions().map_entry:
        return None
    return entry.fields_by_name["key"], entry.fields_by_name["value"]


def _map_key(field: FieldDescriptor, key: Any, path: str, out: list[FieldViolation]) -> Any:
    # JSON object keys are text: integer and boolean keys are converted from it
    if isinstance(key, str):
        if field.type == FieldDescriptor.TYPE_STRING:
            return key
        if field.type == FieldDescriptor.TYPE_BOOL and key in ("true", "false"):
            return key == "true"
        if field.type in _INT_RANGES and (number := _integer(key)) is not None:
            return _scalar(field, number, path, out)
    out.append(FieldViolation(path, f"the key must be {_type_name(field)}"))
    return None


def _message(
    field: FieldDescriptor, target: Any, value: Any, path: str, out: list[FieldViolation]
) -> None:
    message_type: Any = field.message_type
    if message_type.full_name == _TIMESTAMP:
        _timestamp(target, value, path, out)
    else:
        _fill(target, value, path, out, frozenset())


def _fill_map(
    entry: tuple[FieldDescriptor, FieldDescriptor],
    target: Any,
    data: Any,
    path: str,
    out: list[FieldViolation],
) -> None:
    if not isinstance(data, dict):
        out.append(FieldViolation(path, "must be a JSON object"))
        return
    key_field, value_field = entry
    is_message = value_field.type == FieldDescriptor.TYPE_MESSAGE
    for key, value in data.items():
        if isinstance(key, str) and (character := text.unsafe_character(key)) is not None:
            out.append(text.violation(path, character, key=True))  # not echoing the key
            continue
        at = f"{path}[{key}]"
        converted_key = _map_key(key_field, key, at, out)
        if converted_key is None:
            continue
        if is_message:
            _message(value_field, target[converted_key], value, at, out)
        else:
            converted = _scalar(value_field, value, at, out)
            if converted is not None:
                target[converted_key] = converted


def _fill(  # noqa: C901 (one branch per protobuf field kind)
    message: Message,
    data: Any,
    path: str,
    out: list[FieldViolation],
    read_only: frozenset[str],
) -> None:
    if not isinstance(data, dict):
        out.append(FieldViolation(path or "body", "must be a JSON object"))
        return
    fields: Any = message.DESCRIPTOR.fields_by_name
    for key, value in data.items():
        at = f"{path}.{key}" if path else str(key)
        field = fields.get(key)
        if field is None:
            out.append(FieldViolation(at, "is not a known field"))
            continue
        if not path and key in read_only:
            out.append(FieldViolation(at, "is set by the server and cannot be sent"))
            continue
        if value is None:
            continue
        is_message = field.type == FieldDescriptor.TYPE_MESSAGE
        entry = map_fields(field) if is_message else None
        if entry is not None:
            _fill_map(entry, getattr(message, key), value, at, out)
        elif field.is_repeated:
            if not isinstance(value, list):
                out.append(FieldViolation(at, "must be a JSON array"))
                continue
            target = getattr(message, key)
            for i, item in enumerate(value):
                if is_message:
                    _message(field, target.add(), item, f"{at}[{i}]", out)
                else:
                    converted = _scalar(field, item, f"{at}[{i}]", out)
                    if converted is not None:
                        target.append(converted)
        elif is_message:
            _message(field, getattr(message, key), value, at, out)
        else:
            converted = _scalar(field, value, at, out)
            if converted is not None:
                setattr(message, key, converted)


def _integer(raw: str) -> int | None:
    """The integer ASCII text `-?[0-9]+` writes (not `+1`, ` 1`, `1_000` or Arabic-Indic
    digits, all of which int() takes); far too many digits read as a number out of any range."""
    if not _INTEGER_TEXT.fullmatch(raw):
        return None
    if len(raw.lstrip("-")) > _MAX_INTEGER_DIGITS:
        return -_BEYOND_ANY_RANGE if raw.startswith("-") else _BEYOND_ANY_RANGE
    return int(raw)


def _raise_if_any(out: list[FieldViolation]) -> None:
    if out:
        unreadable = any(v.rule == RANGE for v in out)
        raise (OutOfRange if unreadable else InvalidArgument)(out)


def parse(
    data: Any, message_type: type[Message], *, read_only: frozenset[str] = frozenset()
) -> Any:
    """A message from decoded JSON, or InvalidArgument (OutOfRange) naming every bad field."""
    message = message_type()
    out: list[FieldViolation] = []
    _fill(message, data, "", out, read_only)
    _raise_if_any(out)
    return message


def parse_query(
    query: Mapping[str, str], message_type: type[Message], *, names: Iterable[str]
) -> Any:
    """A request message from query parameters (only `names`; the rest are ignored): integers
    and booleans are converted from their text, enums go by their short names."""
    fields: Any = message_type.DESCRIPTOR.fields_by_name
    data: dict[str, Any] = {}
    out: list[FieldViolation] = []
    for name in names:
        raw = query.get(name)
        if raw is None or raw == "":
            continue
        kind = fields[name].type
        if kind in _INT_RANGES:
            number = _integer(raw)
            if number is None:
                out.append(FieldViolation(name, "must be an integer"))
            else:
                data[name] = number
        elif kind == FieldDescriptor.TYPE_BOOL:
            if raw not in ("true", "false"):
                out.append(FieldViolation(name, "must be true or false"))
            data[name] = raw == "true"
        else:
            data[name] = raw
    message = message_type()
    _fill(message, data, "", out, frozenset())
    _raise_if_any(out)
    return message


_CONTAINERS = (dict, list)


def _members(data: Any) -> int:
    """How many key-value members the objects in decoded JSON hold, nested ones included."""
    count = 0
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            count += len(value)
            pending += [v for v in value.values() if isinstance(v, _CONTAINERS)]
        elif isinstance(value, list):
            pending += [v for v in value if isinstance(v, _CONTAINERS)]
    return count


def _colons_in_text(data: Any) -> int:
    """How many `:` the keys and strings of decoded JSON hold."""
    if isinstance(data, str):
        return data.count(":")
    count = 0
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            count += "".join(value).count(":")  # the keys
            value = list(value.values())
        count += "".join([v for v in value if isinstance(v, str)]).count(":")
        pending += [v for v in value if isinstance(v, _CONTAINERS)]
    return count


def loads(raw: bytes) -> Any:
    """Decoded JSON, or orjson.JSONDecodeError, or DuplicateKey naming every key that an object
    holds twice (orjson, fast, lets the last one win).

    Without duplicates, the text has one `:` per decoded member plus those inside its strings,
    which are the colons of the decoded strings unless some were escaped (`\\u003a`): a count
    and a walk or two settle it. Only a text that fails the count is parsed again, slowly, to
    name the duplicates."""
    data = orjson.loads(raw)
    colons = raw.count(b":")
    members = _members(data)
    if colons == members:
        return data
    escaped = b"\\u003a" in raw or b"\\u003A" in raw
    if not escaped and colons - _colons_in_text(data) == members:
        return data
    found: list[tuple[dict[str, Any], str]] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    found.append((obj, key))
                    break
                seen.add(key)
        return obj

    try:
        tree = json.loads(raw, object_pairs_hook=pairs_hook)
    except RecursionError:  # deeper than Python's stack, not than orjson's limit
        raise DuplicateKey(["body"]) from None
    if not found:
        return data  # escaped colons, no duplicates
    raise DuplicateKey([_path_of(tree, obj, key) for obj, key in found])


def _path_of(tree: Any, target: dict[str, Any], key: str) -> str:
    """The path of `key` in the object `target` (by identity) within `tree`."""
    pending: list[tuple[str, Any]] = [("", tree)]
    while pending:
        path, value = pending.pop()
        if value is target:
            return f"{path}.{key}" if path else key
        if isinstance(value, dict):
            pending.extend((f"{path}.{k}" if path else k, v) for k, v in value.items())
        elif isinstance(value, list):
            pending.extend((f"{path}[{i}]", v) for i, v in enumerate(value))
    return key


# How to render each field of a message type, worked out once per type: its name, whether it
# is repeated, its kind, and for enums their short names, for maps how to render an entry.
_Plan = tuple[tuple[str, bool, int, Any], ...]
_SCALAR, _ENUM, _MESSAGE, _MAP = 0, 1, 2, 3


@functools.cache
def _plan(descriptor: Any) -> _Plan:
    plan: list[tuple[str, bool, int, Any]] = []
    for field in descriptor.fields:
        entry = map_fields(field)
        if entry is not None:
            plan.append((field.name, False, _MAP, _map_plan(*entry)))
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            plan.append((field.name, field.is_repeated, _MESSAGE, None))
        elif field.type == FieldDescriptor.TYPE_ENUM:
            plan.append((field.name, field.is_repeated, _ENUM, enum_names(field.enum_type)))
        else:
            plan.append((field.name, field.is_repeated, _SCALAR, None))
    return tuple(plan)


def _map_plan(key: FieldDescriptor, value: FieldDescriptor) -> tuple[bool, int, Any] | None:
    """None for the common map, text keys to scalar values (rendered as `dict(value)`); else
    whether keys need writing as text, and the kind and enum names of the values."""
    text_keys = key.type == FieldDescriptor.TYPE_STRING
    if value.type == FieldDescriptor.TYPE_MESSAGE:
        kind, names = _MESSAGE, None
    elif value.type == FieldDescriptor.TYPE_ENUM:
        kind, names = _ENUM, enum_names(value.enum_type)
    else:
        if text_keys:
            return None
        kind, names = _SCALAR, None
    return not text_keys, kind, names


def _key_text(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _render_map(value: Any, how: tuple[bool, int, Any]) -> dict[Any, Any]:
    convert_keys, kind, names = how
    out: dict[Any, Any] = {}
    for k, v in value.items():
        if kind == _ENUM:
            v = names.get(v)
        elif kind == _MESSAGE:
            v = render(v)
        out[_key_text(k) if convert_keys else k] = v
    return out


def _render_timestamp(ts: Any) -> str | None:
    if not ts.seconds and not ts.nanos:
        return None
    when = datetime.fromtimestamp(ts.seconds + ts.nanos / 1e9, UTC)
    return when.isoformat(timespec="microseconds").replace("+00:00", "Z")


def render(message: Message) -> Any:
    """Decoded JSON for a message: every field, unset enums and timestamps as null."""
    descriptor: Any = message.DESCRIPTOR
    if descriptor.full_name == _TIMESTAMP:
        return _render_timestamp(message)
    out: dict[str, Any] = {}
    for name, repeated, kind, how in _plan(descriptor):
        value = getattr(message, name)
        if kind == _SCALAR:
            out[name] = list(value) if repeated else value
        elif kind == _ENUM:
            out[name] = [how.get(v) for v in value] if repeated else how.get(value)
        elif kind == _MAP:
            out[name] = dict(value) if how is None else _render_map(value, how)
        elif repeated:
            out[name] = [render(v) for v in value]
        else:
            # an absent object is null, so that parsing the JSON back gives the same message
            out[name] = render(value) if message.HasField(name) else None
    return out
