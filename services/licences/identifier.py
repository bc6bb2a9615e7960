"""The national licence identifier (电子证照标识) and its ISO/IEC 7064 MOD 37,36 check character.

Form: `1.2.156.3005.2.<type code>.<issuer code>.<serial>.<version>.<check>`, e.g.
`1.2.156.3005.2.JMSFZ.11460100MB0A10021G.0000000001.01.<check>`:

- type code: the licence type's code, 2-20 uppercase letters or digits (`JMSFZ`);
- issuer code: the issuing department's unified social credit code (GB 32100, 18 characters);
- serial: 10 digits, zero-padded; version: 2 digits, `01` to `99`;
- check: one of `0-9A-Z`, ISO/IEC 7064 MOD 37,36 over the alphanumeric characters before it.

Pure functions, no I/O. Error messages name the problem and never repeat the identifier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from runtime.identifiers import IdentifierError, parse_credit_code

PREFIX = "1.2.156.3005.2"

_MAX_LENGTH = 80

# ISO/IEC 7064 hybrid system MOD 37,36: characters 0-9 then A-Z, valued 0 to 35.
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_VALUES = {c: i for i, c in enumerate(_ALPHABET)}
_MODULUS = 36

_TYPE_CODE = re.compile(r"[0-9A-Z]{2,20}")
# The alphabet of GB 32100 (no I, O, S, V, Z); its own check characters are verified separately.
_ISSUER_CODE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{18}")
_SERIAL = re.compile(r"[0-9]{10}")
_VERSION = re.compile(r"[0-9]{2}")
_MAX_SERIAL = 9_999_999_999
_MAX_VERSION = 99

_NOT_AN_IDENTIFIER = (
    "is not a licence identifier (1.2.156.3005.2.<type>.<issuer>.<serial>.<version>.<check>)"
)
_TOO_LONG = f"a licence identifier has at most {_MAX_LENGTH} characters"
_NOT_UPPERCASE = "a licence identifier is written in uppercase"
_BAD_TYPE_CODE = "the type code must be 2 to 20 uppercase letters or digits"
_BAD_ISSUER_SHAPE = (
    "the issuer code must be 18 digits or uppercase letters (I, O, S, V and Z are never used)"
)
_BAD_ISSUER = "the issuer code is not a valid unified social credit code"
_BAD_SERIAL = "the serial number must be 10 digits"
_BAD_VERSION = "the version must be 2 digits, 01 to 99"
_BAD_CHECK_SHAPE = "the check character must be one digit or uppercase letter"
_WRONG_CHECK = "the check character is wrong"


def check_char(body: str) -> str:
    """The MOD 37,36 check character for `body`, the identifier without its check character.

    Dots are ignored; any other character that is not a digit or an uppercase letter A-Z is a
    `ValueError` (lowercase too: the identifier is canonical uppercase).
    """
    # ISO/IEC 7064 hybrid system with M = 36: P starts at M; for each character value a,
    # S = (P + a) mod M, read as M when 0, and P = 2S mod (M + 1). A string ending in its
    # check character c leaves (P + c) mod M = 1, so c = (1 - P) mod M over the body.
    p = _MODULUS
    for position, char in enumerate(body, start=1):
        if char == ".":
            continue
        value = _VALUES.get(char)
        if value is None:
            raise ValueError(f"character {position} is not a digit, an uppercase letter A-Z or '.'")
        s = (p + value) % _MODULUS or _MODULUS
        p = (s * 2) % (_MODULUS + 1)
    return _ALPHABET[(1 - p) % _MODULUS]


@dataclass(frozen=True, slots=True)
class LicenceId:
    """A valid licence identifier's parts; `str()` gives the identifier with its check character.

    Constructing one checks every part (an `IdentifierError`, which is a `ValueError`, if not).
    """

    type_code: str
    issuer_code: str
    serial: int
    version: int

    def __post_init__(self) -> None:
        _check_code_shapes(self.type_code, self.issuer_code)
        # bool is an int; a serial of True is a bug, not serial 1.
        if isinstance(self.serial, bool) or not 0 <= self.serial <= _MAX_SERIAL:
            raise IdentifierError(_BAD_SERIAL)
        if isinstance(self.version, bool) or not 1 <= self.version <= _MAX_VERSION:
            raise IdentifierError(_BAD_VERSION)
        try:
            parse_credit_code(self.issuer_code)
        except IdentifierError:
            raise IdentifierError(_BAD_ISSUER) from None

    def __str__(self) -> str:
        body = f"{PREFIX}.{self.type_code}.{self.issuer_code}.{self.serial:010d}.{self.version:02d}"
        return f"{body}.{check_char(body)}"

    def next_version(self) -> LicenceId:
        """The same licence re-issued: same serial, version + 1 (`ValueError` past 99)."""
        if self.version >= _MAX_VERSION:
            raise ValueError(f"a licence has at most {_MAX_VERSION} versions")
        return LicenceId(
            type_code=self.type_code,
            issuer_code=self.issuer_code,
            serial=self.serial,
            version=self.version + 1,
        )


def build(*, type_code: str, issuer_code: str, serial: int, version: int = 1) -> LicenceId:
    """A licence identifier from its parts; `ValueError` (an `IdentifierError`) on a bad part."""
    return LicenceId(type_code=type_code, issuer_code=issuer_code, serial=serial, version=version)


def parse(value: str) -> LicenceId:
    """Parse a licence identifier in its canonical (uppercase) form.

    Raises `IdentifierError` whose reason names the first problem found, never the value.
    """
    if len(value) > _MAX_LENGTH:
        raise IdentifierError(_TOO_LONG)
    head, dot, rest = value.partition(f"{PREFIX}.")
    parts = rest.split(".")
    if head or not dot or len(parts) != 5:
        raise IdentifierError(_NOT_AN_IDENTIFIER)
    if value != value.upper():
        raise IdentifierError(_NOT_UPPERCASE)
    type_code, issuer_code, serial, version, check = parts
    _check_code_shapes(type_code, issuer_code)
    if not _SERIAL.fullmatch(serial):
        raise IdentifierError(_BAD_SERIAL)
    if not _VERSION.fullmatch(version) or version == "00":
        raise IdentifierError(_BAD_VERSION)
    if len(check) != 1 or check not in _VALUES:
        raise IdentifierError(_BAD_CHECK_SHAPE)
    # The check character before the issuer's own checks: a single mistyped character then
    # reads as a typo, not as a misleading complaint about the part it happened to land in.
    if check_char(value[:-2]) != check:
        raise IdentifierError(_WRONG_CHECK)
    return LicenceId(
        type_code=type_code, issuer_code=issuer_code, serial=int(serial), version=int(version)
    )


def _check_code_shapes(type_code: str, issuer_code: str) -> None:
    if not _TYPE_CODE.fullmatch(type_code):
        raise IdentifierError(_BAD_TYPE_CODE)
    if not _ISSUER_CODE.fullmatch(issuer_code):
        raise IdentifierError(_BAD_ISSUER_SHAPE)
