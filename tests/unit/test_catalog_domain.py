"""Catalog rules: every rejection names the field it is about and the rule it breaks.

Metadata follows the national catalog compilation guide; the lifecycle runs draft, submitted,
returned, confirmed, published, withdrawn; the public's demands are routed and answered; the
Bureau scores and ranks each provider.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.auth import Principal
from runtime.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from services.catalog import domain
from services.catalog.demo import DEPARTMENT_CODES
from smartcity.catalog.v1 import catalog_pb2 as pb

# --- a resource that breaks no rule; each test breaks one thing ---------------------------------

MSA_CODE = DEPARTMENT_CODES["msa"]
CLASSIFICATION = {"category": "3", "item": "01", "sub_item": "001"}


def item(name: str = "统一社会信用代码", **fields: Any) -> pb.DataItem:
    values: dict[str, Any] = {"type": "string", "description": "18-character code"}
    values.update(fields)
    return pb.DataItem(name=name, **values)


def resource(**overrides: Any) -> pb.Resource:
    """Conditionally shared by interface, not open, sensitive, with one personal data item."""
    values: dict[str, Any] = {
        "name": "企业登记信息",
        "provider_department": "msa",
        "provider_code": MSA_CODE,
        "summary": "Registered enterprises of Haikou, by unified social credit code.",
        "classification": pb.Classification(**CLASSIFICATION),
        "format": "database",
        "share_type": pb.SHARE_TYPE_CONDITIONAL,
        "share_conditions": "仅用于市场监管 Market supervision only",
        "share_methods": [pb.SHARE_METHOD_INTERFACE],
        "open_type": pb.OPEN_TYPE_NOT_OPEN,
        "update_cycle": pb.UPDATE_CYCLE_DAILY,
        "data_grade": pb.DATA_GRADE_SENSITIVE,
        "data_items": [
            item("统一社会信用代码", grade=pb.DATA_GRADE_INTERNAL),
            item("法定代表人身份证号", personal=True),
        ],
    }
    values.update(overrides)
    return pb.Resource(**values)


def public_resource(**overrides: Any) -> pb.Resource:
    """Public grade, no personal data item: nothing protects it from sharing or opening."""
    values: dict[str, Any] = {
        "data_grade": pb.DATA_GRADE_PUBLIC,
        "data_items": [item("企业名称"), item("登记机关")],
    }
    values.update(overrides)
    return resource(**values)


def broken(res: pb.Resource) -> list[tuple[str, str]]:
    """The (field, rule) of every violation, in the order reported."""
    with pytest.raises(InvalidArgument) as caught:
        domain.validate_resource(res)
    return [(v.field, v.rule) for v in caught.value.violations]


def description_of(res: pb.Resource) -> str:
    """The description of the one violation the resource has."""
    with pytest.raises(InvalidArgument) as caught:
        domain.validate_resource(res)
    (only,) = caught.value.violations
    return only.description


def test_a_valid_resource_passes() -> None:
    # given a resource that follows every rule / when validated / then nothing is raised
    domain.validate_resource(resource())


def test_the_demo_department_codes_are_valid_credit_codes() -> None:
    for department, code in DEPARTMENT_CODES.items():
        domain.validate_resource(resource(provider_department=department, provider_code=code))


# --- name, summary, provider --------------------------------------------------------------------


@pytest.mark.parametrize("field", ["name", "summary"])
@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_a_name_and_a_summary_are_required(field: str, blank: str) -> None:
    assert broken(resource(**{field: blank})) == [(field, "required")]


@pytest.mark.parametrize(("field", "limit"), [("name", 200), ("summary", 2000)])
def test_a_name_and_a_summary_have_a_length_limit(field: str, limit: int) -> None:
    # given text at the limit / then it passes
    domain.validate_resource(resource(**{field: "名" * limit}))
    # when one character longer / then the field is named with the limit
    res = resource(**{field: "名" * (limit + 1)})
    assert broken(res) == [(field, "max-length")]
    assert str(limit) in description_of(res)


@pytest.mark.parametrize("dept", ["", "p", "PSB", "1psb", "psb.x", "-psb", "a" * 21, "公安"])
def test_a_malformed_provider_department_is_rejected(dept: str) -> None:
    assert broken(resource(provider_department=dept)) == [
        ("provider_department", "department-code")
    ]


def test_a_department_with_a_trailing_newline_is_rejected() -> None:
    assert broken(resource(provider_department="psb\n")) == [
        ("provider_department", "department-code")
    ]


@pytest.mark.parametrize("dept", ["ps", "psb", "hr_ss", "a-b", "a" * 20])
def test_department_codes_are_accepted(dept: str) -> None:
    domain.validate_resource(resource(provider_department=dept))


def test_the_provider_code_is_required() -> None:
    assert broken(resource(provider_code="")) == [("provider_code", "required")]


@pytest.mark.parametrize(
    "code",
    [
        MSA_CODE[:-1] + ("9" if MSA_CODE[-1] != "9" else "8"),  # wrong check character
        MSA_CODE[:17],  # one character short
        MSA_CODE + "0",  # one character long
        "I" * 18,  # letters the standard never uses
        "not a credit code",
    ],
)
def test_a_provider_code_that_is_no_credit_code_is_rejected(code: str) -> None:
    assert broken(resource(provider_code=code)) == [("provider_code", "credit-code")]


# --- classification and format ------------------------------------------------------------------


@pytest.mark.parametrize("category", ["1", "2", "3"])
def test_basic_theme_and_department_categories_are_accepted(category: str) -> None:
    classification = pb.Classification(category=category, item="01", sub_item="001")
    domain.validate_resource(resource(classification=classification))


@pytest.mark.parametrize(
    ("part", "value"),
    [
        ("category", ""),
        ("category", "0"),
        ("category", "4"),
        ("category", "31"),
        ("category", "3\n"),
        ("item", ""),
        ("item", "1"),
        ("item", "001"),
        ("item", "0a"),
        ("item", "01\n"),
        ("item", "\uff10\uff11"),  # full-width digits
        ("sub_item", ""),
        ("sub_item", "01"),
        ("sub_item", "0001"),
        ("sub_item", "abc"),
        ("sub_item", "001\n"),
    ],
)
def test_a_malformed_classification_part_is_rejected_naming_the_part(part: str, value: str) -> None:
    classification = pb.Classification(**{**CLASSIFICATION, part: value})
    assert broken(resource(classification=classification)) == [
        (f"classification.{part}", "classification")
    ]


def test_a_missing_classification_names_each_part() -> None:
    res = resource()
    res.ClearField("classification")
    assert broken(res) == [
        ("classification.category", "classification"),
        ("classification.item", "classification"),
        ("classification.sub_item", "classification"),
    ]


@pytest.mark.parametrize("kind", sorted(domain.FORMATS))
def test_every_documented_format_is_accepted(kind: str) -> None:
    domain.validate_resource(resource(format=kind))


@pytest.mark.parametrize("kind", ["csv", "Database", "database "])
def test_an_unknown_format_is_rejected(kind: str) -> None:
    assert broken(resource(format=kind)) == [("format", "known-value")]


def test_a_format_is_required() -> None:
    assert broken(resource(format="")) == [("format", "required")]


@pytest.mark.parametrize("spelling", [" {code}", "{code} ", "{lower}"])
def test_a_provider_code_is_written_one_way_only(spelling: str) -> None:
    code = DEPARTMENT_CODES["msa"]
    written = spelling.format(code=code, lower=code.lower())
    assert broken(resource(provider_code=written)) == [("provider_code", "credit-code")]


@pytest.mark.parametrize(
    "state",
    [pb.RESOURCE_STATE_DRAFT, pb.RESOURCE_STATE_SUBMITTED, pb.RESOURCE_STATE_RETURNED],
)
def test_a_listed_resource_under_revision_can_be_withdrawn(state: int) -> None:
    # given a revision under way while the previous version is listed
    assert domain.next_state("withdraw", state, listed=True) == pb.RESOURCE_STATE_WITHDRAWN
    # but a resource never listed is not withdrawn from a draft
    with pytest.raises(FailedPrecondition):
        domain.next_state("withdraw", state, listed=False)


# --- the enums ----------------------------------------------------------------------------------

ENUMS = ["share_type", "open_type", "update_cycle", "data_grade"]


@pytest.mark.parametrize("field", ENUMS)
def test_each_enum_is_required(field: str) -> None:
    # given the enum left unspecified / when validated / then that field alone is required
    assert broken(resource(**{field: 0})) == [(field, "required")]


@pytest.mark.parametrize("field", ENUMS)
def test_an_enum_number_outside_the_contract_is_rejected(field: str) -> None:
    res = resource(**{field: 99})
    assert broken(res) == [(field, "known-value")]
    assert "99" in description_of(res)


# --- data items ---------------------------------------------------------------------------------


def test_a_resource_needs_at_least_one_data_item() -> None:
    assert broken(resource(data_items=[])) == [("data_items", "required")]


def test_a_resource_has_at_most_five_hundred_data_items() -> None:
    items = [item(f"item{i}") for i in range(domain.MAX_ITEMS)]
    domain.validate_resource(resource(data_items=items))
    assert broken(resource(data_items=[*items, item("one too many")])) == [
        ("data_items", "max-items")
    ]


@pytest.mark.parametrize("name", ["", "  "])
def test_a_data_item_name_is_required_and_named_by_index(name: str) -> None:
    assert broken(resource(data_items=[item("a"), item(name)])) == [
        ("data_items[1].name", "required")
    ]


def test_a_data_item_name_over_one_hundred_characters_is_rejected() -> None:
    domain.validate_resource(resource(data_items=[item("n" * domain.MAX_ITEM_NAME)]))
    res = resource(data_items=[item("n" * (domain.MAX_ITEM_NAME + 1))])
    assert broken(res) == [("data_items[0].name", "max-length")]


def test_a_repeated_data_item_name_names_the_later_item() -> None:
    res = resource(data_items=[item("a"), item("b"), item("a")])
    assert broken(res) == [("data_items[2].name", "unique-item-name")]
    assert "repeats" in description_of(res)


@pytest.mark.parametrize("kind", ["", "text", "String", "int", "json"])
def test_an_unknown_data_item_type_is_rejected(kind: str) -> None:
    res = resource(data_items=[item("a"), item("b", type=kind)])
    assert broken(res) == [("data_items[1].type", "known-value")]


@pytest.mark.parametrize("kind", sorted(domain.ITEM_TYPES))
def test_every_documented_data_item_type_is_accepted(kind: str) -> None:
    domain.validate_resource(resource(data_items=[item("a", type=kind)]))


def test_a_data_item_description_is_optional_but_at_most_five_hundred_characters() -> None:
    domain.validate_resource(resource(data_items=[item("a", description="")]))
    domain.validate_resource(
        resource(data_items=[item("a", description="d" * domain.MAX_ITEM_DESCRIPTION)])
    )
    res = resource(data_items=[item("a", description="d" * (domain.MAX_ITEM_DESCRIPTION + 1))])
    assert broken(res) == [("data_items[0].description", "max-length")]


def test_a_data_item_grade_cannot_exceed_the_resource_grade() -> None:
    # given a sensitive resource
    same = item("a", grade=pb.DATA_GRADE_SENSITIVE)
    higher = item("b", grade=pb.DATA_GRADE_IMPORTANT)
    # when one item is graded equal and one above / then only the higher one is rejected
    res = resource(data_grade=pb.DATA_GRADE_SENSITIVE, data_items=[same, higher])
    assert broken(res) == [("data_items[1].grade", "item-grade-within-resource-grade")]
    assert "data_grade" in description_of(res)


def test_an_item_grade_is_not_compared_with_a_missing_resource_grade() -> None:
    # the missing grade is the one mistake; the item is not blamed for it
    res = resource(data_grade=0, data_items=[item("a", grade=pb.DATA_GRADE_CORE)])
    assert broken(res) == [("data_grade", "required")]


def test_an_unknown_data_item_grade_is_rejected() -> None:
    res = resource(data_items=[item("a", grade=42)])
    assert broken(res) == [("data_items[0].grade", "known-value")]
    assert "42" in description_of(res)


# --- sharing ------------------------------------------------------------------------------------


def test_personal_data_cannot_be_shared_unconditionally() -> None:
    res = public_resource(share_type=pb.SHARE_TYPE_UNCONDITIONAL, data_items=[item(personal=True)])
    assert broken(res) == [("share_type", "protected-data-not-unconditional")]
    assert "personal" in description_of(res)


@pytest.mark.parametrize(
    "grade", [pb.DATA_GRADE_SENSITIVE, pb.DATA_GRADE_IMPORTANT, pb.DATA_GRADE_CORE]
)
def test_sensitive_data_without_personal_items_cannot_be_shared_unconditionally(
    grade: int,
) -> None:
    # given no personal item at all, but a grade of sensitive or above
    res = public_resource(share_type=pb.SHARE_TYPE_UNCONDITIONAL, data_grade=grade)
    # then the grade alone forbids unconditional sharing
    assert broken(res) == [("share_type", "protected-data-not-unconditional")]


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_conditional_share_must_state_its_conditions(blank: str) -> None:
    assert broken(resource(share_conditions=blank)) == [("share_conditions", "conditions-stated")]


@pytest.mark.parametrize("field", ["share_conditions", "share_basis", "open_conditions"])
def test_conditions_and_basis_are_at_most_one_thousand_characters(field: str) -> None:
    domain.validate_resource(resource(**{field: "条" * domain.MAX_CONDITIONS}))
    assert broken(resource(**{field: "条" * (domain.MAX_CONDITIONS + 1)})) == [
        (field, "max-length")
    ]


def test_a_resource_not_shared_with_its_legal_basis_and_no_method_passes() -> None:
    domain.validate_resource(
        resource(
            share_type=pb.SHARE_TYPE_NOT_SHARED,
            share_conditions="",
            share_basis="《中华人民共和国保守国家秘密法》第二条",
            share_methods=[],
        )
    )


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_resource_not_shared_must_cite_its_legal_basis(blank: str) -> None:
    res = resource(share_type=pb.SHARE_TYPE_NOT_SHARED, share_basis=blank, share_methods=[])
    assert broken(res) == [("share_basis", "not-shared-cites-legal-basis")]


def test_a_resource_not_shared_names_no_share_method() -> None:
    res = resource(share_type=pb.SHARE_TYPE_NOT_SHARED, share_basis="保密法")
    assert broken(res) == [("share_methods", "no-method-when-not-shared")]


@pytest.mark.parametrize("kind", [pb.SHARE_TYPE_UNCONDITIONAL, pb.SHARE_TYPE_CONDITIONAL])
def test_a_shared_resource_needs_a_share_method(kind: int) -> None:
    res = public_resource(share_type=kind, share_methods=[])
    assert broken(res) == [("share_methods", "share-method")]


def test_every_share_method_together_is_accepted() -> None:
    methods = [pb.SHARE_METHOD_INTERFACE, pb.SHARE_METHOD_FILE, pb.SHARE_METHOD_SUBSCRIPTION]
    domain.validate_resource(resource(share_methods=methods))


@pytest.mark.parametrize("method", [0, 99])
def test_an_unknown_share_method_is_named_by_index(method: int) -> None:
    res = resource(share_methods=[pb.SHARE_METHOD_FILE, method])
    assert broken(res) == [("share_methods[1]", "known-value")]


def test_a_share_method_listed_twice_is_rejected() -> None:
    res = resource(share_methods=[pb.SHARE_METHOD_FILE, pb.SHARE_METHOD_FILE])
    assert broken(res) == [("share_methods", "unique")]


# --- opening ------------------------------------------------------------------------------------


def test_personal_data_cannot_be_opened_to_the_public() -> None:
    res = public_resource(open_type=pb.OPEN_TYPE_OPEN, data_items=[item(personal=True)])
    assert broken(res) == [("open_type", "protected-data-not-open")]
    assert "personal" in description_of(res)


def test_sensitive_data_without_personal_items_cannot_be_opened() -> None:
    res = public_resource(open_type=pb.OPEN_TYPE_OPEN, data_grade=pb.DATA_GRADE_SENSITIVE)
    assert broken(res) == [("open_type", "protected-data-not-open")]


def test_personal_and_sensitive_data_may_be_opened_on_stated_conditions() -> None:
    # given the baseline: sensitive, with a personal item / when opened on conditions / then ok
    domain.validate_resource(
        resource(open_type=pb.OPEN_TYPE_CONDITIONAL, open_conditions="经脱敏处理后 De-identified")
    )


@pytest.mark.parametrize("grade", [pb.DATA_GRADE_IMPORTANT, pb.DATA_GRADE_CORE])
def test_important_or_core_data_is_never_opened_even_on_conditions(grade: int) -> None:
    res = public_resource(
        data_grade=grade, open_type=pb.OPEN_TYPE_CONDITIONAL, open_conditions="申请后开放"
    )
    assert broken(res) == [("open_type", "important-data-not-open")]


def test_opening_important_data_without_conditions_breaks_both_rules() -> None:
    res = public_resource(data_grade=pb.DATA_GRADE_IMPORTANT, open_type=pb.OPEN_TYPE_OPEN)
    assert broken(res) == [
        ("open_type", "protected-data-not-open"),
        ("open_type", "important-data-not-open"),
    ]


@pytest.mark.parametrize(
    ("kind", "conditions"),
    [(pb.OPEN_TYPE_OPEN, ""), (pb.OPEN_TYPE_CONDITIONAL, "申请后开放")],
)
def test_a_resource_not_shared_between_departments_is_not_opened(
    kind: int, conditions: str
) -> None:
    res = public_resource(
        share_type=pb.SHARE_TYPE_NOT_SHARED,
        share_conditions="",
        share_basis="保密法",
        share_methods=[],
        open_type=kind,
        open_conditions=conditions,
    )
    assert broken(res) == [("open_type", "not-shared-not-open")]


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_conditional_opening_must_state_its_conditions(blank: str) -> None:
    res = resource(open_type=pb.OPEN_TYPE_CONDITIONAL, open_conditions=blank)
    assert broken(res) == [("open_conditions", "conditions-stated")]


def test_public_data_without_personal_items_may_be_shared_and_opened_unconditionally() -> None:
    res = public_resource(
        share_type=pb.SHARE_TYPE_UNCONDITIONAL,
        share_conditions="",
        share_methods=[pb.SHARE_METHOD_FILE],
        open_type=pb.OPEN_TYPE_OPEN,
    )
    domain.validate_resource(res)


@given(personal=st.lists(st.booleans(), min_size=1, max_size=8).filter(any))
def test_any_personal_item_forbids_unconditional_sharing_and_opening(personal: list[bool]) -> None:
    # given public-grade items where at least one, anywhere in the list, holds personal data
    items = [item(f"item{i}", personal=p) for i, p in enumerate(personal)]
    res = public_resource(
        share_type=pb.SHARE_TYPE_UNCONDITIONAL, open_type=pb.OPEN_TYPE_OPEN, data_items=items
    )
    # when validated / then both the sharing and the opening are refused, and nothing else
    assert broken(res) == [
        ("share_type", "protected-data-not-unconditional"),
        ("open_type", "protected-data-not-open"),
    ]


GRADES = [
    pb.DATA_GRADE_PUBLIC,
    pb.DATA_GRADE_INTERNAL,
    pb.DATA_GRADE_SENSITIVE,
    pb.DATA_GRADE_IMPORTANT,
    pb.DATA_GRADE_CORE,
]
SHARE_TYPES = [pb.SHARE_TYPE_UNCONDITIONAL, pb.SHARE_TYPE_CONDITIONAL, pb.SHARE_TYPE_NOT_SHARED]
OPEN_TYPES = [pb.OPEN_TYPE_OPEN, pb.OPEN_TYPE_CONDITIONAL, pb.OPEN_TYPE_NOT_OPEN]


@given(
    grade=st.sampled_from(GRADES),
    personal=st.booleans(),
    share=st.sampled_from(SHARE_TYPES),
    open_=st.sampled_from(OPEN_TYPES),
)
def test_share_and_open_types_follow_the_data_they_hold(
    grade: int, personal: bool, share: int, open_: int
) -> None:
    # given any grade, any personal data, any share and open type, conditions and basis stated
    not_shared = share == pb.SHARE_TYPE_NOT_SHARED
    res = resource(
        data_grade=grade,
        data_items=[item("a", personal=personal)],
        share_type=share,
        share_conditions="审批后共享",
        share_basis="保密法" if not_shared else "",
        share_methods=[] if not_shared else [pb.SHARE_METHOD_INTERFACE],
        open_type=open_,
        open_conditions="申请后开放",
    )
    # then: personal or sensitive data is neither shared nor opened without conditions,
    # important data is never opened, and what is not shared is not opened either
    protected = personal or grade >= pb.DATA_GRADE_SENSITIVE
    opened = open_ != pb.OPEN_TYPE_NOT_OPEN
    expected = set()
    if share == pb.SHARE_TYPE_UNCONDITIONAL and protected:
        expected.add(("share_type", "protected-data-not-unconditional"))
    if open_ == pb.OPEN_TYPE_OPEN and protected:
        expected.add(("open_type", "protected-data-not-open"))
    if opened and grade >= pb.DATA_GRADE_IMPORTANT:
        expected.add(("open_type", "important-data-not-open"))
    if opened and not_shared:
        expected.add(("open_type", "not-shared-not-open"))
    if expected:
        assert set(broken(res)) == expected
    else:
        domain.validate_resource(res)


# --- related codes and keywords -----------------------------------------------------------------


def test_related_codes_and_keywords_are_optional() -> None:
    domain.validate_resource(resource(related_codes=[], keywords=[]))
    domain.validate_resource(
        resource(related_codes=["301001/000001", "101002/000042"], keywords=["企业", "登记"])
    )


@pytest.mark.parametrize(
    "code", ["", "301001", "301001/1", "401001/000001", "301001-000001", "301001/000001\n"]
)
def test_a_malformed_related_code_is_named_by_index(code: str) -> None:
    res = resource(related_codes=["301001/000001", code])
    assert broken(res) == [("related_codes[1]", "resource-code")]


def test_a_resource_relates_to_at_most_twenty_others() -> None:
    codes = [f"301001/{i:06d}" for i in range(domain.MAX_RELATED)]
    domain.validate_resource(resource(related_codes=codes))
    assert broken(resource(related_codes=[*codes, "301001/999999"])) == [
        ("related_codes", "max-items")
    ]


def test_a_resource_has_at_most_ten_keywords() -> None:
    words = [f"词{i}" for i in range(domain.MAX_KEYWORDS)]
    domain.validate_resource(resource(keywords=words))
    assert broken(resource(keywords=[*words, "多余"])) == [("keywords", "max-items")]


def test_a_keyword_is_not_blank_and_at_most_twenty_characters() -> None:
    domain.validate_resource(resource(keywords=["词" * domain.MAX_KEYWORD]))
    assert broken(resource(keywords=["企业", " "])) == [("keywords[1]", "required")]
    assert broken(resource(keywords=["词" * (domain.MAX_KEYWORD + 1)])) == [
        ("keywords[0]", "max-length")
    ]


# --- everything at once -------------------------------------------------------------------------


def test_several_violations_are_reported_together() -> None:
    # given a resource breaking several rules at once
    res = resource(
        name="",
        provider_department="PSB",
        provider_code="",
        classification=pb.Classification(category="9", item="01", sub_item="001"),
        format="csv",
        update_cycle=0,
        share_type=pb.SHARE_TYPE_UNCONDITIONAL,
        share_methods=[],
        data_items=[item("a", personal=True), item("a", type="text")],
        related_codes=["bad"],
        keywords=[""],
    )
    # when validated
    with pytest.raises(InvalidArgument) as caught:
        domain.validate_resource(res)
    # then every broken rule is listed, and the message names each field
    found = [(v.field, v.rule) for v in caught.value.violations]
    assert set(found) == {
        ("name", "required"),
        ("provider_department", "department-code"),
        ("provider_code", "required"),
        ("classification.category", "classification"),
        ("format", "known-value"),
        ("update_cycle", "required"),
        ("data_items[1].name", "unique-item-name"),
        ("data_items[1].type", "known-value"),
        ("share_type", "protected-data-not-unconditional"),
        ("share_methods", "share-method"),
        ("related_codes[0]", "resource-code"),
        ("keywords[0]", "required"),
    }
    assert len(found) == len(set(found))
    for field, _ in found:
        assert field in caught.value.message


TEXT = st.text(st.characters(codec="utf-8"), max_size=30)
ENUM_NUMBER = st.integers(min_value=-1, max_value=8)


@given(
    name=TEXT,
    department=TEXT,
    code=TEXT,
    parts=st.tuples(TEXT, TEXT, TEXT),
    kind=TEXT,
    enums=st.tuples(ENUM_NUMBER, ENUM_NUMBER, ENUM_NUMBER, ENUM_NUMBER),
    methods=st.lists(ENUM_NUMBER, max_size=4),
    items=st.lists(st.tuples(TEXT, TEXT, st.booleans(), ENUM_NUMBER), max_size=4),
    words=st.lists(TEXT, max_size=3),
)
def test_any_content_is_either_valid_or_rejected_with_named_fields_and_rules(
    name: str,
    department: str,
    code: str,
    parts: tuple[str, str, str],
    kind: str,
    enums: tuple[int, int, int, int],
    methods: list[int],
    items: list[tuple[str, str, bool, int]],
    words: list[str],
) -> None:
    # given arbitrary content in every editable field
    content: dict[str, Any] = {
        "name": name,
        "provider_department": department,
        "provider_code": code,
        "summary": name,
        "classification": pb.Classification(category=parts[0], item=parts[1], sub_item=parts[2]),
        "format": kind,
        **dict(zip(ENUMS, enums, strict=True)),
        "share_methods": methods,
        "data_items": [item(n, type=t, personal=p, grade=g) for n, t, p, g in items],
        "keywords": words,
        "related_codes": words,
    }
    res = pb.Resource(**content)
    # when validated / then it passes, or every violation names an editable field and a rule
    try:
        domain.validate_resource(res)
    except InvalidArgument as exc:
        assert exc.violations
        for violation in exc.violations:
            root = violation.field.split(".")[0].split("[")[0]
            assert root in domain.EDITABLE_FIELDS
            assert violation.rule
            assert violation.description


# --- content, codes and completeness ------------------------------------------------------------

OUTPUT_ONLY = {
    "id",
    "code",
    "version",
    "create_time",
    "update_time",
    "state",
    "in_share_catalog",
    "in_open_catalog",
    "publish_time",
    "published_version",
}


def test_every_field_of_a_resource_is_either_editable_or_output_only() -> None:
    # a new field in the contract must be placed on one side, on purpose
    assert set(domain.OUTPUT_ONLY_FIELDS) == OUTPUT_ONLY
    every = {f.name for f in pb.Resource.DESCRIPTOR.fields}
    assert set(domain.EDITABLE_FIELDS) == every - OUTPUT_ONLY


def full_resource() -> pb.Resource:
    """Every field set, editable and output-only alike."""
    res = resource(
        id="r-1",
        code="301001/000042",
        version=3,
        state=pb.RESOURCE_STATE_PUBLISHED,
        in_share_catalog=True,
        in_open_catalog=True,
        published_version=2,
        share_basis="not used, but set",
        open_conditions="not used, but set",
        related_codes=["301001/000001"],
        keywords=["企业"],
    )
    for stamp in (res.create_time, res.update_time, res.publish_time):
        stamp.seconds = 1_700_000_000
    return res


def test_content_drops_every_output_only_field_and_keeps_every_editable_one() -> None:
    # given a resource with every field set
    res = full_resource()
    assert {f.name for f, _ in res.ListFields()} == {f.name for f in res.DESCRIPTOR.fields}
    # when its content is taken
    content = domain.content_of(res)
    # then only the editable fields remain, with their values, and the original is untouched
    assert {f.name for f, _ in content.ListFields()} == set(domain.EDITABLE_FIELDS)
    for name in domain.EDITABLE_FIELDS:
        assert getattr(content, name) == getattr(res, name)
    assert res.id == "r-1"
    assert res.state == pb.RESOURCE_STATE_PUBLISHED


def test_content_of_content_is_the_same_content() -> None:
    content = domain.content_of(full_resource())
    assert domain.content_of(content) == content


def test_the_resource_code_is_the_classification_code_and_a_six_digit_sequence() -> None:
    classification = pb.Classification(**CLASSIFICATION)
    assert domain.classification_code(classification) == "301001"
    assert domain.resource_code(classification, 42) == "301001/000042"
    assert domain.resource_code(classification, 999_999) == "301001/999999"


@given(
    category=st.sampled_from(sorted(domain.CATEGORIES)),
    item_code=st.from_regex(r"[0-9]{2}", fullmatch=True),
    sub_item=st.from_regex(r"[0-9]{3}", fullmatch=True),
    sequence=st.integers(min_value=1, max_value=999_999),
)
def test_any_assigned_code_is_a_valid_related_code(
    category: str, item_code: str, sub_item: str, sequence: int
) -> None:
    # given any valid classification and sequence / when the service assigns a code
    classification = pb.Classification(category=category, item=item_code, sub_item=sub_item)
    code = domain.resource_code(classification, sequence)
    # then another resource may cite it as related
    assert code.startswith(domain.classification_code(classification) + "/")
    domain.validate_resource(resource(related_codes=[code]))


def test_a_resource_without_the_recommended_metadata_is_not_complete_at_all() -> None:
    bare = pb.Resource(summary="too short", data_items=[item("a", description="")])
    assert domain.completeness(bare) == 0.0
    assert domain.completeness(pb.Resource()) == 0.0


def test_a_resource_with_all_the_recommended_metadata_is_complete() -> None:
    res = resource(keywords=["企业"], related_codes=["301001/000001"])
    assert domain.completeness(res) == 1.0


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"keywords": ["企业"]}, 0.25),
        ({"related_codes": ["301001/000001"]}, 0.25),
        ({"summary": "x" * 30}, 0.25),
        ({"summary": "x" * 29 + "   "}, 0.0),  # spaces are no substance
        ({"data_items": [item("a"), item("b", description=" ")]}, 0.125),
        ({"keywords": ["企业"], "data_items": [item("a")]}, 0.5),
    ],
)
def test_completeness_counts_each_recommended_part_as_a_quarter(
    fields: dict[str, Any], expected: float
) -> None:
    values: dict[str, Any] = {"summary": "short", "data_items": [item("a", description="")]}
    values.update(fields)
    assert domain.completeness(pb.Resource(**values)) == pytest.approx(expected)


# --- lifecycle ----------------------------------------------------------------------------------

STATES: dict[int, str] = {
    pb.RESOURCE_STATE_UNSPECIFIED: "unspecified",
    pb.RESOURCE_STATE_DRAFT: "draft",
    pb.RESOURCE_STATE_SUBMITTED: "submitted",
    pb.RESOURCE_STATE_RETURNED: "returned",
    pb.RESOURCE_STATE_CONFIRMED: "confirmed",
    pb.RESOURCE_STATE_PUBLISHED: "published",
    pb.RESOURCE_STATE_WITHDRAWN: "withdrawn",
}
# (action, from state) -> to state; every other pair is refused
ALLOWED: dict[tuple[str, int], int] = {
    ("submit", pb.RESOURCE_STATE_DRAFT): pb.RESOURCE_STATE_SUBMITTED,
    ("submit", pb.RESOURCE_STATE_RETURNED): pb.RESOURCE_STATE_SUBMITTED,
    ("return", pb.RESOURCE_STATE_SUBMITTED): pb.RESOURCE_STATE_RETURNED,
    ("confirm", pb.RESOURCE_STATE_SUBMITTED): pb.RESOURCE_STATE_CONFIRMED,
    ("publish", pb.RESOURCE_STATE_CONFIRMED): pb.RESOURCE_STATE_PUBLISHED,
    ("publish", pb.RESOURCE_STATE_PUBLISHED): pb.RESOURCE_STATE_PUBLISHED,
    ("withdraw", pb.RESOURCE_STATE_CONFIRMED): pb.RESOURCE_STATE_WITHDRAWN,
    ("withdraw", pb.RESOURCE_STATE_PUBLISHED): pb.RESOURCE_STATE_WITHDRAWN,
}
ACTIONS = ["submit", "return", "confirm", "publish", "withdraw"]
REFUSED = [pair for pair in itertools.product(ACTIONS, STATES) if pair not in ALLOWED]


def test_the_state_names_are_the_contract_s_in_lower_case() -> None:
    for state, name in STATES.items():
        assert domain.state_name(state) == name


def test_the_actions_are_the_lifecycle_s() -> None:
    assert set(domain.TRANSITIONS) == set(ACTIONS)


@pytest.mark.parametrize(("action", "current"), sorted(ALLOWED))
def test_an_allowed_step_leads_to_its_target_state(action: str, current: int) -> None:
    assert domain.next_state(action, current) == ALLOWED[(action, current)]


@pytest.mark.parametrize(("action", "current"), REFUSED)
def test_a_step_from_the_wrong_state_is_refused_naming_the_current_state(
    action: str, current: int
) -> None:
    # given a resource in a state the action does not start from / when stepped / then refused
    with pytest.raises(FailedPrecondition) as caught:
        domain.next_state(action, current)
    # and the message says what it is and what it must be
    assert f"cannot {action} a resource that is {STATES[current]};" in caught.value.message
    for source in (s for (a, s) in ALLOWED if a == action):
        assert STATES[source] in caught.value.message.split(";")[1]


@pytest.mark.parametrize(
    "state",
    [
        pb.RESOURCE_STATE_DRAFT,
        pb.RESOURCE_STATE_RETURNED,
        pb.RESOURCE_STATE_CONFIRMED,
        pb.RESOURCE_STATE_PUBLISHED,
    ],
)
def test_drafts_returned_confirmed_and_published_resources_are_editable(state: int) -> None:
    domain.check_editable(state)


@pytest.mark.parametrize(
    "state",
    [pb.RESOURCE_STATE_UNSPECIFIED, pb.RESOURCE_STATE_SUBMITTED, pb.RESOURCE_STATE_WITHDRAWN],
)
def test_a_submitted_or_withdrawn_resource_is_not_editable(state: int) -> None:
    with pytest.raises(FailedPrecondition, match=f"that is {STATES[state]} cannot be edited"):
        domain.check_editable(state)


def test_editing_in_place_and_revising_are_apart() -> None:
    # a confirmed or published resource is revised as the next version, never edited in place
    assert {pb.RESOURCE_STATE_DRAFT, pb.RESOURCE_STATE_RETURNED} == domain.EDITABLE_IN_PLACE
    assert {pb.RESOURCE_STATE_CONFIRMED, pb.RESOURCE_STATE_PUBLISHED} == domain.REVISABLE


def publication_broken(res: pb.Resource, *, share: bool, open_: bool) -> list[tuple[str, str]]:
    with pytest.raises(InvalidArgument) as caught:
        domain.check_publication(res, share=share, open_=open_)
    return [(v.field, v.rule) for v in caught.value.violations]


@pytest.mark.parametrize("open_type", OPEN_TYPES)
def test_publishing_to_no_catalog_is_refused(open_type: int) -> None:
    res = resource(open_type=open_type)
    assert publication_broken(res, share=False, open_=False) == [("share_catalog", "a-catalog")]


@pytest.mark.parametrize("share", [True, False])
def test_a_resource_that_is_not_open_stays_out_of_the_open_catalog(share: bool) -> None:
    res = resource(open_type=pb.OPEN_TYPE_NOT_OPEN)
    assert publication_broken(res, share=share, open_=True) == [
        ("open_catalog", "open-type-allows")
    ]


def test_any_resource_may_be_listed_in_the_share_catalog_alone() -> None:
    # not-shared ones too, so that consumers know they exist and why they cannot have them
    for open_type in OPEN_TYPES:
        domain.check_publication(resource(open_type=open_type), share=True, open_=False)


@pytest.mark.parametrize("open_type", [pb.OPEN_TYPE_OPEN, pb.OPEN_TYPE_CONDITIONAL])
@pytest.mark.parametrize("share", [True, False])
def test_an_open_or_conditionally_open_resource_may_be_listed_in_the_open_catalog(
    open_type: int, share: bool
) -> None:
    domain.check_publication(resource(open_type=open_type), share=share, open_=True)


def test_a_comment_is_trimmed_and_limited() -> None:
    assert domain.comment("comment", "  please add keywords \n", required=True) == (
        "please add keywords"
    )
    assert domain.comment("comment", "", required=False) == ""
    with pytest.raises(InvalidArgument) as caught:
        domain.comment("reason", " ", required=True)
    assert [(v.field, v.rule) for v in caught.value.violations] == [("reason", "required")]
    with pytest.raises(InvalidArgument) as caught:
        domain.comment("comment", "x" * (domain.MAX_COMMENT + 1), required=False)
    assert [(v.field, v.rule) for v in caught.value.violations] == [("comment", "max-length")]


# --- who may do what ----------------------------------------------------------------------------


def staff(department: str = "msa", *roles: str) -> Principal:
    return Principal(
        subject="u-1",
        audience="office",
        kind="staff",
        department=department,
        roles=frozenset(roles),
    )


OFFICER = domain.ROLE_CATALOG_OFFICER
ADMIN = domain.ROLE_BDB_ADMIN
CITIZEN = Principal(subject="c-1", audience="public", kind="citizen")


def test_an_officer_of_the_provider_department_may_edit_its_resource() -> None:
    domain.authorise_edit(staff("msa", OFFICER), "msa")


@pytest.mark.parametrize("department", ["psb", domain.BUREAU])
def test_an_officer_of_another_department_may_not_edit_the_resource(department: str) -> None:
    # the Bureau reviews the catalog; it does not compile a department's resources
    with pytest.raises(PermissionDenied, match="own department"):
        domain.authorise_edit(staff(department, OFFICER), "msa")


@pytest.mark.parametrize("roles", [(), (ADMIN,), ("clerk",)])
def test_staff_without_the_catalog_officer_role_may_not_edit(roles: tuple[str, ...]) -> None:
    with pytest.raises(PermissionDenied, match="catalog_officer"):
        domain.authorise_edit(staff("msa", *roles), "msa")


@pytest.mark.parametrize(
    ("principal", "bureau"),
    [
        (staff(domain.BUREAU, OFFICER), True),
        (staff(domain.BUREAU, ADMIN), True),
        (staff(domain.BUREAU, OFFICER, ADMIN), True),
        (staff(domain.BUREAU), False),
        (staff(domain.BUREAU, "clerk"), False),
        (staff("msa", OFFICER), False),
        (staff("msa", ADMIN), False),
        (CITIZEN, False),
    ],
)
def test_only_bureau_staff_with_a_catalog_role_are_the_bureau(
    principal: Principal, bureau: bool
) -> None:
    assert domain.is_bureau(principal) is bureau
    if bureau:
        domain.authorise_review(principal)
    else:
        with pytest.raises(PermissionDenied, match="Big Data Bureau"):
            domain.authorise_review(principal)


@pytest.mark.parametrize(
    "principal", [staff(domain.BUREAU, OFFICER), staff(domain.BUREAU, ADMIN), staff("msa", OFFICER)]
)
def test_the_bureau_or_the_department_s_officer_may_withdraw(principal: Principal) -> None:
    domain.authorise_withdraw(principal, "msa")


@pytest.mark.parametrize(
    "principal",
    [staff("psb", OFFICER), staff("msa"), staff("msa", ADMIN), staff(domain.BUREAU), CITIZEN],
)
def test_nobody_else_may_withdraw(principal: Principal) -> None:
    with pytest.raises(PermissionDenied):
        domain.authorise_withdraw(principal, "msa")


@pytest.mark.parametrize(
    ("principal", "sees"),
    [
        (staff("msa", OFFICER), True),
        (staff("msa"), True),
        (staff(domain.BUREAU), True),
        (staff(domain.BUREAU, OFFICER), True),
        (staff("psb", OFFICER), False),
        (staff("psb", ADMIN), False),
        (CITIZEN, False),
    ],
)
def test_only_the_department_and_the_bureau_see_the_working_copy(
    principal: Principal, sees: bool
) -> None:
    assert domain.can_see_working_copy(principal, "msa") is sees


# --- public demands for open data ---------------------------------------------------------------


def demand(**overrides: Any) -> pb.Demand:
    values: dict[str, Any] = {
        "title": "公交实时到站数据 Real-time bus arrivals",
        "description": "按线路、站点的实时到站时间, JSON 接口.",
    }
    values.update(overrides)
    return pb.Demand(**values)


def demand_broken(d: pb.Demand) -> list[tuple[str, str]]:
    with pytest.raises(InvalidArgument) as caught:
        domain.validate_demand(d)
    return [(v.field, v.rule) for v in caught.value.violations]


def test_a_demand_with_a_title_and_a_description_passes() -> None:
    domain.validate_demand(demand())
    domain.validate_demand(demand(suggested_department="tb"))


@pytest.mark.parametrize(("field", "limit"), [("title", 200), ("description", 2000)])
def test_a_demand_title_and_description_are_required_and_limited(field: str, limit: int) -> None:
    domain.validate_demand(demand(**{field: "字" * limit}))
    assert demand_broken(demand(**{field: " "})) == [(field, "required")]
    assert demand_broken(demand(**{field: "字" * (limit + 1)})) == [(field, "max-length")]


@pytest.mark.parametrize("dept", ["PSB", "p", "公安", "psb\n"])
def test_a_malformed_suggested_department_is_rejected(dept: str) -> None:
    assert demand_broken(demand(suggested_department=dept)) == [
        ("suggested_department", "department-code")
    ]


def test_several_demand_violations_are_reported_together() -> None:
    found = demand_broken(demand(title="", description="", suggested_department="X"))
    assert found == [
        ("title", "required"),
        ("description", "required"),
        ("suggested_department", "department-code"),
    ]


def test_no_due_days_means_fifteen() -> None:
    assert domain.due_days(0) == 15


@pytest.mark.parametrize("days", [1, 15, 45, 90])
def test_one_to_ninety_due_days_are_kept(days: int) -> None:
    assert domain.due_days(days) == days


@pytest.mark.parametrize("days", [-1, 91, 365])
def test_due_days_outside_one_to_ninety_are_rejected(days: int) -> None:
    with pytest.raises(InvalidArgument) as caught:
        domain.due_days(days)
    assert [(v.field, v.rule) for v in caught.value.violations] == [("due_days", "due-days")]


@pytest.mark.parametrize("state", [pb.DEMAND_STATE_SUBMITTED, pb.DEMAND_STATE_ROUTED])
def test_an_unanswered_demand_may_be_routed_or_rerouted(state: int) -> None:
    domain.check_route(demand(state=state), "tb")


def test_an_answered_demand_is_not_routed_again() -> None:
    with pytest.raises(FailedPrecondition, match="answered already"):
        domain.check_route(demand(state=pb.DEMAND_STATE_ANSWERED), "tb")


@pytest.mark.parametrize("department", ["", "TB", "交通局"])
def test_a_demand_is_routed_to_a_department_code(department: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        domain.check_route(demand(state=pb.DEMAND_STATE_SUBMITTED), department)
    assert [(v.field, v.rule) for v in caught.value.violations] == [
        ("department", "department-code")
    ]


def routed(department: str = "tb") -> pb.Demand:
    return demand(state=pb.DEMAND_STATE_ROUTED, department=department)


def answer(**overrides: Any) -> pb.AnswerDemandRequest:
    values: dict[str, Any] = {
        "id": "d-1",
        "outcome": pb.DEMAND_OUTCOME_PLANNED,
        "answer": "将于下季度开放 To be opened next quarter",
    }
    values.update(overrides)
    return pb.AnswerDemandRequest(**values)


def answer_broken(request: pb.AnswerDemandRequest) -> list[tuple[str, str]]:
    with pytest.raises(InvalidArgument) as caught:
        domain.check_answer(staff("tb", OFFICER), routed(), request)
    return [(v.field, v.rule) for v in caught.value.violations]


@pytest.mark.parametrize(
    "request_",
    [
        answer(),
        answer(outcome=pb.DEMAND_OUTCOME_DECLINED, answer="含个人信息 Holds personal data"),
        answer(outcome=pb.DEMAND_OUTCOME_OPENED, answer="已开放 Open now", resource_id="r-9"),
    ],
)
def test_an_officer_of_the_routed_department_answers(request_: pb.AnswerDemandRequest) -> None:
    domain.check_answer(staff("tb", OFFICER), routed(), request_)


@pytest.mark.parametrize(
    "state",
    [pb.DEMAND_STATE_UNSPECIFIED, pb.DEMAND_STATE_SUBMITTED, pb.DEMAND_STATE_ANSWERED],
)
def test_only_a_routed_demand_is_answered(state: int) -> None:
    with pytest.raises(FailedPrecondition, match="routed"):
        domain.check_answer(staff("tb", OFFICER), demand(state=state, department="tb"), answer())


@pytest.mark.parametrize(
    "principal",
    [staff("psb", OFFICER), staff("tb"), staff("tb", ADMIN), staff(domain.BUREAU, OFFICER)],
)
def test_nobody_but_the_routed_department_s_officers_answers(principal: Principal) -> None:
    with pytest.raises(PermissionDenied, match="routed to"):
        domain.check_answer(principal, routed("tb"), answer())


def test_an_answer_needs_an_outcome_and_words() -> None:
    assert answer_broken(answer(outcome=0)) == [("outcome", "required")]
    assert answer_broken(answer(outcome=99)) == [("outcome", "known-value")]
    assert answer_broken(answer(answer="  ")) == [("answer", "required")]
    assert answer_broken(answer(answer="x" * (domain.MAX_COMMENT + 1))) == [
        ("answer", "max-length")
    ]


def test_an_opened_outcome_names_the_resource_now_open() -> None:
    assert answer_broken(answer(outcome=pb.DEMAND_OUTCOME_OPENED)) == [
        ("resource_id", "opened-names-resource")
    ]


DUE = 1_000 * domain.DAY_US


@pytest.mark.parametrize(
    ("state", "due_us", "answer_us", "now", "overdue"),
    [
        # not routed yet: no deadline, never overdue
        (pb.DEMAND_STATE_SUBMITTED, None, None, DUE * 2, False),
        # routed, unanswered: overdue once the deadline has passed
        (pb.DEMAND_STATE_ROUTED, DUE, None, DUE - 1, False),
        (pb.DEMAND_STATE_ROUTED, DUE, None, DUE, False),
        (pb.DEMAND_STATE_ROUTED, DUE, None, DUE + 1, True),
        # answered: overdue when answered after the deadline, whatever the time now
        (pb.DEMAND_STATE_ANSWERED, DUE, DUE - 1, DUE * 2, False),
        (pb.DEMAND_STATE_ANSWERED, DUE, DUE, DUE * 2, False),
        (pb.DEMAND_STATE_ANSWERED, DUE, DUE + 1, DUE, True),
        (pb.DEMAND_STATE_ANSWERED, DUE, None, DUE * 2, False),
        (pb.DEMAND_STATE_ANSWERED, None, DUE * 2, DUE * 2, False),
    ],
)
def test_a_demand_is_overdue_when_routed_past_its_deadline_or_answered_after_it(
    state: int, due_us: int | None, answer_us: int | None, now: int, overdue: bool
) -> None:
    assert domain.demand_overdue(state=state, due_us=due_us, answer_us=answer_us, now=now) is (
        overdue
    )


# --- scorecards ---------------------------------------------------------------------------------

NOW = 10_000 * domain.DAY_US
FRESH_DAYS = {
    pb.UPDATE_CYCLE_REAL_TIME: 1,
    pb.UPDATE_CYCLE_DAILY: 2,
    pb.UPDATE_CYCLE_WEEKLY: 8,
    pb.UPDATE_CYCLE_MONTHLY: 32,
    pb.UPDATE_CYCLE_QUARTERLY: 93,
    pb.UPDATE_CYCLE_YEARLY: 367,
    pb.UPDATE_CYCLE_IRREGULAR: 367,
    pb.UPDATE_CYCLE_UNSPECIFIED: 367,
}


@pytest.mark.parametrize(("cycle", "days"), sorted(FRESH_DAYS.items()))
def test_data_is_fresh_until_its_cycle_s_allowance_has_passed(cycle: int, days: int) -> None:
    allowance = days * domain.DAY_US
    # given data refreshed just now, or exactly the allowance ago / then it is fresh
    assert domain.is_fresh(cycle, NOW, now=NOW)
    assert domain.is_fresh(cycle, NOW - allowance, now=NOW)
    # when one microsecond more has passed / then it is stale
    assert not domain.is_fresh(cycle, NOW - allowance - 1, now=NOW)


def test_every_update_cycle_has_an_allowance() -> None:
    cycles = set(pb.UpdateCycle.values()) - {pb.UPDATE_CYCLE_UNSPECIFIED}
    assert set(domain.FRESH_FOR_US) == cycles


def test_a_provider_perfect_in_every_part_scores_one_hundred() -> None:
    assert domain.score(completeness=1, freshness=1, sharing=1, demands=1) == 100.0
    assert domain.score(completeness=0, freshness=0, sharing=0, demands=0) == 0.0


@pytest.mark.parametrize("part", ["completeness", "freshness", "sharing", "demands"])
def test_each_part_weighs_a_quarter(part: str) -> None:
    parts = dict.fromkeys(("completeness", "freshness", "sharing", "demands"), 0.0)
    parts[part] = 1.0
    assert domain.score(**parts) == 25.0
    assert domain.WEIGHTS[part] == 0.25


def test_a_score_is_rounded_to_one_decimal() -> None:
    assert domain.score(completeness=1 / 3, freshness=1, sharing=1, demands=1) == 83.3


@given(
    parts=st.tuples(*[st.floats(min_value=0, max_value=1)] * 4),
    better=st.floats(min_value=0, max_value=1),
)
def test_a_score_is_zero_to_one_hundred_and_grows_with_each_part(
    parts: tuple[float, float, float, float], better: float
) -> None:
    c, f, s, d = parts
    got = domain.score(completeness=c, freshness=f, sharing=s, demands=d)
    assert 0.0 <= got <= 100.0
    improved = domain.score(completeness=max(c, better), freshness=f, sharing=s, demands=d)
    assert improved >= got


def card(department: str, score: float, published: int = 0) -> pb.Scorecard:
    return pb.Scorecard(department=department, score=score, resources_published=published)


def test_providers_rank_best_score_first() -> None:
    ranked = domain.rank([card("psb", 60.0), card("msa", 90.5), card("hrss", 75.0)])
    assert [(c.department, c.rank) for c in ranked] == [("msa", 1), ("hrss", 2), ("psb", 3)]


def test_equal_scores_rank_by_resources_published_then_department() -> None:
    ranked = domain.rank(
        [card("tb", 80.0, 2), card("psb", 80.0, 5), card("hrss", 80.0, 2), card("msa", 95.0, 0)]
    )
    assert [(c.department, c.rank) for c in ranked] == [
        ("msa", 1),
        ("psb", 2),
        ("hrss", 3),
        ("tb", 4),
    ]


def test_ranking_no_provider_gives_no_ranks() -> None:
    assert domain.rank([]) == []


DEPARTMENT = st.from_regex(domain.DEPARTMENT_PATTERN, fullmatch=True)


@given(
    cards=st.lists(
        st.tuples(DEPARTMENT, st.sampled_from([0.0, 50.0, 75.5, 100.0]), st.integers(0, 3)),
        max_size=8,
        unique_by=lambda t: t[0],
    ),
    data=st.data(),
)
def test_ranks_are_one_to_n_best_first_whatever_the_order_given(
    cards: list[tuple[str, float, int]], data: st.DataObject
) -> None:
    # given providers in any order, with ties
    shuffled = data.draw(st.permutations(cards))
    # when ranked
    ranked = domain.rank([card(d, s, p) for d, s, p in shuffled])
    # then ranks run 1..n, each card is better or equal to the next, and the order is the same
    # as for any other order of the same providers
    assert [c.rank for c in ranked] == list(range(1, len(cards) + 1))
    keys = [(-c.score, -c.resources_published, c.department) for c in ranked]
    assert keys == sorted(keys)
    again = domain.rank([card(d, s, p) for d, s, p in cards])
    assert [c.department for c in again] == [c.department for c in ranked]


@pytest.mark.parametrize(
    ("open_type", "listed"),
    [
        (pb.OPEN_TYPE_OPEN, (True, True)),
        (pb.OPEN_TYPE_CONDITIONAL, (True, True)),
        (pb.OPEN_TYPE_NOT_OPEN, (True, False)),
    ],
)
def test_a_publication_that_names_no_catalog_lists_where_the_types_allow(
    open_type: int, listed: tuple[bool, bool]
) -> None:
    assert domain.publication(resource(open_type=open_type), share=None, open_=None) == listed


def test_a_publication_keeps_the_flags_it_was_sent() -> None:
    res = resource(open_type=pb.OPEN_TYPE_OPEN)
    assert domain.publication(res, share=None, open_=False) == (True, False)
    assert domain.publication(res, share=False, open_=None) == (False, True)
    with pytest.raises(InvalidArgument):
        domain.publication(resource(open_type=pb.OPEN_TYPE_NOT_OPEN), share=False, open_=None)
