"""The five licence types of Art. 28, the fields an issuer fills in for each, and their rules.

Pure functions and dataclasses, no I/O. `check` validates and normalises an issuer's fields and
reports every problem at once as `InvalidArgument`; descriptions name the problem and never
repeat a value. Every field is a string; dates are ISO `YYYY-MM-DD`; a `valid_until` of `长期`
(long-term) means the licence does not expire.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from runtime.errors import FieldViolation, InvalidArgument
from runtime.identifiers import (
    IdentifierError,
    ResidentId,
    parse_credit_code,
    parse_resident_id,
)

CITIZEN = "citizen"
ENTERPRISE = "enterprise"

LONG_TERM = "长期"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a licence type: `kind` is text, date, choice, resident_id, credit_code,
    plate, vin or amount. `max_length` is enforced on text; the other kinds have an exact form
    whose own rule says more than "too long" would, so for them it only sizes an input."""

    name: str
    label: str
    kind: str
    required: bool = True
    choices: tuple[str, ...] = ()
    max_length: int = 100


@dataclass(frozen=True, slots=True)
class TypeAuthority:
    """The authority that defines a licence type nationally (证照定义机构) and its unified social
    credit code, the first 18 characters of the type's code (GB/T 36904)."""

    name: str
    credit_code: str


# The defining ministries. Their real unified social credit codes were not found in a public
# source we could cite, so these are DEMO codes: valid GB 32100 codes of a national organ of
# state (category 11, region 100000) whose organisation code body reads 0000DM0n. Replace them
# with the ministries' own codes before licences leave the demo.
MINISTRY_OF_PUBLIC_SECURITY = TypeAuthority(
    "公安部 Ministry of Public Security", "111000000000DM01XR"
)
MINISTRY_OF_HUMAN_RESOURCES = TypeAuthority(
    "人力资源和社会保障部 Ministry of Human Resources and Social Security", "111000000000DM028R"
)
MARKET_REGULATION = TypeAuthority(
    "国家市场监督管理总局 State Administration for Market Regulation", "111000000000DM036L"
)


@dataclass(frozen=True, slots=True)
class LicenceType:
    """A licence type: who defines it, who issues it, to whom, with which fields and which
    derived claims."""

    key: str
    authority: TypeAuthority
    type_number: str  # the authority's three-digit number of the type (DEMO numbers, too)
    name: str
    english: str
    department: str
    holder_kind: str
    holder_field: str
    fields: tuple[FieldSpec, ...]
    derived: tuple[str, ...]

    @property
    def code(self) -> str:
        """The national type code (证照类型代码): the authority's credit code and the number."""
        return self.authority.credit_code + self.type_number


@dataclass(frozen=True, slots=True)
class Validity:
    """When a licence is valid; `valid_until` None is long-term (长期)."""

    valid_from: date
    valid_until: date | None


# --- schemas ---------------------------------------------------------------------------------

_AGE_CLAIMS = {"age_over_18": 18, "age_over_60": 60}
_SEXES = ("男", "女")
# 准驾车型, as the road traffic regulations list them.
_VEHICLE_CLASSES: tuple[str, ...] = ("A1", "A2", "A3", "B1", "B2", "C1", "C2", "C3", "C4", "C5")
_VEHICLE_CLASSES += ("D", "E", "F", "M", "N", "P")
_USE_CHARACTERS = (
    "非营运",
    "营运",
    "出租客运",
    "预约出租客运",
    "公路客运",
    "公交客运",
    "旅游客运",
    "货运",
    "租赁",
    "教练",
    "警用",
)


def _text(name: str, label: str, *, max_length: int = 100, required: bool = True) -> FieldSpec:
    return FieldSpec(name, label, "text", required=required, max_length=max_length)


def _date(name: str, label: str) -> FieldSpec:
    return FieldSpec(name, label, "date", max_length=10)


def _resident_id(name: str, label: str) -> FieldSpec:
    return FieldSpec(name, label, "resident_id", max_length=18)


def _validity(
    from_label: str = "有效期起始日期", until_label: str = "有效期截止日期"
) -> tuple[FieldSpec, FieldSpec]:
    # valid_from defaults to the day of issue; valid_until is a date or 长期.
    return (
        FieldSpec("valid_from", from_label, "date", required=False, max_length=10),
        FieldSpec("valid_until", until_label, "date", max_length=10),
    )


_NAME = _text("name", "姓名", max_length=50)
_SEX = FieldSpec("sex", "性别", "choice", choices=_SEXES, max_length=1)
_ADDRESS = _text("address", "住址", max_length=200)

ID_CARD = LicenceType(
    key="id_card",
    authority=MINISTRY_OF_PUBLIC_SECURITY,
    type_number="001",
    name="居民身份证",
    english="resident identity card",
    department="psb",
    holder_kind=CITIZEN,
    holder_field="id_number",
    fields=(
        _NAME,
        _SEX,
        _text("ethnicity", "民族", max_length=20),
        _date("birth_date", "出生"),
        _ADDRESS,
        _resident_id("id_number", "公民身份号码"),
        _text("issuing_authority", "签发机关"),
        *_validity(),
    ),
    derived=tuple(_AGE_CLAIMS),
)

SOCIAL_SECURITY_CARD = LicenceType(
    key="social_security_card",
    authority=MINISTRY_OF_HUMAN_RESOURCES,
    type_number="001",
    name="社会保障卡",
    english="social security card",
    department="hrss",
    holder_kind=CITIZEN,
    holder_field="id_number",
    fields=(
        _NAME,
        _SEX,
        _resident_id("id_number", "社会保障号码"),
        _text("card_number", "社会保障卡卡号", max_length=9),
        _text("issuing_city", "发卡地", max_length=50),
        *_validity(),
    ),
    derived=tuple(_AGE_CLAIMS),
)

DRIVING_LICENCE = LicenceType(
    key="driving_licence",
    authority=MINISTRY_OF_PUBLIC_SECURITY,
    type_number="002",
    name="机动车驾驶证",
    english="motor vehicle driving licence",
    department="psb",
    holder_kind=CITIZEN,
    holder_field="id_number",
    fields=(
        _NAME,
        _SEX,
        _text("nationality", "国籍", max_length=50),
        _ADDRESS,
        _date("birth_date", "出生日期"),
        # The licence number (证号) is the holder's resident ID number.
        _resident_id("id_number", "证号"),
        _date("first_issue_date", "初次领证日期"),
        FieldSpec("vehicle_class", "准驾车型", "choice", choices=_VEHICLE_CLASSES, max_length=2),
        *_validity(),
    ),
    derived=tuple(_AGE_CLAIMS),
)

VEHICLE_LICENCE = LicenceType(
    key="vehicle_licence",
    authority=MINISTRY_OF_PUBLIC_SECURITY,
    type_number="003",
    name="机动车行驶证",
    english="motor vehicle registration certificate",
    department="psb",
    holder_kind=CITIZEN,
    holder_field="owner_id_number",
    fields=(
        FieldSpec("plate_number", "号牌号码", "plate", max_length=8),
        _text("vehicle_type", "车辆类型", max_length=50),
        _text("owner", "所有人"),
        _resident_id("owner_id_number", "所有人身份证明号码"),
        FieldSpec("use_character", "使用性质", "choice", choices=_USE_CHARACTERS, max_length=10),
        _text("model", "品牌型号"),
        FieldSpec("vin", "车辆识别代号", "vin", max_length=17),
        _text("engine_number", "发动机号码", max_length=30),
        _date("register_date", "注册日期"),
        *_validity("发证日期", "有效期至"),
    ),
    derived=tuple(_AGE_CLAIMS),
)

BUSINESS_LICENCE = LicenceType(
    key="business_licence",
    authority=MARKET_REGULATION,
    type_number="001",
    name="营业执照",
    english="business licence",
    department="msa",
    holder_kind=ENTERPRISE,
    holder_field="credit_code",
    fields=(
        FieldSpec("credit_code", "统一社会信用代码", "credit_code", max_length=18),
        _text("name", "名称"),
        _text("entity_type", "类型", max_length=50),
        _text("legal_representative", "法定代表人", max_length=50),
        # Individual businesses (个体工商户) have no registered capital.
        FieldSpec("registered_capital", "注册资本", "amount", required=False, max_length=30),
        _date("established_date", "成立日期"),
        _text("address", "住所", max_length=200),
        _text("business_scope", "经营范围", max_length=2000),
        *_validity("营业期限自", "营业期限至"),
    ),
    derived=(),
)

TYPES: dict[str, LicenceType] = {
    t.key: t
    for t in (ID_CARD, SOCIAL_SECURITY_CARD, DRIVING_LICENCE, VEHICLE_LICENCE, BUSINESS_LICENCE)
}
_BY_CODE = {t.code: t for t in TYPES.values()}


def by_code(code: str) -> LicenceType | None:
    """The licence type with this national type code (authority's credit code + number)."""
    return _BY_CODE.get(code)


# --- field kinds -----------------------------------------------------------------------------

# Dates of things that have already happened: a later one is a typo.
_PAST_DATES = frozenset({"birth_date", "first_issue_date", "register_date", "established_date"})
# A licence may be issued ahead of its start, but not by years: that is a typo too.
_MAX_DAYS_AHEAD = 366
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
# Province, issuing authority letter, then 5 characters (6 on new-energy plates); I and O are
# never used, so that they cannot be read as 1 and 0.
_PLATE = re.compile(rf"[{_PROVINCES}][A-HJ-NP-Z][0-9A-HJ-NP-Z]{{5,6}}")
_AMOUNT = re.compile(r"(?:0|[1-9][0-9]{0,15})(?:\.[0-9]{1,2})?(?:万元)?")
_CARD_NUMBER = re.compile(r"[0-9A-Z]{9}")

# ISO 3779 / GB 16735: I, O and Q are never used; letters are transliterated to 1-9.
_VIN_SHAPE = re.compile(r"[0-9A-HJ-NPR-Z]{17}")
_VIN_VALUES = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)

_UPPERCASE_KINDS = frozenset({"resident_id", "credit_code", "plate", "vin"})
_UPPERCASE_FIELDS = frozenset({"card_number"})


def vin_check_digit(vin: str) -> str:
    """The check digit (position 9) of a 17-character VIN: weighted sum mod 11, 10 as X."""
    if not _VIN_SHAPE.fullmatch(vin):
        raise ValueError("a VIN is 17 digits or uppercase letters other than I, O and Q")
    total = sum(_VIN_VALUES[c] * w for c, w in zip(vin, _VIN_WEIGHTS, strict=True))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


@dataclass
class _Checked:
    """What the per-field checks found, for the rules that relate several fields."""

    today: date
    values: dict[str, str] = field(default_factory=dict)
    dates: dict[str, date] = field(default_factory=dict)
    resident: ResidentId | None = None
    failed: set[str] = field(default_factory=set)
    violations: list[FieldViolation] = field(default_factory=list)

    def refuse(self, name: str, description: str, rule: str) -> None:
        self.violations.append(FieldViolation(f"fields.{name}", description, rule))

    def fail(self, name: str, description: str, rule: str) -> None:
        self.failed.add(name)
        self.refuse(name, description, rule)


def check(
    licence_type: LicenceType, fields: Mapping[str, str], *, today: date
) -> tuple[dict[str, str], Validity]:
    """Validate and normalise an issuer's fields for `licence_type`.

    Returns the normalised fields (whitespace stripped; ID numbers, codes, plates and VINs in
    uppercase), exactly those of the schema that are present, and the licence's validity.
    Raises `InvalidArgument` listing every problem at once. A rule that relates several fields
    is checked only when each of them passed its own checks, so that one typo is reported once.
    """
    rules = _RULES.get(licence_type.key)
    if rules is None or TYPES[licence_type.key] != licence_type:
        raise ValueError("not one of the licence types of Art. 28")
    checked = _Checked(today=today)
    known = {spec.name for spec in licence_type.fields}
    for name in fields:
        if name not in known:
            checked.violations.append(
                FieldViolation("fields", f"unknown field {name[:40]!r}", "unknown-field")
            )
    for spec in licence_type.fields:
        _check_field(checked, spec, fields.get(spec.name, ""))
    validity = _validity_of(checked)
    rules(checked, validity)
    if checked.violations:
        raise InvalidArgument(checked.violations)
    assert validity is not None  # without violations both validity fields are sound
    return checked.values, validity


def derived_claims(
    licence_type: LicenceType, fields: Mapping[str, str], *, today: date
) -> dict[str, bool]:
    """The derived claims of `licence_type` for these (checked) fields at `today`, e.g.
    `{"age_over_18": True, "age_over_60": False}`: "over 18" means 18 or older.

    Raises `IdentifierError` if the holder's resident ID number is missing or not valid.
    """
    if not licence_type.derived:
        return {}
    resident = parse_resident_id(fields.get(licence_type.holder_field, ""), today=today)
    age = _age(resident.birth_date, on=today)
    return {claim: age >= _AGE_CLAIMS[claim] for claim in licence_type.derived}


# Complex on purpose: one branch per field type.
def _check_field(checked: _Checked, spec: FieldSpec, raw: str) -> None:  # noqa: C901 (one branch per field type)  # noqa: C901
    name = spec.name
    value = raw.strip()
    if not value:
        if spec.required:
            checked.fail(name, f"{spec.label} is required", "required")
        return
    if spec.kind in _UPPERCASE_KINDS or name in _UPPERCASE_FIELDS:
        value = value.upper()
    checked.values[name] = value
    if spec.kind == "text" and len(value) > spec.max_length:
        checked.fail(name, f"{spec.label} has at most {spec.max_length} characters", "too-long")
        return
    if spec.kind == "date":
        _check_date(checked, spec, value)
    elif spec.kind == "choice" and value not in spec.choices:
        checked.fail(name, f"{spec.label} must be one of {'/'.join(spec.choices)}", "not-a-choice")
    elif spec.kind == "resident_id":
        try:
            resident = parse_resident_id(value, today=checked.today)
        except IdentifierError as error:
            checked.fail(
                name, f"not a valid resident ID number: {error.reason}", "resident-id-invalid"
            )
        else:
            # Each schema has one resident ID number: the holder's.
            checked.resident = resident
    elif spec.kind == "credit_code":
        try:
            parse_credit_code(value)
        except IdentifierError as error:
            checked.fail(
                name,
                f"not a valid unified social credit code: {error.reason}",
                "credit-code-invalid",
            )
    elif spec.kind == "plate" and not _PLATE.fullmatch(value):
        checked.fail(
            name,
            "a plate number is a province abbreviation, a letter, then 5 letters or digits "
            "(6 on new-energy plates), never I or O",
            "plate-invalid",
        )
    elif spec.kind == "vin":
        if not _VIN_SHAPE.fullmatch(value):
            checked.fail(name, "a VIN is 17 digits or letters other than I, O and Q", "vin-invalid")
        elif vin_check_digit(value) != value[8]:
            checked.fail(
                name, "the VIN check digit (character 9) does not match", "vin-check-digit"
            )
    elif spec.kind == "amount" and not _AMOUNT.fullmatch(value):
        checked.fail(
            name,
            f"{spec.label} is an amount in digits with at most 2 decimals, optionally in 万元",
            "amount-invalid",
        )
    elif name == "card_number" and not _CARD_NUMBER.fullmatch(value):
        checked.fail(name, f"{spec.label} is 9 digits or uppercase letters", "card-number-invalid")


def _check_date(checked: _Checked, spec: FieldSpec, value: str) -> None:
    name = spec.name
    if name == "valid_until" and value == LONG_TERM:
        return
    parsed = _parse_date(value)
    if parsed is None:
        also = f" or {LONG_TERM}" if name == "valid_until" else ""
        checked.fail(name, f"{spec.label} must be a real date, YYYY-MM-DD{also}", "not-a-date")
        return
    if name in _PAST_DATES and parsed > checked.today:
        checked.fail(name, f"{spec.label} cannot be in the future", "not-in-future")
        return
    if name == "valid_from" and parsed > checked.today + timedelta(days=_MAX_DAYS_AHEAD):
        checked.fail(
            name,
            f"{spec.label} is at most a year after the day of issue",
            "valid-from-within-a-year",
        )
        return
    checked.dates[name] = parsed


def _parse_date(value: str) -> date | None:
    # date.fromisoformat alone also takes 20250101 and week dates; only YYYY-MM-DD is meant.
    if not _ISO_DATE.fullmatch(value):
        return None
    try:
        return date(int(value[:4]), int(value[5:7]), int(value[8:]))
    except ValueError:
        return None


def _validity_of(checked: _Checked) -> Validity | None:
    """The validity the fields state, or None when either of its fields failed its checks."""
    if {"valid_from", "valid_until"} & checked.failed:
        return None
    valid_from = checked.dates.get("valid_from", checked.today)
    until = checked.values["valid_until"]
    return Validity(valid_from, None if until == LONG_TERM else checked.dates["valid_until"])


# --- rules relating several fields ----------------------------------------------------------


def _age(birth: date, *, on: date) -> int:
    """Full years of age on a date (周岁): the birthday itself counts."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _plus_years(start: date, years: int) -> date:
    """The same month and day `years` later; 29 February becomes 28 February."""
    try:
        return start.replace(year=start.year + years)
    except ValueError:
        return start.replace(year=start.year + years, day=28)


def _birth_date_matches(checked: _Checked) -> None:
    resident, birth = checked.resident, checked.dates.get("birth_date")
    if resident is not None and birth is not None and birth != resident.birth_date:
        checked.refuse(
            "birth_date",
            "the birth date differs from the one in the resident ID number",
            "birth-date-matches-id-number",
        )


def _sex_matches(checked: _Checked) -> None:
    resident, sex = checked.resident, checked.values.get("sex")
    if resident is None or "sex" in checked.failed or sex is None:
        return
    if sex != ("男" if resident.sex == "male" else "女"):
        checked.refuse(
            "sex",
            "the sex differs from the one the resident ID number encodes",
            "sex-matches-id-number",
        )


def _id_card_rules(checked: _Checked, validity: Validity | None) -> None:
    _birth_date_matches(checked)
    _sex_matches(checked)
    if validity is None or checked.resident is None:
        return
    # GB 11643 and the resident identity card law: the period follows the age at issue.
    age = _age(checked.resident.birth_date, on=validity.valid_from)
    years = 5 if age < 16 else 10 if age <= 25 else 20 if age <= 45 else None
    expected = None if years is None else _plus_years(validity.valid_from, years)
    if validity.valid_until != expected:
        checked.refuse(
            "valid_until",
            "an identity card is valid for 5 years under 16, 10 years from 16 to 25, "
            f"20 years from 26 to 45 and {LONG_TERM} from 46, by age on valid_from",
            "validity-by-age",
        )


def _social_security_card_rules(checked: _Checked, validity: Validity | None) -> None:
    _sex_matches(checked)
    if validity is not None and validity.valid_until != _plus_years(validity.valid_from, 10):
        checked.refuse(
            "valid_until",
            "a social security card is valid for 10 years from valid_from",
            "validity-period",
        )


def _driving_licence_rules(checked: _Checked, validity: Validity | None) -> None:
    _birth_date_matches(checked)
    _sex_matches(checked)
    first_issue = checked.dates.get("first_issue_date")
    if first_issue is not None and validity is not None and first_issue > validity.valid_from:
        checked.refuse(
            "first_issue_date",
            "the first issue date cannot be after valid_from",
            "first-issue-not-after-valid-from",
        )
    if (
        first_issue is not None
        and checked.resident is not None
        and _age(checked.resident.birth_date, on=first_issue) < 18
    ):
        checked.refuse(
            "first_issue_date",
            "a driving licence is first issued at 18 or over",
            "minimum-driving-age",
        )
    if validity is None:
        return
    periods = {None, _plus_years(validity.valid_from, 6), _plus_years(validity.valid_from, 10)}
    if validity.valid_until not in periods:
        checked.refuse(
            "valid_until",
            f"a driving licence is valid for 6 or 10 years from valid_from, or {LONG_TERM}",
            "validity-period",
        )


def _vehicle_licence_rules(checked: _Checked, validity: Validity | None) -> None:
    # A 行驶证 does not expire; the periodic inspection (年检) is recorded separately.
    if validity is not None and validity.valid_until is not None:
        checked.refuse(
            "valid_until", f"a vehicle licence does not expire: {LONG_TERM}", "validity-period"
        )


def _business_licence_rules(checked: _Checked, validity: Validity | None) -> None:
    if (
        validity is not None
        and validity.valid_until is not None
        and validity.valid_until <= validity.valid_from
    ):
        checked.refuse(
            "valid_until",
            f"the business term ends after it starts, or is {LONG_TERM}",
            "validity-period",
        )


_RULES: dict[str, Callable[[_Checked, Validity | None], None]] = {
    ID_CARD.key: _id_card_rules,
    SOCIAL_SECURITY_CARD.key: _social_security_card_rules,
    DRIVING_LICENCE.key: _driving_licence_rules,
    VEHICLE_LICENCE.key: _vehicle_licence_rules,
    BUSINESS_LICENCE.key: _business_licence_rules,
}
