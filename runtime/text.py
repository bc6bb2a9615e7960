"""Text the platform accepts: no control characters, no bidirectional formatting characters.

Such characters in a name or a summary hide what it says: NUL truncates it in C libraries and
terminals, an escape sequence rewrites a terminal, U+202E shows `exe.txt` as `txt.exe` (the
"Trojan Source" attack, CVE-2021-42574). Every string of every request is held to this one
rule: the gRPC server checks each request it receives (`check`), the gateway each JSON value
and query parameter it maps (`unsafe_character`), so a 422 names the field either way.

Allowed: everything else, including tab, line feed and carriage return (multi-line text such as
summaries and PEM keys) and the characters that shape scripts (zero-width joiners).
"""

from __future__ import annotations

import functools
import re
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from runtime.errors import FieldViolation, InvalidArgument

RULE = "plain-text"
# C0 controls but tab, LF and CR; DEL and the C1 controls; the bidirectional marks, embeddings,
# overrides and isolates; and lone surrogates (text that did not decode; protobuf refuses them).
_RANGES = (
    ("\x00", "\x08"),
    ("\x0b", "\x0c"),
    ("\x0e", "\x1f"),
    ("\x7f", "\x9f"),
    ("\u061c", "\u061c"),
    ("\u200e", "\u200f"),
    ("\u202a", "\u202e"),
    ("\u2066", "\u2069"),
)
_SURROGATES = ("\ud800", "\udfff")
_FORBIDDEN = re.compile("[" + "".join(f"{a}-{b}" for a, b in (*_RANGES, _SURROGATES)) + "]")
# The same rule as a JSON Schema `pattern` (ECMA-262 escapes) for the OpenAPI document, so that
# clients and fuzzers know it. Lone surrogates are left out: JSON text cannot carry them as
# characters, and regex engines of other languages cannot name them.
PATTERN = "^[^" + "".join(f"\\u{ord(a):04x}-\\u{ord(b):04x}" for a, b in _RANGES) + "]*$"
_STRING = FieldDescriptor.TYPE_STRING
_MESSAGE = FieldDescriptor.TYPE_MESSAGE


def unsafe_character(value: str) -> str | None:
    """The first character of `value` that text may not contain, as `U+202E`; None if none."""
    if value.isprintable():  # the common case, decided in C: no control, format or separator
        return None
    found = _FORBIDDEN.search(value)
    return None if found is None else f"U+{ord(found.group()):04X}"


def violation(field: str, character: str, *, key: bool = False) -> FieldViolation:
    """The violation naming `field` and the character found (never the text around it)."""
    what = "has a key with" if key else "must not contain"
    return FieldViolation(
        field, f"{what} control or bidirectional formatting characters (found {character})", RULE
    )


@functools.cache
def _map_value(field: FieldDescriptor) -> FieldDescriptor | None:
    """The value field of a map field; None for any other field."""
    entry: Any = field.message_type
    if entry is None or not entry.GetOptions().map_entry:
        return None
    value: FieldDescriptor = entry.fields_by_name["value"]
    return value


def violations(message: Message) -> list[FieldViolation]:
    """Every string in `message`, nested messages, lists and maps included, that breaks the
    rule, named by its path (`data_items[1].name`, `parameters[颜色]`)."""
    out: list[FieldViolation] = []
    pending: list[tuple[str, Message]] = [("", message)]
    while pending:
        prefix, current = pending.pop()
        for field, value in current.ListFields():
            path = prefix + field.name
            if field.type == _STRING:
                items = enumerate(value) if field.is_repeated else ((None, value),)
                for i, text in items:
                    if (found := unsafe_character(text)) is not None:
                        out.append(violation(path if i is None else f"{path}[{i}]", found))
            elif field.type == _MESSAGE:
                entry_value = _map_value(field) if field.is_repeated else None
                if entry_value is not None:
                    _map_violations(path, value, entry_value, out, pending)
                elif field.is_repeated:
                    pending.extend((f"{path}[{i}].", item) for i, item in enumerate(value))
                else:
                    pending.append((path + ".", value))
    return out


def _map_violations(
    path: str,
    entries: Any,
    value_field: FieldDescriptor,
    out: list[FieldViolation],
    pending: list[tuple[str, Message]],
) -> None:
    for key, value in entries.items():
        if isinstance(key, str) and (found := unsafe_character(key)) is not None:
            out.append(violation(path, found, key=True))  # the key itself is not repeated
            continue
        at = f"{path}[{key}]"
        if value_field.type == _MESSAGE:
            pending.append((at + ".", value))
        elif isinstance(value, str) and (found := unsafe_character(value)) is not None:
            out.append(violation(at, found))


def check(request: object) -> None:
    """Raise InvalidArgument naming every string in `request` (a message; anything else, raw
    bytes say, passes) that breaks the rule."""
    if not isinstance(request, Message):
        return
    found = violations(request)
    if found:
        raise InvalidArgument(found)
