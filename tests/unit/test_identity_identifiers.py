"""Resident ID numbers (GB 11643) and unified social credit codes (GB 32100) are validated."""

from __future__ import annotations

import calendar
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.identifiers import (
    CREDIT_AUTHORITIES,
    NATIONAL_REGION,
    CreditCode,
    IdentifierError,
    ResidentId,
    credit_code_check_char,
    known_region,
    organisation_code_check_char,
    parse_credit_code,
    parse_resident_id,
    resident_id_check_char,
)

TODAY = date(2025, 6, 1)
# Current Haikou codes, others from Beijing and Shenzhen, and abolished ones that old IDs carry:
# 460102 Zhendong District of Haikou (until 2002), 440102 Dongshan District of Guangzhou (2005).
REGIONS = ("460100", "460105", "460106", "460107", "460108", "110101", "440305", "460102", "440102")
CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def fullwidth(text: str) -> str:
    """The same characters in their full-width forms, as a Chinese input method types them."""
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


def resident_id(region: str, birth: str, sequence: str) -> str:
    first17 = region + birth + sequence
    return first17 + resident_id_check_char(first17)


def refusal(value: str, *, today: date = TODAY) -> str:
    with pytest.raises(IdentifierError) as caught:
        parse_resident_id(value, today=today)
    assert str(caught.value) == caught.value.reason
    return caught.value.reason


def credit_code(first16: str) -> str:
    """A credit code from its first 16 characters, with both check characters computed."""
    first17 = first16 + organisation_code_check_char(first16[8:16])
    return first17 + credit_code_check_char(first17)


def credit_refusal(value: str) -> str:
    with pytest.raises(IdentifierError) as caught:
        parse_credit_code(value)
    return caught.value.reason


# --- resident ID numbers ----------------------------------------------------------------------


def test_the_gb11643_standard_example_is_valid() -> None:
    parsed = parse_resident_id("11010519491231002X", today=TODAY)
    assert parsed == ResidentId(
        number="11010519491231002X",
        region_code="110105",
        birth_date=date(1949, 12, 31),
        sex="female",
    )


def test_a_lowercase_x_check_character_is_accepted_and_normalised() -> None:
    assert parse_resident_id(" 11010519491231002x ", today=TODAY).number == "11010519491231002X"


def test_an_odd_sequence_number_is_male_and_an_even_one_female() -> None:
    assert parse_resident_id(resident_id("460105", "19900101", "123"), today=TODAY).sex == "male"
    assert parse_resident_id(resident_id("460105", "19900101", "124"), today=TODAY).sex == "female"


def test_resident_id_repr_leaves_out_the_number_birth_date_and_sex() -> None:
    text = repr(parse_resident_id("11010519491231002X", today=TODAY))
    assert "002X" not in text and "1949" not in text and "female" not in text


def test_resident_id_with_wrong_check_character_is_refused() -> None:
    assert refusal("110105194912310021") == "the check character does not match"


def test_refusals_never_reveal_the_expected_check_character_or_repeat_the_number() -> None:
    reason = refusal("110105194912310021")
    assert "X" not in reason and "1101" not in reason


@pytest.mark.parametrize("value", ["", "11010519491231002", "11010519491231002X0"])
def test_resident_id_of_wrong_length_is_refused(value: str) -> None:
    assert "18 characters" in refusal(value)


@pytest.mark.parametrize(
    "value",
    [
        "1101051949123100XX",  # X only as the check character
        "11010519491231A02X",
        fullwidth("11010519491231002X"),
    ],
)
def test_resident_id_with_characters_other_than_digits_is_refused(value: str) -> None:
    assert "17 digits followed by a digit or X" in refusal(value)


def test_resident_id_with_unknown_region_code_is_refused() -> None:
    assert "region code" in refusal(resident_id("990101", "19900101", "123"))


def test_resident_id_from_an_abolished_region_is_accepted() -> None:
    assert parse_resident_id(resident_id("460102", "19700101", "123"), today=TODAY).region_code == (
        "460102"
    )


def test_resident_id_with_impossible_birth_date_is_refused() -> None:
    reason = refusal(resident_id("460105", "19990230", "123"))
    assert reason == "the birth date (characters 7-14) is not a real calendar date"


def test_resident_id_born_on_29_february_of_a_leap_year_is_accepted() -> None:
    parsed = parse_resident_id(resident_id("460105", "20000229", "123"), today=TODAY)
    assert parsed.birth_date == date(2000, 2, 29)


def test_resident_id_with_birth_date_in_the_future_is_refused() -> None:
    assert "in the future" in refusal(resident_id("460105", "20250602", "123"))
    assert parse_resident_id(resident_id("460105", "20250601", "123"), today=TODAY)


def test_resident_id_born_before_1900_is_refused() -> None:
    assert "before 1900" in refusal(resident_id("460105", "18991231", "123"))


def test_resident_id_with_sequence_000_is_refused() -> None:
    assert "000" in refusal(resident_id("460105", "19900101", "000"))


def test_check_character_needs_seventeen_digits() -> None:
    with pytest.raises(IdentifierError):
        resident_id_check_char("1101051949123100")
    with pytest.raises(IdentifierError):
        resident_id_check_char("1101051949123100A")


valid_prefixes = st.builds(
    lambda region, birth, sequence: region + birth.strftime("%Y%m%d") + f"{sequence:03d}",
    st.sampled_from(REGIONS),
    st.dates(min_value=date(1900, 1, 1), max_value=TODAY),
    st.integers(min_value=1, max_value=999),
)


@given(valid_prefixes)
def test_every_valid_prefix_with_its_check_character_parses(first17: str) -> None:
    parsed = parse_resident_id(first17 + resident_id_check_char(first17), today=TODAY)
    assert parsed.region_code == first17[:6]
    assert parsed.birth_date.strftime("%Y%m%d") == first17[6:14]
    assert parsed.sex == ("male" if int(first17[14:17]) % 2 else "female")


@given(valid_prefixes, st.sampled_from("0123456789X"))
def test_any_other_check_character_is_refused(first17: str, check: str) -> None:
    if check != resident_id_check_char(first17):
        assert refusal(first17 + check) == "the check character does not match"


@given(valid_prefixes, st.integers(min_value=0, max_value=16), st.integers(1, 9))
def test_any_single_mistyped_digit_is_caught(first17: str, position: int, shift: int) -> None:
    number = first17 + resident_id_check_char(first17)
    digit = str((int(number[position]) + shift) % 10)
    assert refusal(number[:position] + digit + number[position + 1 :]) == (
        "the check character does not match"
    )


@given(valid_prefixes, st.integers(min_value=0, max_value=15))
def test_any_swap_of_two_adjacent_digits_is_caught(first17: str, position: int) -> None:
    number = first17 + resident_id_check_char(first17)
    a, b = number[position], number[position + 1]
    if a != b:
        swapped = number[:position] + b + a + number[position + 2 :]
        assert refusal(swapped) == "the check character does not match"


@st.composite
def impossible_dates(draw: st.DrawFn) -> str:
    year = draw(st.integers(min_value=1900, max_value=2024))
    if draw(st.booleans()):
        month = draw(st.sampled_from([0, 13, 20, 99]))
        day = draw(st.integers(min_value=1, max_value=28))
    else:
        month = draw(st.integers(min_value=1, max_value=12))
        last = calendar.monthrange(year, month)[1]
        day = draw(st.sampled_from([0, *range(last + 1, 100)]))
    return f"{year:04d}{month:02d}{day:02d}"


@given(impossible_dates())
def test_impossible_birth_dates_are_refused(birth: str) -> None:
    reason = refusal(resident_id("460108", birth, "123"))
    assert reason == "the birth date (characters 7-14) is not a real calendar date"


# --- regions --------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [*REGIONS, "110000", "460000", "460300", "460400", "441900"])
def test_known_regions_include_haikou_and_abolished_divisions(code: str) -> None:
    assert known_region(code)


@pytest.mark.parametrize(
    "code", ["000000", "990101", "130171", "46010", "4601000", NATIONAL_REGION]
)
def test_statistics_only_malformed_and_national_codes_are_not_regions(code: str) -> None:
    # 130171 is a development zone in the statistics bureau's list, not a GB/T 2260 division.
    assert not known_region(code)


# --- unified social credit codes -------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "parts"),
    [
        # The example of GB 32100-2015.
        ("91350100M000100Y43", ("9", "1", "350100", "M000100Y4")),
        # The OECD's example of a Chinese TIN.
        ("91110000600037341L", ("9", "1", "110000", "600037341")),
        # Fudan and Zhejiang universities, public institutions registered centrally (100000).
        ("12100000425006117P", ("1", "2", "100000", "425006117")),
        ("12100000470095016Q", ("1", "2", "100000", "470095016")),
    ],
)
def test_published_credit_codes_are_valid(code: str, parts: tuple[str, str, str, str]) -> None:
    assert parse_credit_code(code) == CreditCode(code, *parts)


def test_a_lowercase_credit_code_is_accepted_and_normalised() -> None:
    assert parse_credit_code("91350100m000100y43").code == "91350100M000100Y43"


def test_credit_code_with_wrong_check_character_is_refused() -> None:
    assert credit_refusal("91350100M000100Y44") == "the check character does not match"


@pytest.mark.parametrize("value", ["", "91350100M000100Y4", "91350100M000100Y430"])
def test_credit_code_of_wrong_length_is_refused(value: str) -> None:
    assert "18 characters" in credit_refusal(value)


@pytest.mark.parametrize(("letter", "position"), [("I", 9), ("O", 12), ("S", 13), ("V", 16)])
def test_credit_code_with_a_letter_never_used_is_refused(letter: str, position: int) -> None:
    code = "91350100M000100Y43"
    value = code[: position - 1] + letter + code[position:]
    assert f"character {position} " in credit_refusal(value)


def test_credit_code_with_unknown_registration_authority_is_refused() -> None:
    assert "registration authority code" in credit_refusal(credit_code("B1350100M000100Y"))


def test_credit_code_with_a_category_its_authority_does_not_have_is_refused() -> None:
    # Market regulation registers enterprises (1), sole traders (2) and cooperatives (3) only.
    assert "entity category" in credit_refusal(credit_code("99350100M000100Y"))


def test_credit_code_with_unknown_region_code_is_refused() -> None:
    assert "region code" in credit_refusal(credit_code("91990100M000100Y"))


def test_credit_code_with_letters_in_the_region_code_is_refused() -> None:
    assert "6 digits" in credit_refusal(credit_code("9135A100M000100Y"))


def test_credit_code_with_wrong_organisation_code_check_character_is_refused() -> None:
    first17 = "91350100M000100Y5"
    reason = credit_refusal(first17 + credit_code_check_char(first17))
    assert reason == "the organisation code check character (character 17) does not match"


def test_organisation_code_check_characters_ten_and_eleven_are_x_and_0() -> None:
    assert organisation_code_check_char("59498494") == "X"  # from 9135021359498494XQ
    assert organisation_code_check_char("MA31DKY8") == "0"  # from 91350503MA31DKY80A


valid_credit_prefixes = st.builds(
    lambda pair, region, body: pair + region + body,
    st.sampled_from([a + c for a, (_, cats) in CREDIT_AUTHORITIES.items() for c in sorted(cats)]),
    st.sampled_from([*REGIONS, NATIONAL_REGION]),
    st.text(alphabet=CREDIT_ALPHABET, min_size=8, max_size=8),
)


@given(valid_credit_prefixes)
def test_every_valid_credit_code_prefix_with_its_check_characters_parses(first16: str) -> None:
    parsed = parse_credit_code(credit_code(first16))
    assert (parsed.authority + parsed.category + parsed.region_code) == first16[:8]
    assert parsed.organisation_code[:8] == first16[8:]


@given(valid_credit_prefixes, st.sampled_from(CREDIT_ALPHABET))
def test_any_other_credit_code_check_character_is_refused(first16: str, check: str) -> None:
    code = credit_code(first16)
    if check != code[17]:
        assert credit_refusal(code[:17] + check) == "the check character does not match"


@given(
    valid_credit_prefixes,
    st.integers(min_value=0, max_value=16),
    st.integers(min_value=1, max_value=30),
)
def test_any_single_mistyped_credit_code_character_is_caught(
    first16: str, position: int, shift: int
) -> None:
    code = credit_code(first16)
    typo = CREDIT_ALPHABET[(CREDIT_ALPHABET.index(code[position]) + shift) % 31]
    assert credit_refusal(code[:position] + typo + code[position + 1 :]) == (
        "the check character does not match"
    )
