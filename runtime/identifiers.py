"""Validation of Chinese identity numbers: resident ID numbers and unified social credit codes.

Pure functions, no I/O beyond reading the vendored region list once. Error messages name the
problem but never echo the number itself, so a caller may log or return them safely.

- Resident ID number (公民身份号码), GB 11643-1999: region (6) + birth date (8) + sequence (3)
  + check character, ISO 7064 MOD 11-2.
- Unified social credit code (统一社会信用代码), GB 32100-2015: registration authority (1)
  + entity category (1) + region (6) + organisation code (9, GB 11714, own check character)
  + check character, mod 31.
- Region codes: GB/T 2260, current and abolished, from `regions.txt` beside this module.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from typing import Literal

Sex = Literal["male", "female"]


class IdentifierError(ValueError):
    """An identity number that is not valid; `reason` says why, without repeating the number,
    and `rule` names the rule broken (stable, for a client to explain it in its own words)."""

    def __init__(self, reason: str, rule: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.rule = rule


# --- regions (GB/T 2260) ---------------------------------------------------------------------


@functools.cache
def _regions() -> frozenset[str]:
    text = resources.files(__package__ or "runtime").joinpath("regions.txt")
    lines = text.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def known_region(code: str) -> bool:
    """True for a GB/T 2260 administrative division code, current or abolished since 1980."""
    return code in _regions()


# --- resident ID number (GB 11643-1999) ------------------------------------------------------

_RESIDENT_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_CHECK = "10X98765432"
_RESIDENT_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_EARLIEST_BIRTH = date(1900, 1, 1)


@dataclass(frozen=True, slots=True)
class ResidentId:
    """A valid resident ID number and what it encodes. The repr hides the personal parts."""

    number: str = field(repr=False)
    region_code: str
    birth_date: date = field(repr=False)
    sex: Sex = field(repr=False)


def resident_id_check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits of a resident ID number."""
    if len(first17) != 17 or not _is_ascii_digits(first17):
        raise IdentifierError(
            "the first 17 characters of a resident ID number must be digits", "resident-id-shape"
        )
    total = sum(int(c) * w for c, w in zip(first17, _RESIDENT_WEIGHTS, strict=True))
    return _RESIDENT_CHECK[total % 11]


def parse_resident_id(value: str, *, today: date | None = None) -> ResidentId:
    """Validate an 18-character resident ID number; a lowercase final 'x' is accepted."""
    number = value.strip().upper()
    if len(number) != 18:
        raise IdentifierError(
            f"a resident ID number has 18 characters, not {len(number)}", "resident-id-length"
        )
    if not _RESIDENT_SHAPE.fullmatch(number):
        raise IdentifierError(
            "a resident ID number is 17 digits followed by a digit or X", "resident-id-shape"
        )
    # The check character first: a single mistyped digit then reads as a typo, not as a
    # misleading complaint about whichever field it happened to land in.
    if resident_id_check_char(number[:17]) != number[17]:
        raise IdentifierError("the check character does not match", "resident-id-check")
    region = number[:6]
    if not known_region(region):
        raise IdentifierError(
            "the region code (characters 1-6) is not a known division", "resident-id-region"
        )
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise IdentifierError(
            "the birth date (characters 7-14) is not a real calendar date", "resident-id-birth-date"
        ) from None
    if birth < _EARLIEST_BIRTH:
        raise IdentifierError(
            "the birth date (characters 7-14) is before 1900", "resident-id-birth-date"
        )
    if birth > (today or date.today()):
        raise IdentifierError(
            "the birth date (characters 7-14) is in the future", "resident-id-birth-date"
        )
    sequence = int(number[14:17])
    if sequence == 0:
        raise IdentifierError(
            "the sequence number (characters 15-17) 000 is never issued", "resident-id-sequence"
        )
    return ResidentId(
        number=number,
        region_code=region,
        birth_date=birth,
        sex="male" if sequence % 2 else "female",
    )


# --- unified social credit code (GB 32100-2015) ----------------------------------------------

# I, O, S, V and Z are left out so that they cannot be confused with 1, 0, 5, U and 2.
_CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_VALUES = {c: i for i, c in enumerate(_CREDIT_ALPHABET)}
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORGANISATION_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

# GB 32100-2015 table 1 with its amendments: registration authority -> (name, entity categories).
CREDIT_AUTHORITIES: dict[str, tuple[str, frozenset[str]]] = {
    "1": ("institutional staffing (机构编制)", frozenset("1239")),
    "2": ("foreign affairs (外交)", frozenset("19")),
    "3": ("justice (司法行政)", frozenset("123459")),
    "4": ("culture (文化)", frozenset("19")),
    "5": ("civil affairs (民政)", frozenset("1239")),
    "6": ("tourism (旅游)", frozenset("129")),
    "7": ("religious affairs (宗教)", frozenset("129")),
    "8": ("trade unions (工会)", frozenset("19")),
    "9": ("market regulation (工商)", frozenset("123")),
    "A": ("military staffing (中央军委改革和编制办公室)", frozenset("19")),
    "N": ("agriculture (农业)", frozenset("1239")),
    "Y": ("other (其他)", frozenset("1")),
}

# Bodies registered by central authorities carry 100000 (e.g. universities run by the ministry
# of education, national associations); it is not a GB/T 2260 division, so it is allowed here only.
NATIONAL_REGION = "100000"


@dataclass(frozen=True, slots=True)
class CreditCode:
    """A valid unified social credit code and its parts."""

    code: str
    authority: str
    category: str
    region_code: str
    organisation_code: str


def organisation_code_check_char(first8: str) -> str:
    """The GB 11714 check character for the first 8 characters of an organisation code."""
    if len(first8) != 8 or any(c not in _CREDIT_VALUES for c in first8):
        raise IdentifierError(
            "the first 8 characters of an organisation code must be digits or letters "
            "other than I, O, S, V and Z",
            "credit-code-characters",
        )
    # GB 11714 values letters A=10 ... Z=35, unlike the mod 31 alphabet of the credit code.
    total = sum(_gb11714_value(c) * w for c, w in zip(first8, _ORGANISATION_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def credit_code_check_char(first17: str) -> str:
    """The mod 31 check character for the first 17 characters of a unified social credit code."""
    if len(first17) != 17 or any(c not in _CREDIT_VALUES for c in first17):
        raise IdentifierError(
            "the first 17 characters of a credit code must be digits or letters "
            "other than I, O, S, V and Z",
            "credit-code-characters",
        )
    total = sum(_CREDIT_VALUES[c] * w for c, w in zip(first17, _CREDIT_WEIGHTS, strict=True))
    return _CREDIT_ALPHABET[-total % 31]


def parse_credit_code(value: str) -> CreditCode:
    """Validate an 18-character unified social credit code; lowercase letters are accepted."""
    code = value.strip().upper()
    if len(code) != 18:
        raise IdentifierError(
            f"a unified social credit code has 18 characters, not {len(code)}",
            "credit-code-length",
        )
    for position, char in enumerate(code, start=1):
        if char not in _CREDIT_VALUES:
            raise IdentifierError(
                f"character {position} of the credit code is not a digit or an allowed letter "
                "(I, O, S, V and Z are never used)",
                "credit-code-characters",
            )
    if credit_code_check_char(code[:17]) != code[17]:
        raise IdentifierError("the check character does not match", "credit-code-check")
    authority, category = code[0], code[1]
    if authority not in CREDIT_AUTHORITIES:
        raise IdentifierError(
            f"{authority!r} is not a registration authority code (character 1)",
            "credit-code-authority",
        )
    authority_name, categories = CREDIT_AUTHORITIES[authority]
    if category not in categories:
        raise IdentifierError(
            f"{category!r} is not an entity category (character 2) of registration authority "
            f"{authority!r}, {authority_name}",
            "credit-code-category",
        )
    region = code[2:8]
    if not _is_ascii_digits(region):
        raise IdentifierError(
            "the region code (characters 3-8) must be 6 digits", "credit-code-region"
        )
    if region != NATIONAL_REGION and not known_region(region):
        raise IdentifierError(
            "the region code (characters 3-8) is not a known division", "credit-code-region"
        )
    organisation = code[8:17]
    if organisation_code_check_char(organisation[:8]) != organisation[8]:
        raise IdentifierError(
            "the organisation code check character (character 17) does not match",
            "credit-code-organisation-check",
        )
    return CreditCode(
        code=code,
        authority=authority,
        category=category,
        region_code=region,
        organisation_code=organisation,
    )


def _gb11714_value(char: str) -> int:
    return int(char) if char.isdigit() else ord(char) - ord("A") + 10


def _is_ascii_digits(text: str) -> bool:
    # str.isdigit alone accepts full-width and other Unicode digits.
    return text.isascii() and text.isdigit()
