"""The five licence types of Art. 28 check an issuer's fields: every problem at once, each with
its field and rule, and never a personal value in a description."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.errors import FieldViolation, InvalidArgument
from runtime.identifiers import (
    credit_code_check_char,
    organisation_code_check_char,
    parse_credit_code,
    resident_id_check_char,
)
from services.licences import identifier
from services.licences.types import (
    CITIZEN,
    ENTERPRISE,
    TYPES,
    LicenceType,
    TypeAuthority,
    Validity,
    by_code,
    check,
    derived_claims,
    vin_check_digit,
)

TODAY = date(2025, 6, 1)
PSB = "11460100MB0A10021G"


def resident_id(birth: str, sequence: str = "123", region: str = "460105") -> str:
    first17 = region + birth.replace("-", "") + sequence
    return first17 + resident_id_check_char(first17)


def credit_code(organisation8: str) -> str:
    first17 = "91460100" + organisation8 + organisation_code_check_char(organisation8)
    return first17 + credit_code_check_char(first17)


def vin(first8: str, last8: str) -> str:
    """A VIN with its check digit (character 9) computed."""
    return first8 + vin_check_digit(first8 + "0" + last8) + last8


MAN_1990 = resident_id("1990-03-07", "123")  # odd sequence: 男
WOMAN_1985 = resident_id("1985-06-12", "246")  # even sequence: 女
ENTERPRISE_CODE = credit_code("MA5T0A1B")
BYD_VIN = vin("LGXC16DF", "N0000001")


def id_card(**changes: str | None) -> dict[str, str]:
    return _with(
        {
            "name": "李明",
            "sex": "男",
            "ethnicity": "汉",
            "birth_date": "1990-03-07",
            "address": "海南省海口市龙华区滨海大道1号",
            "id_number": MAN_1990,
            "issuing_authority": "海口市公安局龙华分局",
            "valid_from": "2020-01-15",
            "valid_until": "2040-01-15",
        },
        changes,
    )


def social_security_card(**changes: str | None) -> dict[str, str]:
    return _with(
        {
            "name": "王芳",
            "sex": "女",
            "id_number": WOMAN_1985,
            "card_number": "A12345678",
            "issuing_city": "海口市",
            "valid_from": "2021-07-01",
            "valid_until": "2031-07-01",
        },
        changes,
    )


def driving_licence(**changes: str | None) -> dict[str, str]:
    return _with(
        {
            "name": "李明",
            "sex": "男",
            "nationality": "中国",
            "address": "海南省海口市龙华区滨海大道1号",
            "birth_date": "1990-03-07",
            "id_number": MAN_1990,
            "first_issue_date": "2010-05-20",
            "vehicle_class": "C1",
            "valid_from": "2016-05-20",
            "valid_until": "2026-05-20",
        },
        changes,
    )


def vehicle_licence(**changes: str | None) -> dict[str, str]:
    return _with(
        {
            "plate_number": "琼A12345",
            "vehicle_type": "小型普通客车",
            "owner": "李明",
            "owner_id_number": MAN_1990,
            "use_character": "非营运",
            "model": "比亚迪牌BYD7150WT6HEVC4",
            "vin": BYD_VIN,
            "engine_number": "BYD472QA1234567",
            "register_date": "2022-08-01",
            "valid_from": "2022-08-01",
            "valid_until": "长期",
        },
        changes,
    )


def business_licence(**changes: str | None) -> dict[str, str]:
    return _with(
        {
            "credit_code": ENTERPRISE_CODE,
            "name": "海口演示贸易有限公司",
            "entity_type": "有限责任公司(自然人投资或控股)",
            "legal_representative": "王芳",
            "registered_capital": "100万元",
            "established_date": "2019-04-02",
            "address": "海南省海口市美兰区海甸岛人民大道58号",
            "business_scope": "一般项目:货物进出口,技术进出口,日用百货销售。",
            "valid_from": "2019-04-02",
            "valid_until": "长期",
        },
        changes,
    )


def _with(fields: dict[str, str], changes: dict[str, str | None]) -> dict[str, str]:
    """The fields with changes applied; a change to None removes the field."""
    out = dict(fields)
    for name, value in changes.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


SAMPLES: dict[str, Callable[..., dict[str, str]]] = {
    "id_card": id_card,
    "social_security_card": social_security_card,
    "driving_licence": driving_licence,
    "vehicle_licence": vehicle_licence,
    "business_licence": business_licence,
}


def violations(key: str, fields: dict[str, str], *, today: date = TODAY) -> list[FieldViolation]:
    with pytest.raises(InvalidArgument) as caught:
        check(TYPES[key], fields, today=today)
    return caught.value.violations


def rules(key: str, fields: dict[str, str], *, today: date = TODAY) -> list[tuple[str, str]]:
    """(field, rule) of each violation."""
    return [(v.field, v.rule) for v in violations(key, fields, today=today)]


# --- the types -------------------------------------------------------------------------------


def test_the_five_types_of_article_28_in_order() -> None:
    assert [(t.key, t.code, t.department, t.holder_kind) for t in TYPES.values()] == [
        ("id_card", "111000000000DM01XR001", "psb", CITIZEN),
        ("social_security_card", "111000000000DM028R001", "hrss", CITIZEN),
        ("driving_licence", "111000000000DM01XR002", "psb", CITIZEN),
        ("vehicle_licence", "111000000000DM01XR003", "psb", CITIZEN),
        ("business_licence", "111000000000DM036L001", "msa", ENTERPRISE),
    ]


def test_each_type_code_is_its_defining_authoritys_credit_code_and_a_number() -> None:
    # GB/T 36904: the type code is the type-defining authority's unified social credit code
    # followed by its three-digit number of the type; codes are unique across types.
    for licence_type in TYPES.values():
        assert parse_credit_code(licence_type.authority.credit_code)
        assert licence_type.code == licence_type.authority.credit_code + licence_type.type_number
        assert re.fullmatch(r"[0-9]{3}", licence_type.type_number)
    assert len({t.code for t in TYPES.values()}) == len(TYPES)


@pytest.mark.parametrize("licence_type", TYPES.values(), ids=list(TYPES))
def test_each_type_is_well_formed(licence_type: LicenceType) -> None:
    names = [spec.name for spec in licence_type.fields]
    assert len(names) == len(set(names))
    assert {"valid_from", "valid_until"} <= set(names)
    holder = next(s for s in licence_type.fields if s.name == licence_type.holder_field)
    assert holder.kind == (
        "credit_code" if licence_type.holder_kind == ENTERPRISE else "resident_id"
    )
    assert licence_type.derived == (
        () if licence_type.holder_kind == ENTERPRISE else ("age_over_18", "age_over_60")
    )
    # Every type code makes a licence identifier.
    built = identifier.build(type_code=licence_type.code, issuer_code=PSB, serial="1")
    assert identifier.parse(str(built)).type_code == licence_type.code


def test_by_code_finds_each_type_and_nothing_else() -> None:
    for licence_type in TYPES.values():
        assert by_code(licence_type.code) is licence_type
    assert by_code("XXXX") is None
    assert by_code("JMSFZ") is None
    assert by_code(TYPES["id_card"].code.lower()) is None


def test_a_type_that_is_not_one_of_the_five_is_refused() -> None:
    stranger = LicenceType(
        key="fishing_permit",
        authority=TypeAuthority("农业农村部", "111000000000DM01XR"),
        type_number="009",
        name="捕捞许可证",
        english="fishing permit",
        department="agri",
        holder_kind=CITIZEN,
        holder_field="id_number",
        fields=(),
        derived=(),
    )
    with pytest.raises(ValueError, match=r"Art\. 28"):
        check(stranger, {}, today=TODAY)


# --- happy paths -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "validity"),
    [
        ("id_card", Validity(date(2020, 1, 15), date(2040, 1, 15))),
        ("social_security_card", Validity(date(2021, 7, 1), date(2031, 7, 1))),
        ("driving_licence", Validity(date(2016, 5, 20), date(2026, 5, 20))),
        ("vehicle_licence", Validity(date(2022, 8, 1), None)),
        ("business_licence", Validity(date(2019, 4, 2), None)),
    ],
)
def test_each_type_accepts_a_well_filled_licence(key: str, validity: Validity) -> None:
    fields = SAMPLES[key]()
    assert check(TYPES[key], fields, today=TODAY) == (fields, validity)


def test_fields_are_stripped_and_codes_uppercased() -> None:
    lower_id = resident_id("1970-01-01", "002").lower()
    assert lower_id.endswith("x")  # so that uppercasing is seen
    checked, _ = check(
        TYPES["vehicle_licence"],
        vehicle_licence(
            plate_number=" 琼ad12345 ",
            vin=BYD_VIN.lower(),
            owner=" 李明\n",
            owner_id_number=lower_id,
        ),
        today=TODAY,
    )
    assert checked["plate_number"] == "琼AD12345"
    assert checked["vin"] == BYD_VIN
    assert checked["owner"] == "李明"
    assert checked["owner_id_number"] == lower_id.upper()
    card, _ = check(
        TYPES["social_security_card"], social_security_card(card_number="a12345678"), today=TODAY
    )
    assert card["card_number"] == "A12345678"
    business, _ = check(
        TYPES["business_licence"],
        business_licence(credit_code=ENTERPRISE_CODE.lower()),
        today=TODAY,
    )
    assert business["credit_code"] == ENTERPRISE_CODE


def test_valid_from_defaults_to_today_and_is_not_added_to_the_fields() -> None:
    fields = social_security_card(valid_from=None, valid_until="2035-06-01")
    checked, validity = check(TYPES["social_security_card"], fields, today=TODAY)
    assert validity == Validity(TODAY, date(2035, 6, 1))
    assert "valid_from" not in checked


def test_optional_field_may_be_left_out_or_blank() -> None:
    for absent in (None, "  "):
        checked, _ = check(
            TYPES["business_licence"], business_licence(registered_capital=absent), today=TODAY
        )
        assert "registered_capital" not in checked


# --- rules on single fields ------------------------------------------------------------------


@pytest.mark.parametrize("missing", [None, "", "   "])
def test_missing_required_field_is_refused(missing: str | None) -> None:
    assert rules("id_card", id_card(name=missing)) == [("fields.name", "required")]


def test_unknown_field_is_refused_by_name() -> None:
    found = violations("id_card", id_card(nickname="小明"))
    assert found == [FieldViolation("fields", "unknown field 'nickname'", "unknown-field")]


def test_overlong_field_is_refused() -> None:
    assert rules("id_card", id_card(name="李" * 51)) == [("fields.name", "too-long")]
    scope = "经" * 2001
    assert rules("business_licence", business_licence(business_scope=scope)) == [
        ("fields.business_scope", "too-long")
    ]
    check(TYPES["business_licence"], business_licence(business_scope=scope[:2000]), today=TODAY)


@pytest.mark.parametrize("value", ["2019-02-30", "2019/04/02", "20190402", "2019-4-2", "明天"])
def test_date_that_is_not_a_real_iso_date_is_refused(value: str) -> None:
    assert rules("business_licence", business_licence(established_date=value)) == [
        ("fields.established_date", "not-a-date")
    ]


def test_valid_until_other_than_a_date_or_long_term_is_refused() -> None:
    assert rules("business_licence", business_licence(valid_until="永久")) == [
        ("fields.valid_until", "not-a-date")
    ]


@pytest.mark.parametrize(
    ("key", "name", "also"),
    [
        ("business_licence", "established_date", {}),
        ("vehicle_licence", "register_date", {}),
        # A licence first issued today is valid from today.
        (
            "driving_licence",
            "first_issue_date",
            {"valid_from": "2025-06-01", "valid_until": "长期"},
        ),
    ],
)
def test_date_of_a_past_event_in_the_future_is_refused(
    key: str, name: str, also: dict[str, str]
) -> None:
    tomorrow = (TODAY + timedelta(days=1)).isoformat()
    assert rules(key, SAMPLES[key](**{name: tomorrow}, **also)) == [
        (f"fields.{name}", "not-in-future")
    ]
    check(TYPES[key], SAMPLES[key](**{name: TODAY.isoformat()}, **also), today=TODAY)


def test_birth_date_in_the_future_is_refused() -> None:
    assert rules("id_card", id_card(birth_date="2025-06-02")) == [
        ("fields.birth_date", "not-in-future")
    ]


def test_valid_from_more_than_a_year_ahead_is_refused() -> None:
    fields = business_licence(valid_from="2026-06-03", established_date="2025-05-01")
    assert rules("business_licence", fields) == [("fields.valid_from", "valid-from-within-a-year")]
    fields = business_licence(valid_from="2026-06-01", established_date="2025-05-01")
    check(TYPES["business_licence"], fields, today=TODAY)


@pytest.mark.parametrize(
    ("key", "name", "value"),
    [
        ("id_card", "sex", "M"),
        ("id_card", "sex", "男性"),  # longer than any choice: still not-a-choice
        ("driving_licence", "vehicle_class", "C6"),
        ("driving_licence", "vehicle_class", "c1"),
        ("vehicle_licence", "use_character", "私用"),
    ],
)
def test_value_outside_the_choices_is_refused(key: str, name: str, value: str) -> None:
    assert rules(key, SAMPLES[key](**{name: value})) == [(f"fields.{name}", "not-a-choice")]


@pytest.mark.parametrize(
    "value",
    [
        MAN_1990[:-1] + ("0" if MAN_1990[-1] != "0" else "1"),  # wrong check character
        MAN_1990[:17],
        resident_id("1990-03-07", region="999999"),
    ],
)
def test_resident_id_number_that_is_not_valid_is_refused(value: str) -> None:
    found = violations("id_card", id_card(id_number=value))
    # Cross-field rules are not checked against a number that is wrong already.
    assert [(v.field, v.rule) for v in found] == [("fields.id_number", "resident-id-invalid")]
    assert value not in found[0].description


def test_credit_code_that_is_not_valid_is_refused() -> None:
    value = ENTERPRISE_CODE[:-1] + ("0" if ENTERPRISE_CODE[-1] != "0" else "1")
    found = violations("business_licence", business_licence(credit_code=value))
    assert [(v.field, v.rule) for v in found] == [("fields.credit_code", "credit-code-invalid")]
    assert value not in found[0].description


@pytest.mark.parametrize("plate", ["琼A12345", "琼AD12345", "京BF1234X", "粤B12345"])
def test_ordinary_and_new_energy_plates_are_accepted(plate: str) -> None:
    check(TYPES["vehicle_licence"], vehicle_licence(plate_number=plate), today=TODAY)


@pytest.mark.parametrize(
    "plate", ["琼A1234", "琼AI2345", "琼A1O345", "XA12345", "琼112345", "A12345"]
)
def test_plate_number_of_the_wrong_form_is_refused(plate: str) -> None:
    assert rules("vehicle_licence", vehicle_licence(plate_number=plate)) == [
        ("fields.plate_number", "plate-invalid")
    ]


def test_vin_check_digit_matches_the_published_example() -> None:
    # The worked example of the North American VIN check digit, ISO 3779 / 49 CFR 565.
    assert vin_check_digit("1M8GDM9AXKP042788") == "X"
    check(TYPES["vehicle_licence"], vehicle_licence(vin="1M8GDM9AXKP042788"), today=TODAY)


@pytest.mark.parametrize("value", [BYD_VIN[:16], BYD_VIN[:-1] + "O", BYD_VIN[:-1] + "Q"])
def test_vin_of_the_wrong_form_is_refused(value: str) -> None:
    assert rules("vehicle_licence", vehicle_licence(vin=value)) == [("fields.vin", "vin-invalid")]


def test_vin_with_a_wrong_check_digit_is_refused() -> None:
    wrong = BYD_VIN[:8] + ("0" if BYD_VIN[8] != "0" else "1") + BYD_VIN[9:]
    assert rules("vehicle_licence", vehicle_licence(vin=wrong)) == [
        ("fields.vin", "vin-check-digit")
    ]


@pytest.mark.parametrize("amount", ["100", "100万元", "0.5万元", "1000000.00", "35.5"])
def test_amounts_in_digits_and_ten_thousands_are_accepted(amount: str) -> None:
    check(TYPES["business_licence"], business_licence(registered_capital=amount), today=TODAY)


@pytest.mark.parametrize(
    "amount", ["100.123", "一百万元", "100万", "100 万元", "-5", "01", "1,000"]
)
def test_amount_of_the_wrong_form_is_refused(amount: str) -> None:
    assert rules("business_licence", business_licence(registered_capital=amount)) == [
        ("fields.registered_capital", "amount-invalid")
    ]


@pytest.mark.parametrize("card_number", ["A1234567", "A1234567-", "A1234567啊"])
def test_social_security_card_number_of_the_wrong_form_is_refused(card_number: str) -> None:
    assert rules("social_security_card", social_security_card(card_number=card_number)) == [
        ("fields.card_number", "card-number-invalid")
    ]


# --- rules relating several fields -----------------------------------------------------------


@pytest.mark.parametrize("key", ["id_card", "driving_licence"])
def test_birth_date_other_than_the_id_numbers_is_refused(key: str) -> None:
    assert rules(key, SAMPLES[key](birth_date="1990-03-08")) == [
        ("fields.birth_date", "birth-date-matches-id-number")
    ]


@pytest.mark.parametrize(
    ("key", "sex"), [("id_card", "女"), ("social_security_card", "男"), ("driving_licence", "女")]
)
def test_sex_other_than_the_id_numbers_is_refused(key: str, sex: str) -> None:
    assert rules(key, SAMPLES[key](sex=sex)) == [("fields.sex", "sex-matches-id-number")]


def _id_card_at_age(birth: str, valid_from: str, valid_until: str) -> dict[str, str]:
    return id_card(
        birth_date=birth,
        id_number=resident_id(birth),
        valid_from=valid_from,
        valid_until=valid_until,
    )


@pytest.mark.parametrize(
    ("valid_from", "valid_until"),
    [
        ("2016-05-31", "2021-05-31"),  # 15: 5 years
        ("2016-06-01", "2026-06-01"),  # 16 on the day: 10 years
        ("2026-05-31", "2036-05-31"),  # 25: 10 years
        ("2026-06-01", "2046-06-01"),  # 26 on the day: 20 years
        ("2046-05-31", "2066-05-31"),  # 45: 20 years
        ("2046-06-01", "长期"),  # 46: long-term
    ],
)
def test_identity_card_validity_follows_age_at_issue(valid_from: str, valid_until: str) -> None:
    fields = _id_card_at_age("2000-06-01", valid_from, valid_until)
    today = date.fromisoformat(valid_from)
    check(TYPES["id_card"], fields, today=today)


@pytest.mark.parametrize(
    ("valid_from", "valid_until"),
    [
        ("2016-05-31", "2026-05-31"),  # 15 needs 5 years
        ("2016-06-01", "2021-06-01"),  # 16 needs 10 years
        ("2026-06-01", "2036-06-01"),  # 26 needs 20 years
        ("2046-05-31", "长期"),  # 45 is not long-term yet
        ("2046-06-01", "2066-06-01"),  # 46 is long-term
        ("2016-06-01", "2026-06-02"),  # a day off
    ],
)
def test_identity_card_validity_not_following_age_is_refused(
    valid_from: str, valid_until: str
) -> None:
    fields = _id_card_at_age("2000-06-01", valid_from, valid_until)
    today = date.fromisoformat(valid_from)
    assert rules("id_card", fields, today=today) == [("fields.valid_until", "validity-by-age")]


@given(
    birth=st.dates(date(1930, 1, 1), date(2024, 12, 31)),
    issued_after=st.integers(0, 365 * 80),
)
def test_exactly_one_identity_card_period_fits_any_age(birth: date, issued_after: int) -> None:
    valid_from = birth + timedelta(days=issued_after)
    candidates = ["长期"] + [_plus(valid_from, years).isoformat() for years in (5, 10, 20)]
    accepted = []
    for valid_until in candidates:
        fields = _id_card_at_age(birth.isoformat(), valid_from.isoformat(), valid_until)
        try:
            check(TYPES["id_card"], fields, today=valid_from)
        except InvalidArgument:
            continue
        accepted.append(valid_until)
    assert len(accepted) == 1


def _plus(start: date, years: int) -> date:
    try:
        return start.replace(year=start.year + years)
    except ValueError:
        return start.replace(year=start.year + years, day=28)


def test_period_from_29_february_ends_on_28_february() -> None:
    fields = social_security_card(valid_from="2024-02-29", valid_until="2034-02-28")
    check(TYPES["social_security_card"], fields, today=TODAY)
    fields = social_security_card(valid_from="2024-02-29", valid_until="2034-03-01")
    assert rules("social_security_card", fields) == [("fields.valid_until", "validity-period")]


@pytest.mark.parametrize("valid_until", ["2030-07-01", "2031-06-30", "长期"])
def test_social_security_card_valid_other_than_ten_years_is_refused(valid_until: str) -> None:
    fields = social_security_card(valid_until=valid_until)
    assert rules("social_security_card", fields) == [("fields.valid_until", "validity-period")]


@pytest.mark.parametrize("valid_until", ["2022-05-20", "2026-05-20", "长期"])
def test_driving_licence_valid_six_or_ten_years_or_long_term_is_accepted(valid_until: str) -> None:
    check(TYPES["driving_licence"], driving_licence(valid_until=valid_until), today=TODAY)


@pytest.mark.parametrize("valid_until", ["2024-05-20", "2026-05-21", "2036-05-20"])
def test_driving_licence_valid_for_another_period_is_refused(valid_until: str) -> None:
    fields = driving_licence(valid_until=valid_until)
    assert rules("driving_licence", fields) == [("fields.valid_until", "validity-period")]


def test_driving_licence_first_issued_after_valid_from_is_refused() -> None:
    fields = driving_licence(first_issue_date="2016-05-21")
    assert rules("driving_licence", fields) == [
        ("fields.first_issue_date", "first-issue-not-after-valid-from")
    ]


def test_driving_licence_first_issued_under_18_is_refused() -> None:
    # The holder was born on 1990-03-07: 18 on 2008-03-07.
    assert rules("driving_licence", driving_licence(first_issue_date="2008-03-06")) == [
        ("fields.first_issue_date", "minimum-driving-age")
    ]
    check(TYPES["driving_licence"], driving_licence(first_issue_date="2008-03-07"), today=TODAY)


def test_vehicle_licence_with_an_expiry_is_refused() -> None:
    assert rules("vehicle_licence", vehicle_licence(valid_until="2032-08-01")) == [
        ("fields.valid_until", "validity-period")
    ]


@pytest.mark.parametrize("valid_until", ["2019-04-02", "2019-04-01"])
def test_business_term_ending_before_it_starts_is_refused(valid_until: str) -> None:
    assert rules("business_licence", business_licence(valid_until=valid_until)) == [
        ("fields.valid_until", "validity-period")
    ]
    check(TYPES["business_licence"], business_licence(valid_until="2039-04-01"), today=TODAY)


# --- every problem at once, and no personal values -------------------------------------------


def test_every_problem_is_reported_at_once() -> None:
    fields = id_card(
        name=None,
        sex="M",
        birth_date="1990-03-08",
        address="住" * 201,
        valid_until="2030-01-15",
        nickname="小明",
    )
    assert rules("id_card", fields) == [
        ("fields", "unknown-field"),
        ("fields.name", "required"),
        ("fields.sex", "not-a-choice"),
        ("fields.address", "too-long"),
        ("fields.birth_date", "birth-date-matches-id-number"),
        ("fields.valid_until", "validity-by-age"),
    ]


def test_descriptions_never_repeat_personal_values() -> None:
    wrong_id = MAN_1990[:-1] + ("0" if MAN_1990[-1] != "0" else "1")
    fields = driving_licence(
        name="李" * 51,
        id_number=wrong_id,
        address="海南省海口市秀英区" * 30,
        first_issue_date="2030-13-01",
        vehicle_class="Z9",
    )
    found = violations("driving_licence", fields)
    assert len(found) == 5
    for v in found:
        for value in fields.values():
            assert value not in v.description
    found = violations("id_card", id_card(sex="女", birth_date="1991-01-01"))
    for v in found:
        assert "1990" not in v.description and "1991" not in v.description


# --- derived claims --------------------------------------------------------------------------


def test_age_claims_turn_true_on_the_birthday() -> None:
    card = TYPES["id_card"]
    fields = id_card()  # born 1990-03-07
    assert derived_claims(card, fields, today=date(2008, 3, 6)) == {
        "age_over_18": False,
        "age_over_60": False,
    }
    assert derived_claims(card, fields, today=date(2008, 3, 7)) == {
        "age_over_18": True,
        "age_over_60": False,
    }
    assert derived_claims(card, fields, today=date(2050, 3, 7)) == {
        "age_over_18": True,
        "age_over_60": True,
    }


def test_vehicle_licence_claims_are_about_its_owner() -> None:
    fields = vehicle_licence(owner_id_number=resident_id("2010-01-01"))
    claims = derived_claims(TYPES["vehicle_licence"], fields, today=TODAY)
    assert claims == {"age_over_18": False, "age_over_60": False}


def test_business_licence_has_no_derived_claims() -> None:
    assert derived_claims(TYPES["business_licence"], business_licence(), today=TODAY) == {}


def test_derived_claims_need_a_valid_holder_id_number() -> None:
    with pytest.raises(ValueError):
        derived_claims(TYPES["id_card"], id_card(id_number=None), today=TODAY)
