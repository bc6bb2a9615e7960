"""Catalog rules: every rejection names the field it is about, and only that field."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.auth import Principal
from runtime.errors import FieldViolation, InvalidArgument, PermissionDenied
from services.catalog import domain
from services.catalog.domain import authorise_create, validate_new_resource
from smartcity.catalog.v1 import catalog_pb2 as pb


def item(name: str = "统一社会信用代码", **fields: object) -> pb.DataItem:
    values: dict[str, object] = {"type": "string", "description": "18-character code"}
    values.update(fields)
    return pb.DataItem(name=name, **values)


def resource(**overrides: object) -> pb.Resource:
    """A resource that breaks no rule; each test breaks one thing."""
    values: dict[str, object] = {
        "code": "A01-0001",
        "name": "企业登记信息",
        "provider_department": "msa",
        "summary": "Registered enterprises of Haikou.",
        "share_type": pb.SHARE_TYPE_CONDITIONAL,
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


def violations(res: pb.Resource) -> list[FieldViolation]:
    with pytest.raises(InvalidArgument) as caught:
        validate_new_resource(res)
    return caught.value.violations


def fields_of(res: pb.Resource) -> set[str]:
    return {v.field for v in violations(res)}


def test_a_valid_resource_passes() -> None:
    # given a resource that follows every rule / when validated / then nothing is raised
    assert validate_new_resource(resource()) is None


@pytest.mark.parametrize("code", ["A01", "A" * 40, "0-0", "A01-0001-B"])
def test_codes_of_three_to_forty_upper_case_characters_are_accepted(code: str) -> None:
    validate_new_resource(resource(code=code))


@pytest.mark.parametrize(
    "code",
    ["", "AB", "A" * 41, "a01-0001", "-A01", "A01 0001", "A01_0001", "\uff2101-0001"],
)
def test_a_malformed_code_is_rejected_naming_code(code: str) -> None:
    # given a resource whose code breaks the format / when validated / then only "code" is named
    assert fields_of(resource(code=code)) == {"code"}


def test_a_code_with_a_trailing_newline_is_rejected() -> None:
    assert fields_of(resource(code="A01-0001\n")) == {"code"}


def test_a_department_with_a_trailing_newline_is_rejected() -> None:
    assert fields_of(resource(provider_department="psb\n")) == {"provider_department"}


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
def test_a_resource_name_is_required(name: str) -> None:
    found = violations(resource(name=name))
    assert found == [FieldViolation("name", "is required")]


def test_a_resource_name_over_two_hundred_characters_is_rejected() -> None:
    # given names at and just over the limit
    validate_new_resource(resource(name="名" * domain.MAX_NAME))
    # when one character too long / then the name is named with the limit
    found = violations(resource(name="名" * (domain.MAX_NAME + 1)))
    assert [v.field for v in found] == ["name"]
    assert "200" in found[0].description


@pytest.mark.parametrize("dept", ["", "p", "PSB", "1psb", "psb.x", "-psb", "a" * 21, "公安"])
def test_a_malformed_provider_department_is_rejected(dept: str) -> None:
    assert fields_of(resource(provider_department=dept)) == {"provider_department"}


@pytest.mark.parametrize("dept", ["ps", "psb", "hr_ss", "a-b", "a" * 20])
def test_department_codes_are_accepted(dept: str) -> None:
    validate_new_resource(resource(provider_department=dept))


def test_a_summary_is_optional_but_at_most_two_thousand_characters() -> None:
    validate_new_resource(resource(summary=""))
    validate_new_resource(resource(summary="x" * domain.MAX_SUMMARY))
    assert fields_of(resource(summary="x" * (domain.MAX_SUMMARY + 1))) == {"summary"}


@pytest.mark.parametrize("field", ["share_type", "open_type", "update_cycle", "data_grade"])
def test_each_classification_enum_is_required(field: str) -> None:
    # given the enum left unspecified / when validated / then that field alone is required
    found = violations(resource(**{field: 0}))
    assert found == [FieldViolation(field, "is required")]


@pytest.mark.parametrize("field", ["share_type", "open_type", "update_cycle", "data_grade"])
def test_an_enum_number_outside_the_contract_is_rejected(field: str) -> None:
    found = violations(resource(**{field: 99}))
    assert [v.field for v in found] == [field]
    assert "99" in found[0].description


def test_a_resource_needs_at_least_one_data_item() -> None:
    found = violations(resource(data_items=[]))
    assert [v.field for v in found] == ["data_items"]


def test_a_resource_has_at_most_five_hundred_data_items() -> None:
    items = [item(f"item{i}") for i in range(domain.MAX_ITEMS)]
    validate_new_resource(resource(data_items=items))
    found = violations(resource(data_items=[*items, item("one too many")]))
    assert [v.field for v in found] == ["data_items"]


@pytest.mark.parametrize("name", ["", "  "])
def test_a_data_item_name_is_required_and_named_by_index(name: str) -> None:
    res = resource(data_items=[item("a"), item(name)])
    assert violations(res) == [FieldViolation("data_items[1].name", "is required")]


def test_a_data_item_name_over_one_hundred_characters_is_rejected() -> None:
    validate_new_resource(resource(data_items=[item("n" * domain.MAX_ITEM_NAME)]))
    res = resource(data_items=[item("n" * (domain.MAX_ITEM_NAME + 1))])
    assert fields_of(res) == {"data_items[0].name"}


def test_a_repeated_data_item_name_names_the_later_item() -> None:
    res = resource(data_items=[item("a"), item("b"), item("a")])
    found = violations(res)
    assert [v.field for v in found] == ["data_items[2].name"]
    assert "repeats" in found[0].description


@pytest.mark.parametrize("kind", ["", "text", "String", "int", "json"])
def test_an_unknown_data_item_type_is_rejected(kind: str) -> None:
    res = resource(data_items=[item("a"), item("b", type=kind)])
    assert fields_of(res) == {"data_items[1].type"}


@pytest.mark.parametrize("kind", sorted(domain.ITEM_TYPES))
def test_every_documented_data_item_type_is_accepted(kind: str) -> None:
    validate_new_resource(resource(data_items=[item("a", type=kind)]))


def test_a_data_item_description_over_five_hundred_characters_is_rejected() -> None:
    res = resource(data_items=[item("a", description="d" * (domain.MAX_ITEM_DESCRIPTION + 1))])
    assert fields_of(res) == {"data_items[0].description"}


def test_a_data_item_grade_cannot_exceed_the_resource_grade() -> None:
    # given a sensitive resource
    same = item("a", grade=pb.DATA_GRADE_SENSITIVE)
    higher = item("b", grade=pb.DATA_GRADE_IMPORTANT)
    # when one item is graded equal and one above / then only the higher one is rejected
    found = violations(resource(data_grade=pb.DATA_GRADE_SENSITIVE, data_items=[same, higher]))
    assert [v.field for v in found] == ["data_items[1].grade"]
    assert "data_grade" in found[0].description


def test_an_unknown_data_item_grade_is_rejected() -> None:
    found = violations(resource(data_items=[item("a", grade=42)]))
    assert [v.field for v in found] == ["data_items[0].grade"]
    assert "42" in found[0].description


def test_personal_data_cannot_be_shared_unconditionally() -> None:
    res = resource(share_type=pb.SHARE_TYPE_UNCONDITIONAL)
    found = violations(res)
    assert [v.field for v in found] == ["share_type"]
    assert "personal" in found[0].description


def test_personal_data_cannot_be_opened_to_the_public() -> None:
    res = resource(open_type=pb.OPEN_TYPE_OPEN)
    found = violations(res)
    assert [v.field for v in found] == ["open_type"]
    assert "personal" in found[0].description


def test_data_without_personal_items_may_be_shared_and_opened_unconditionally() -> None:
    res = resource(
        share_type=pb.SHARE_TYPE_UNCONDITIONAL,
        open_type=pb.OPEN_TYPE_OPEN,
        data_items=[item("a"), item("b")],
    )
    validate_new_resource(res)


@given(
    personal=st.lists(st.booleans(), min_size=1, max_size=8).filter(any),
)
def test_any_personal_item_forbids_unconditional_sharing_and_opening(personal: list[bool]) -> None:
    # given items where at least one, anywhere in the list, holds personal data
    items = [item(f"item{i}", personal=p) for i, p in enumerate(personal)]
    res = resource(
        share_type=pb.SHARE_TYPE_UNCONDITIONAL, open_type=pb.OPEN_TYPE_OPEN, data_items=items
    )
    # when validated / then both the sharing and the opening are refused
    assert fields_of(res) == {"share_type", "open_type"}


def test_several_violations_are_reported_together() -> None:
    # given a resource breaking several rules at once
    res = resource(
        code="bad",
        name="",
        provider_department="PSB",
        update_cycle=0,
        data_items=[item("a"), item("a", type="text")],
    )
    # when validated
    with pytest.raises(InvalidArgument) as caught:
        validate_new_resource(res)
    # then every broken rule is listed, and the message names each field
    fields = [v.field for v in caught.value.violations]
    assert set(fields) == {
        "code",
        "name",
        "provider_department",
        "update_cycle",
        "data_items[1].name",
        "data_items[1].type",
    }
    for field in fields:
        assert field in caught.value.message


def officer(department: str = "msa", roles: frozenset[str] | None = None) -> Principal:
    return Principal(
        subject="u-1",
        audience="office",
        kind="staff",
        department=department,
        roles=frozenset({domain.ROLE_CATALOG_OFFICER}) if roles is None else roles,
    )


def test_an_officer_of_the_provider_department_may_register_its_resource() -> None:
    assert authorise_create(officer("msa"), resource(provider_department="msa")) is None


def test_an_officer_of_another_department_may_not_register_the_resource() -> None:
    with pytest.raises(PermissionDenied, match="own department"):
        authorise_create(officer("psb"), resource(provider_department="msa"))


def test_staff_without_the_catalog_officer_role_may_not_register() -> None:
    staff = officer("msa", roles=frozenset({"bdb_admin"}))
    with pytest.raises(PermissionDenied, match="catalog_officer"):
        authorise_create(staff, resource(provider_department="msa"))
