"""The electronic licence identifier (电子证照标识) of GB/T 36904-2018, anyone's, parsed, checked.

Form: `1.2.156.3005.2.<type code>.<issuer code>.<serial>.<version>.<check>`, e.g.
`1.2.156.3005.2.111000000000DM01XR001.11460100MB0A10021G.0000000001.001.<check>`:

- root `1.2.156.3005.2` (the electronic licence arc);
- type code (证照类型代码): the type-defining authority's unified social credit code (GB 32100,
  18 characters, its check characters right) followed by a three-digit type number;
- issuer code (颁发机构代码): the issuing organisation's unified social credit code, or a GB/T
  2260 administrative division code (6 digits) where a region issues;
- serial (流水号): the issuer's own, 1 to 32 digits or uppercase letters (its length and
  alphabet are the issuer's: ours is 10 digits, others use up to 32 hexadecimal characters);
- version (版本号): three digits, `001` to `999`;
- check (校验位): ISO/IEC 7064 MOD 37,36 over the fields after the root, concatenated without
  their dots (type code, issuer code, serial, version).

A verifier meets other issuers' identifiers: `parse` accepts every identifier of this form, not
only the ones this platform makes. Pure functions, no I/O. Error messages name the field that is
wrong (`IdentifierPartError.part`) and never repeat the identifier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from runtime.identifiers import IdentifierError, known_region, parse_credit_code

PREFIX = "1.2.156.3005.2"

MAX_SERIAL_LENGTH = 32
# root, five fields and their dots
MAX_LENGTH = len(PREFIX) + 1 + 21 + 1 + 18 + 1 + MAX_SERIAL_LENGTH + 1 + 3 + 1 + 1

# ISO/IEC 7064 hybrid system MOD 37,36: characters 0-9 then A-Z, valued 0 to 35.
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_VALUES = {c: i for i, c in enumerate(_ALPHABET)}
_MODULUS = 36

# The alphabet of GB 32100 (no I, O, S, V, Z); its own check characters are verified separately.
_CREDIT = "[0-9A-HJ-NPQRTUWXY]{18}"
_TYPE_CODE = re.compile(rf"({_CREDIT})([0-9]{{3}})")
_ISSUER_CODE = re.compile(rf"{_CREDIT}|[0-9]{{6}}")
_SERIAL = re.compile(rf"[0-9A-Z]{{1,{MAX_SERIAL_LENGTH}}}")
_VERSION = re.compile(r"[0-9]{3}")
_MAX_VERSION = 999

ROOT, TYPE_CODE, ISSUER_CODE, SERIAL, VERSION, CHECK = (
    "root",
    "type_code",
    "issuer_code",
    "serial",
    "version",
    "check",
)

_NOT_AN_IDENTIFIER = (
    "is not a licence identifier (1.2.156.3005.2.<type code>.<issuer code>.<serial>.<version>"
    ".<check>)"
)
_TOO_LONG = f"a licence identifier has at most {MAX_LENGTH} characters"
_NOT_UPPERCASE = "a licence identifier is written in uppercase"
_BAD_TYPE_CODE = (
    "the type code must be the type-defining authority's unified social credit code "
    "(18 characters; I, O, S, V and Z are never used) and a three-digit type number"
)
_BAD_TYPE_AUTHORITY = (
    "the type code does not start with a valid unified social credit code of the "
    "type-defining authority"
)
_BAD_ISSUER_SHAPE = (
    "the issuer code must be a unified social credit code (18 digits or uppercase letters; "
    "I, O, S, V and Z are never used) or a 6-digit administrative division code"
)
_BAD_ISSUER = "the issuer code is not a valid unified social credit code"
_BAD_REGION = "the issuer code is not a GB/T 2260 administrative division code"
_BAD_SERIAL = f"the serial number must be 1 to {MAX_SERIAL_LENGTH} digits or uppercase letters"
_BAD_VERSION = "the version must be 3 digits, 001 to 999"
_BAD_CHECK_SHAPE = "the check character must be one digit or uppercase letter"
_WRONG_CHECK = "the check character is wrong"


class IdentifierPartError(IdentifierError):
    """A licence identifier that is not valid; `part` names its field (`type_code`,
    `issuer_code`, `serial`, `version`, `check`, or `root` for its overall form)."""

    def __init__(self, part: str, reason: str) -> None:
        super().__init__(reason)
        self.part = part


def check_char(fields: str) -> str:
    """The MOD 37,36 check character of `fields`: the identifier's fields after the root,
    concatenated without their dots. Any character other than 0-9 and A-Z is a `ValueError`."""
    # ISO/IEC 7064 hybrid system with M = 36: P starts at M; for each character value a,
    # S = (P + a) mod M, read as M when 0, and P = 2S mod (M + 1). A string ending in its
    # check character c leaves (P + c) mod M = 1, so c = (1 - P) mod M over the body.
    p = _MODULUS
    for position, char in enumerate(fields, start=1):
        value = _VALUES.get(char)
        if value is None:
            raise ValueError(f"character {position} is not a digit or an uppercase letter A-Z")
        s = (p + value) % _MODULUS or _MODULUS
        p = (s * 2) % (_MODULUS + 1)
    return _ALPHABET[(1 - p) % _MODULUS]


@dataclass(frozen=True, slots=True)
class LicenceId:
    """A valid licence identifier's fields; `str()` gives the identifier with its check character.

    Constructing one checks every field (an `IdentifierPartError`, a `ValueError`, if not).
    """

    type_code: str
    issuer_code: str
    serial: str
    version: int

    def __post_init__(self) -> None:
        _check_shapes(self.type_code, self.issuer_code, self.serial)
        # bool is an int; a version of True is a bug, not version 1.
        if isinstance(self.version, bool) or not 1 <= self.version <= _MAX_VERSION:
            raise IdentifierPartError(VERSION, _BAD_VERSION)
        _check_codes(self.type_code, self.issuer_code)

    @property
    def type_authority(self) -> str:
        """The unified social credit code of the authority that defined the licence type."""
        return self.type_code[:18]

    @property
    def type_number(self) -> str:
        """The authority's own three-digit number of the type."""
        return self.type_code[18:]

    @property
    def fields(self) -> str:
        """The fields after the root without their dots: what the check character covers."""
        return f"{self.type_code}{self.issuer_code}{self.serial}{self.version:03d}"

    def __str__(self) -> str:
        return (
            f"{PREFIX}.{self.type_code}.{self.issuer_code}.{self.serial}.{self.version:03d}"
            f".{check_char(self.fields)}"
        )

    def next_version(self) -> LicenceId:
        """The same licence re-issued: same serial, version + 1 (`ValueError` past 999)."""
        if self.version >= _MAX_VERSION:
            raise ValueError(f"a licence has at most {_MAX_VERSION} versions")
        return LicenceId(
            type_code=self.type_code,
            issuer_code=self.issuer_code,
            serial=self.serial,
            version=self.version + 1,
        )


def build(*, type_code: str, issuer_code: str, serial: str, version: int = 1) -> LicenceId:
    """A licence identifier from its fields; `IdentifierPartError` (a `ValueError`) on a bad one."""
    return LicenceId(type_code=type_code, issuer_code=issuer_code, serial=serial, version=version)


def parse(value: str) -> LicenceId:
    """Parse any licence identifier of the GB/T 36904 form, in its canonical (uppercase) form.

    Raises `IdentifierPartError` naming the first field found wrong, never repeating the value.
    """
    if len(value) > MAX_LENGTH:
        raise IdentifierPartError(ROOT, _TOO_LONG)
    head, dot, rest = value.partition(f"{PREFIX}.")
    parts = rest.split(".")
    if head or not dot or len(parts) != 5:
        raise IdentifierPartError(ROOT, _NOT_AN_IDENTIFIER)
    if value != value.upper():
        raise IdentifierPartError(ROOT, _NOT_UPPERCASE)
    type_code, issuer_code, serial, version, check = parts
    _check_shapes(type_code, issuer_code, serial)
    if not _VERSION.fullmatch(version) or version == "000":
        raise IdentifierPartError(VERSION, _BAD_VERSION)
    if len(check) != 1 or check not in _VALUES:
        raise IdentifierPartError(CHECK, _BAD_CHECK_SHAPE)
    # The check character before the codes' own checks: a single mistyped character then reads
    # as a typo, not as a misleading complaint about the field it happened to land in.
    if check_char(type_code + issuer_code + serial + version) != check:
        raise IdentifierPartError(CHECK, _WRONG_CHECK)
    return LicenceId(
        type_code=type_code, issuer_code=issuer_code, serial=serial, version=int(version)
    )


def check_issuer_code(code: str) -> str:
    """`code` as an issuer code of this form (a unified social credit code, its check character
    right, or a known administrative division code), else `IdentifierPartError`."""
    if not isinstance(code, str) or not _ISSUER_CODE.fullmatch(code):
        raise IdentifierPartError(ISSUER_CODE, _BAD_ISSUER_SHAPE)
    if len(code) == 6:
        if not known_region(code):
            raise IdentifierPartError(ISSUER_CODE, _BAD_REGION)
        return code
    try:
        parse_credit_code(code)
    except IdentifierError:
        raise IdentifierPartError(ISSUER_CODE, _BAD_ISSUER) from None
    return code


def _check_shapes(type_code: str, issuer_code: str, serial: str) -> None:
    if not _TYPE_CODE.fullmatch(type_code):
        raise IdentifierPartError(TYPE_CODE, _BAD_TYPE_CODE)
    if not _ISSUER_CODE.fullmatch(issuer_code):
        raise IdentifierPartError(ISSUER_CODE, _BAD_ISSUER_SHAPE)
    if not _SERIAL.fullmatch(serial):
        raise IdentifierPartError(SERIAL, _BAD_SERIAL)


def _check_codes(type_code: str, issuer_code: str) -> None:
    try:
        parse_credit_code(type_code[:18])
    except IdentifierError:
        raise IdentifierPartError(TYPE_CODE, _BAD_TYPE_AUTHORITY) from None
    if len(issuer_code) == 6:
        if not known_region(issuer_code):
            raise IdentifierPartError(ISSUER_CODE, _BAD_REGION)
        return
    try:
        parse_credit_code(issuer_code)
    except IdentifierError:
        raise IdentifierPartError(ISSUER_CODE, _BAD_ISSUER) from None
