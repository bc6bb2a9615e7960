"""Opaque cursors for List methods: the position after which the next page starts."""

from __future__ import annotations

import base64
import binascii

from runtime.errors import FieldViolation, InvalidArgument

_PREFIX = "c1:"
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def page_size(requested: int) -> int:
    """The page size to serve: 0 means the default, larger than the maximum is capped."""
    if requested < 0:
        raise InvalidArgument([FieldViolation("page_size", "cannot be negative")])
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode_cursor(position: int | None) -> str:
    """The token for the page after `position`; empty when there is no next page."""
    if position is None:
        return ""
    return base64.urlsafe_b64encode(f"{_PREFIX}{position}".encode()).decode().rstrip("=")


def decode_cursor(token: str, *, field: str = "page_token") -> int:
    """The position a token stands for (0 for the first page); InvalidArgument if forged."""
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        if raw.startswith(_PREFIX):
            position = int(raw[len(_PREFIX) :])
            if position >= 0:
                return position
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise InvalidArgument([FieldViolation(field, "is not a token from a previous page")])


_KEY_PREFIX = "k1:"


def encode_key_cursor(position: tuple[int, str] | None) -> str:
    """The token for the page after a (time, id) key, for tables ordered by creation time."""
    if position is None:
        return ""
    raw = f"{_KEY_PREFIX}{position[0]}:{position[1]}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_key_cursor(token: str, *, field: str = "page_token") -> tuple[int, str] | None:
    """The (time, id) key a token stands for (None for the first page); InvalidArgument if
    forged."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        if raw.startswith(_KEY_PREFIX):
            at, _, ident = raw[len(_KEY_PREFIX) :].partition(":")
            if ident and int(at) >= 0:
                return int(at), ident
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise InvalidArgument([FieldViolation(field, "is not a token from a previous page")])
