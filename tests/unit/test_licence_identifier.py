"""Licence identifiers of GB/T 36904 are built, printed and parsed, anyone's: the check character
is ISO/IEC 7064 MOD 37,36 over the fields after the root, as an independent implementation of the
standard's definition computes it, and each refusal names the field that is wrong."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.identifiers import (
    credit_code_check_char,
    organisation_code_check_char,
)
from services.licences.identifier import (
    MAX_LENGTH,
    PREFIX,
    IdentifierPartError,
    LicenceId,
    build,
    check_char,
    parse,
)

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
PSB = "11460100MB0A10021G"  # the public security bureau's unified social credit code
MPS_DEMO = "111000000000DM01XR"  # the demo code of the Ministry of Public Security
ID_CARD = MPS_DEMO + "001"
NOT_AN_IDENTIFIER = (
    "is not a licence identifier (1.2.156.3005.2.<type code>.<issuer code>.<serial>.<version>"
    ".<check>)"
)
REGIONS = ("460100", "340100", "110000", "330105", "370800")


def credit_code(organisation8: str, *, head: str = "91460100") -> str:
    """A valid credit code (by default of a Haikou enterprise: authority 9, category 1)."""
    first17 = head + organisation8 + organisation_code_check_char(organisation8)
    return first17 + credit_code_check_char(first17)


def mod_37_36_valid(text: str) -> bool:
    """ISO/IEC 7064 hybrid system, M = 36, as the standard defines checking: P1 = M; for each
    character a_j of the string (its check character last), S_j = (P_j mod (M + 1)) + a_j, and
    P_(j+1) = 2 x (S_j mod M, or M when that is 0); the string is correct when the last S_j
    leaves 1 mod M. Written here from the definition, apart from the code under test."""
    m = 36
    p = m
    s = 0
    for char in text:
        s = p % (m + 1) + ALPHABET.index(char)
        p = 2 * (s % m or m)
    return s % m == 1


def reference_check_char(fields: str) -> str:
    """The one character that makes `fields` + it correct (the standard: exactly one does)."""
    found = [c for c in ALPHABET if mod_37_36_valid(fields + c)]
    assert len(found) == 1
    return found[0]


def refusal(value: str) -> tuple[str, str]:
    with pytest.raises(IdentifierPartError) as caught:
        parse(value)
    return caught.value.part, caught.value.reason


def with_check(*fields: str) -> str:
    return ".".join((PREFIX, *fields, check_char("".join(fields))))


organisations = st.text(CREDIT_ALPHABET, min_size=8, max_size=8)
type_codes = st.builds(
    lambda org, number: credit_code(org, head="11100000") + f"{number:03d}",
    organisations,
    st.integers(0, 999),
)
issuer_codes = st.one_of(organisations.map(credit_code), st.sampled_from(REGIONS))
licence_ids = st.builds(
    LicenceId,
    type_code=type_codes,
    issuer_code=issuer_codes,
    serial=st.text(ALPHABET, min_size=1, max_size=32),
    version=st.integers(1, 999),
)


# --- the check character ---------------------------------------------------------------------


# Published ISO/IEC 7064 MOD 37,36 examples: A12425GABC1234002M is the standard's own worked
# example, quoted with 123AB -> X and DADPIDA3897722461 -> J in the Lobster data platform's
# reference for its "checksum ISO 7064 Mod. 37/36" function
# (https://www.lobster-world.com/online/_data/docs/46/en/BasicISO7064Mod3736Checksum.html).
# ISAN (ISO 15706) uses the same system: ISAN 0000-0000-D07A-0090-Q-0000-0000-X has Q over the
# root and episode, and X over root, episode and version.
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("A12425GABC1234002", "M"),
        ("123AB", "X"),
        ("DADPIDA3897722461", "J"),
        ("00000000D07A0090", "Q"),
        ("00000000D07A009000000000", "X"),
    ],
)
def test_check_char_matches_published_mod_37_36_examples(body: str, expected: str) -> None:
    assert check_char(body) == expected == reference_check_char(body)


# Identifiers other issuers publish (provincial licence systems' integration code and
# documentation, public on GitHub): type codes of the housing ministry (11100000000013338W) and
# of other defining authorities, issuers by credit code or by division code (340100, Hefei),
# serials of 7 to 20 digits. Each parses, so the check covers the fields after the root only.
OTHER_ISSUERS = [
    "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F",
    "1.2.156.3005.2.11100000000013338W087.11370800MB28559184.37080001202411010001.001.3",
    "1.2.156.3005.2.11100000MB03271699022.340100.000000016.001.9",
    "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.002.S",
    "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
    "1.2.156.3005.2.11100000000013338W009.11330105002500287C.2025052201.002.0",
]


@pytest.mark.parametrize("value", OTHER_ISSUERS)
def test_identifiers_of_other_issuers_parse_and_check(value: str) -> None:
    parsed = parse(value)
    assert str(parsed) == value
    fields = value[len(PREFIX) + 1 : -2].replace(".", "")
    assert value[-1] == reference_check_char(fields)


def test_the_root_is_outside_the_checked_fields() -> None:
    # the former layout computed over the root's digits too: for these identifiers it differs
    differs = [
        v
        for v in OTHER_ISSUERS
        if check_char(PREFIX.replace(".", "") + v[len(PREFIX) + 1 : -2].replace(".", "")) != v[-1]
    ]
    assert differs


@given(licence_ids)
def test_check_character_agrees_with_the_standards_definition(licence_id: LicenceId) -> None:
    text = str(licence_id)
    assert text[-1] == reference_check_char(licence_id.fields)
    assert mod_37_36_valid(licence_id.fields + text[-1])
    assert text[len(PREFIX) + 1 : -2].replace(".", "") == licence_id.fields


@pytest.mark.parametrize("body", ["1.2", "jmsfz", "1 2", "居民", "\uff21\uff22", "*"])
def test_check_char_refuses_anything_but_digits_and_uppercase_letters(body: str) -> None:
    with pytest.raises(ValueError, match="character"):
        check_char(body)


@given(licence_ids, st.data())
def test_every_single_substitution_in_the_checked_fields_is_detected(
    licence_id: LicenceId, data: st.DataObject
) -> None:
    body = licence_id.fields
    i = data.draw(st.integers(0, len(body) - 1))
    replacement = data.draw(st.sampled_from(ALPHABET.replace(body[i], "")))
    mutated = body[:i] + replacement + body[i + 1 :]
    assert check_char(mutated) != check_char(body)


@given(licence_ids, st.data())
def test_adjacent_transposition_of_characters_not_next_in_the_alphabet_is_detected(
    licence_id: LicenceId, data: st.DataObject
) -> None:
    body = licence_id.fields

    def neighbours(a: str, b: str) -> bool:
        return (ALPHABET.index(a) - ALPHABET.index(b)) % 36 in (1, 35)

    swappable = [
        i
        for i in range(len(body) - 1)
        if body[i] != body[i + 1] and not neighbours(*body[i : i + 2])
    ]
    if not swappable:
        return
    i = data.draw(st.sampled_from(swappable))
    swapped = body[:i] + body[i + 1] + body[i] + body[i + 2 :]
    assert check_char(swapped) != check_char(body)


# --- building and printing -------------------------------------------------------------------


def test_identifier_has_the_documented_form() -> None:
    text = str(build(type_code=ID_CARD, issuer_code=PSB, serial="0000000042"))
    assert re.fullmatch(
        r"1\.2\.156\.3005\.2\.111000000000DM01XR001\.11460100MB0A10021G\.0000000042\.001\.[0-9A-Z]",
        text,
    )
    assert text[-1] == reference_check_char(f"{ID_CARD}{PSB}0000000042001")


@given(licence_ids)
def test_identifier_round_trips_through_its_text(licence_id: LicenceId) -> None:
    assert parse(str(licence_id)) == licence_id
    assert len(str(licence_id)) <= MAX_LENGTH


def test_type_code_splits_into_authority_and_number() -> None:
    parsed = parse(OTHER_ISSUERS[0])
    assert (parsed.type_authority, parsed.type_number) == ("11100000000013338W", "032")


def test_next_version_keeps_the_serial_and_counts_up() -> None:
    first = build(type_code=ID_CARD, issuer_code=PSB, serial="7")
    second = first.next_version()
    assert (second.serial, second.version) == ("7", 2)
    assert parse(str(second)) == second
    assert str(second)[:-6] == str(first)[:-6]


def test_next_version_past_999_is_refused() -> None:
    last = build(type_code=ID_CARD, issuer_code=PSB, serial="7", version=999)
    with pytest.raises(ValueError, match="999"):
        last.next_version()


@pytest.mark.parametrize(
    ("fields", "part"),
    [
        ({"type_code": "JMSFZ"}, "type_code"),
        ({"type_code": MPS_DEMO}, "type_code"),
        ({"type_code": MPS_DEMO + "01"}, "type_code"),
        ({"type_code": MPS_DEMO[:-1] + "0001"}, "type_code"),
        ({"issuer_code": PSB[:17]}, "issuer_code"),
        ({"issuer_code": PSB[:17] + "0"}, "issuer_code"),
        ({"issuer_code": "999999"}, "issuer_code"),
        ({"serial": ""}, "serial"),
        ({"serial": "A" * 33}, "serial"),
        ({"serial": "00-1"}, "serial"),
        ({"version": 0}, "version"),
        ({"version": 1000}, "version"),
        ({"version": True}, "version"),
    ],
)
def test_build_refuses_bad_fields_naming_them(fields: dict[str, object], part: str) -> None:
    arguments: dict[str, object] = {"type_code": ID_CARD, "issuer_code": PSB, "serial": "1"}
    with pytest.raises(IdentifierPartError) as caught:
        build(**{**arguments, **fields})  # type: ignore[arg-type]
    assert caught.value.part == part
    assert caught.value.reason.startswith(f"the {part.replace('_', ' ')}")


# --- parsing ---------------------------------------------------------------------------------

VALID = str(build(type_code=ID_CARD, issuer_code=PSB, serial="1234567890", version=3))


@pytest.mark.parametrize(
    "value",
    [
        "",
        "JMSFZ",
        VALID.replace(PREFIX, "1.2.156.3005.1"),
        "x" + VALID,
        VALID.rsplit(".", 1)[0],
        VALID + ".0",
        VALID.replace(".", "-"),
    ],
)
def test_text_that_is_not_a_licence_identifier_is_refused(value: str) -> None:
    assert refusal(value) == ("root", NOT_AN_IDENTIFIER)


def test_the_former_layout_is_refused_naming_the_type_code() -> None:
    former = "1.2.156.3005.2.JMSFZ.11460100MB0A10021G.0000000001.01.7"
    part, reason = refusal(former)
    assert part == "type_code"
    assert "type-defining authority's unified social credit code" in reason


def test_lowercase_identifier_is_refused() -> None:
    assert refusal(VALID.lower()) == ("root", "a licence identifier is written in uppercase")


def test_identifier_longer_than_the_longest_form_is_refused() -> None:
    value = with_check(ID_CARD, PSB, "A" * 40, "001")
    assert len(value) > MAX_LENGTH
    assert refusal(value) == ("root", f"a licence identifier has at most {MAX_LENGTH} characters")


def test_wrong_check_character_is_refused() -> None:
    wrong = "0" if VALID[-1] != "0" else "1"
    assert refusal(VALID[:-1] + wrong) == ("check", "the check character is wrong")


@pytest.mark.parametrize("check", ["", "AB", "*"])
def test_malformed_check_character_is_refused(check: str) -> None:
    reason = "the check character must be one digit or uppercase letter"
    assert refusal(VALID[:-1] + check) == ("check", reason)


def test_mistyped_character_reads_as_a_wrong_check_not_a_bad_issuer() -> None:
    # The credit code's own check character is wrong too, but the typo is what matters.
    typo = VALID.replace(PSB, PSB[:-1] + "0")
    assert refusal(typo) == ("check", "the check character is wrong")


def test_issuer_code_that_is_not_a_valid_credit_code_is_refused() -> None:
    value = with_check(ID_CARD, PSB[:-1] + "0", "0000000001", "001")
    assert refusal(value) == (
        "issuer_code",
        "the issuer code is not a valid unified social credit code",
    )


def test_issuer_code_that_is_no_division_code_is_refused() -> None:
    value = with_check(ID_CARD, "999999", "0000000001", "001")
    assert refusal(value) == (
        "issuer_code",
        "the issuer code is not a GB/T 2260 administrative division code",
    )


def test_type_authority_that_is_not_a_valid_credit_code_is_refused() -> None:
    value = with_check(MPS_DEMO[:-1] + "0" + "001", PSB, "0000000001", "001")
    part, reason = refusal(value)
    assert part == "type_code" and "valid unified social credit code" in reason


@pytest.mark.parametrize("issuer", [PSB[:-1], PSB + "0", PSB[:-1] + "I", PSB[:-1] + "Z", "46010"])
def test_issuer_code_of_the_wrong_shape_is_refused(issuer: str) -> None:
    value = with_check(ID_CARD, issuer, "0000000001", "001")
    part, reason = refusal(value)
    assert part == "issuer_code" and reason.startswith("the issuer code must be")


@pytest.mark.parametrize("type_code", ["JMSFZ", MPS_DEMO, MPS_DEMO + "1", MPS_DEMO + "0001"])
def test_type_code_of_the_wrong_shape_is_refused(type_code: str) -> None:
    value = with_check(type_code, PSB, "0000000001", "001")
    part, reason = refusal(value)
    assert part == "type_code" and reason.startswith("the type code must be")


def test_serials_have_the_issuers_own_length_and_alphabet() -> None:
    for serial in ("1", "0000000001", "209FA4E88F9E4C878F3E9BED2CE7EA49"):
        assert parse(with_check(ID_CARD, PSB, serial, "001")).serial == serial


@pytest.mark.parametrize("serial", ["", "A" * 33])
def test_serial_of_the_wrong_length_is_refused(serial: str) -> None:
    value = with_check(ID_CARD, PSB, serial, "001")
    part, reason = refusal(value)
    assert part in ("serial", "root") and ("serial" in reason or "at most" in reason)


@pytest.mark.parametrize("version", ["000", "1", "01", "0001", "00A"])
def test_version_that_is_not_001_to_999_is_refused(version: str) -> None:
    value = with_check(ID_CARD, PSB, "0000000001", version)
    assert refusal(value) == ("version", "the version must be 3 digits, 001 to 999")


@given(licence_ids, st.data())
def test_refusals_never_repeat_the_identifier_or_its_fields(
    licence_id: LicenceId, data: st.DataObject
) -> None:
    text = str(licence_id)
    i = data.draw(st.integers(0, len(text) - 1))
    mutated = text[:i] + data.draw(st.sampled_from(ALPHABET + ".a")) + text[i + 1 :]
    if mutated == text:
        return
    _, reason = refusal(mutated)
    for secret in (mutated, licence_id.issuer_code, licence_id.type_code):
        assert secret not in reason
    if len(licence_id.serial) >= 4:
        assert licence_id.serial not in reason
