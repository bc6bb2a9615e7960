"""Diff between resource versions: what a reviewer sees changed, field by field, in words."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf.descriptor import FieldDescriptor

from services.catalog.diff import diff
from smartcity.catalog.v1 import catalog_pb2 as pb

# Content the department edits; everything else on a Resource is identity, lifecycle or listing.
CONTENT = {
    "name",
    "provider_code",
    "summary",
    "classification",
    "format",
    "share_type",
    "share_conditions",
    "share_basis",
    "share_methods",
    "open_type",
    "open_conditions",
    "update_cycle",
    "data_grade",
    "keywords",
    "related_codes",
    "data_items",
}


def item(name: str, **fields: Any) -> pb.DataItem:
    values: dict[str, Any] = {"type": "string", "description": "plate number"}
    values.update(fields)
    return pb.DataItem(name=name, **values)


def resource(**overrides: Any) -> pb.Resource:
    values: dict[str, Any] = {
        "id": "r-1",
        "code": "301001/000001",
        "name": "机动车登记信息",
        "provider_department": "psb",
        "provider_code": "11460100MB0000000X",
        "summary": "Registered motor vehicles of Haikou.",
        "classification": pb.Classification(category="3", item="01", sub_item="001"),
        "format": "database",
        "share_type": pb.SHARE_TYPE_CONDITIONAL,
        "share_conditions": "For traffic management only.",
        "share_methods": [pb.SHARE_METHOD_INTERFACE],
        "open_type": pb.OPEN_TYPE_NOT_OPEN,
        "update_cycle": pb.UPDATE_CYCLE_DAILY,
        "data_grade": pb.DATA_GRADE_SENSITIVE,
        "keywords": ["机动车", "登记"],
        "data_items": [
            item("车牌号码", grade=pb.DATA_GRADE_INTERNAL),
            item("所有人身份证号", personal=True),
            item("车辆类型"),
        ],
        "version": 1,
        "state": pb.RESOURCE_STATE_PUBLISHED,
    }
    values.update(overrides)
    return pb.Resource(**values)


def changes(before: pb.Resource, after: pb.Resource) -> list[tuple[str, str, str, str]]:
    return [(c.field, c.change, c.before, c.after) for c in diff(before, after)]


def test_identical_versions_have_no_changes() -> None:
    assert diff(resource(), resource()) == []


def test_identity_lifecycle_and_listing_are_not_content() -> None:
    after = resource(
        id="r-2",
        code="301001/000002",
        version=2,
        state=pb.RESOURCE_STATE_DRAFT,
        in_share_catalog=True,
        in_open_catalog=True,
        published_version=1,
        provider_department="tb",
    )
    after.update_time.seconds = 1_700_000_000
    assert diff(resource(), after) == []


def _touch(message: pb.Resource, field: FieldDescriptor) -> None:
    """Make one field of `message` differ from its default, whatever its type."""
    value = getattr(message, field.name)
    if field.message_type is not None and field.is_repeated:
        value.add(name="新增")
    elif field.message_type is not None:
        value.SetInParent()
        first = field.message_type.fields[0]
        setattr(value, first.name, 1 if first.type == FieldDescriptor.TYPE_INT64 else "9")
    elif field.is_repeated:
        value.append("x" if field.type == FieldDescriptor.TYPE_STRING else 1)
    elif field.type == FieldDescriptor.TYPE_STRING:
        setattr(message, field.name, "x")
    elif field.type == FieldDescriptor.TYPE_BOOL:
        setattr(message, field.name, True)
    else:
        setattr(message, field.name, 1)


@pytest.mark.parametrize("field", list(pb.Resource.DESCRIPTOR.fields), ids=lambda f: f.name)
def test_exactly_the_content_fields_are_compared(field: FieldDescriptor) -> None:
    # A field added to the contract must be placed on one side of this line on purpose.
    after = pb.Resource()
    _touch(after, field)
    assert bool(diff(pb.Resource(), after)) == (field.name in CONTENT)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"name": "机动车信息"}, ("name", "changed", "机动车登记信息", "机动车信息")),
        ({"summary": ""}, ("summary", "changed", "Registered motor vehicles of Haikou.", "")),
        ({"share_basis": "Art. 9"}, ("share_basis", "changed", "", "Art. 9")),
        (
            {"classification": pb.Classification(category="1", item="02", sub_item="003")},
            ("classification", "changed", "301001", "102003"),
        ),
        (
            {"share_type": pb.SHARE_TYPE_NOT_SHARED},
            ("share_type", "changed", "conditional", "not_shared"),
        ),
        ({"open_type": pb.OPEN_TYPE_UNSPECIFIED}, ("open_type", "changed", "not_open", "")),
        (
            {"update_cycle": pb.UPDATE_CYCLE_REAL_TIME},
            ("update_cycle", "changed", "daily", "real_time"),
        ),
        (
            {"data_grade": pb.DATA_GRADE_IMPORTANT},
            ("data_grade", "changed", "sensitive", "important"),
        ),
        (
            {"share_methods": [pb.SHARE_METHOD_INTERFACE, pb.SHARE_METHOD_FILE]},
            ("share_methods", "changed", "interface", "interface, file"),
        ),
        ({"keywords": ["机动车"]}, ("keywords", "changed", "机动车, 登记", "机动车")),
        (
            {"related_codes": ["301001/000002"]},
            ("related_codes", "changed", "", "301001/000002"),
        ),
    ],
)
def test_scalar_field_changes_read_as_words(
    overrides: dict[str, object], expected: tuple[str, str, str, str]
) -> None:
    assert changes(resource(), resource(**overrides)) == [expected]


def test_enum_value_unknown_to_this_build_shows_its_number() -> None:
    assert changes(resource(), resource(data_grade=42)) == [
        ("data_grade", "changed", "sensitive", "42")
    ]


def test_changes_follow_the_order_of_the_record() -> None:
    after = resource(data_grade=pb.DATA_GRADE_CORE, name="车辆登记", format="spreadsheet")
    assert [c.field for c in diff(resource(), after)] == ["name", "format", "data_grade"]


def test_added_and_removed_data_items_are_summarised() -> None:
    after = resource(
        data_items=[
            item("车牌号码", grade=pb.DATA_GRADE_INTERNAL),
            item("车辆类型"),
            item("发动机号", type="string", personal=False, grade=pb.DATA_GRADE_SENSITIVE),
        ]
    )
    assert changes(resource(), after) == [
        ("data_items[所有人身份证号]", "removed", "type string, personal yes", ""),
        ("data_items[发动机号]", "added", "", "type string, personal no, grade sensitive"),
    ]


def test_data_item_sub_field_changes_are_named_by_item() -> None:
    after = resource(
        data_items=[
            item("车牌号码", grade=pb.DATA_GRADE_SENSITIVE, description="号牌号码"),
            item("所有人身份证号", personal=False, type="binary"),
            item("车辆类型"),
        ]
    )
    assert changes(resource(), after) == [
        ("data_items[车牌号码].description", "changed", "plate number", "号牌号码"),
        ("data_items[车牌号码].grade", "changed", "internal", "sensitive"),
        ("data_items[所有人身份证号].type", "changed", "string", "binary"),
        ("data_items[所有人身份证号].personal", "changed", "yes", "no"),
    ]


def test_data_item_changes_come_removed_then_changed_then_added() -> None:
    after = resource(
        name="车辆登记",
        data_items=[
            item("新增二"),
            item("车辆类型", type="integer"),
            item("新增一"),
            item("车牌号码", grade=pb.DATA_GRADE_INTERNAL, personal=True),
        ],
    )
    assert [(c.field, c.change) for c in diff(resource(), after)] == [
        ("name", "changed"),
        ("data_items[所有人身份证号]", "removed"),
        ("data_items[车辆类型].type", "changed"),
        ("data_items[车牌号码].personal", "changed"),
        ("data_items[新增二]", "added"),
        ("data_items[新增一]", "added"),
    ]


def test_reordering_data_items_alone_is_no_change() -> None:
    before = resource()
    after = resource(data_items=list(reversed(before.data_items)))
    assert diff(before, after) == []
