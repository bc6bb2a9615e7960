"""JSON <-> protobuf mapping of the gateway: errors name the field, enums use short names."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import EnumDescriptor
from hypothesis import given
from hypothesis import strategies as st

from gateway import jsonmap
from runtime import text
from runtime.errors import FieldViolation, InvalidArgument
from smartcity.catalog.v1 import catalog_pb2 as pb
from smartcity.exchange.v1 import exchange_pb2
from smartcity.identity.v1 import identity_pb2
from smartcity.keys.v1 import keys_pb2
from smartcity.licences.v1 import licences_pb2

RESOURCE_READ_ONLY = frozenset({"id", "version", "create_time", "update_time"})
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def parse_errors(
    data: Any, message_type: type = pb.Resource, **kwargs: Any
) -> list[FieldViolation]:
    with pytest.raises(InvalidArgument) as caught:
        jsonmap.parse(data, message_type, **kwargs)
    return caught.value.violations


def test_a_resource_body_is_parsed_with_short_enum_names() -> None:
    # given the JSON a client sends
    body = {
        "code": "A01-0001",
        "name": "企业登记信息",
        "share_type": "unconditional",
        "open_type": "not_open",
        "update_cycle": "real_time",
        "data_grade": "sensitive",
        "data_items": [{"name": "a", "type": "string", "personal": True, "grade": "internal"}],
    }
    # when parsed
    res = jsonmap.parse(body, pb.Resource, read_only=RESOURCE_READ_ONLY)
    # then every field is set, enums by number
    assert res == pb.Resource(
        code="A01-0001",
        name="企业登记信息",
        share_type=pb.SHARE_TYPE_UNCONDITIONAL,
        open_type=pb.OPEN_TYPE_NOT_OPEN,
        update_cycle=pb.UPDATE_CYCLE_REAL_TIME,
        data_grade=pb.DATA_GRADE_SENSITIVE,
        data_items=[
            pb.DataItem(name="a", type="string", personal=True, grade=pb.DATA_GRADE_INTERNAL)
        ],
    )


def test_an_error_in_a_nested_item_names_its_path() -> None:
    body = {"data_items": [{"grade": "public"}, {"grade": "secret"}]}
    found = parse_errors(body)
    assert [v.field for v in found] == ["data_items[1].grade"]
    assert "one of: public, internal, sensitive, important, core" in found[0].description


def test_every_bad_field_is_reported_together() -> None:
    body = {"name": 1, "version": "x", "data_items": [{"personal": "yes"}, {"colour": "red"}]}
    found = parse_errors(body)
    assert {v.field for v in found} == {
        "name",
        "version",
        "data_items[0].personal",
        "data_items[1].colour",
    }


def test_an_unknown_top_level_field_is_refused() -> None:
    assert parse_errors({"colour": "red"}) == [FieldViolation("colour", "is not a known field")]


def test_a_camel_case_field_name_is_not_accepted() -> None:
    # Field names are the proto names (snake_case), not the protobuf JSON camelCase names.
    assert [v.field for v in parse_errors({"shareType": "open"})] == ["shareType"]


def test_an_unknown_nested_field_is_refused_with_its_path() -> None:
    found = parse_errors({"data_items": [{"name": "a"}, {"nmae": "b"}]})
    assert found == [FieldViolation("data_items[1].nmae", "is not a known field")]


@pytest.mark.parametrize("field", sorted(RESOURCE_READ_ONLY))
def test_a_read_only_field_is_refused(field: str) -> None:
    value: Any = {"id": "r-1", "version": 3, "create_time": {}, "update_time": {}}[field]
    found = parse_errors({"name": "x", field: value}, read_only=RESOURCE_READ_ONLY)
    assert [v.field for v in found] == [field]
    assert "set by the server" in found[0].description


def test_read_only_fields_are_accepted_when_not_declared_read_only() -> None:
    res = jsonmap.parse({"id": "r-1", "version": 3}, pb.Resource)
    assert (res.id, res.version) == ("r-1", 3)


@pytest.mark.parametrize(
    ("body", "field", "expected"),
    [
        ({"name": 5}, "name", "a string"),
        ({"name": True}, "name", "a string"),
        ({"name": ["a"]}, "name", "a string"),
        ({"version": "5"}, "version", "an integer"),
        ({"version": True}, "version", "an integer"),
        ({"version": False}, "version", "an integer"),
        ({"version": 1.5}, "version", "an integer"),
        ({"version": 2.0}, "version", "an integer"),
        ({"data_items": [{"personal": 1}]}, "data_items[0].personal", "true or false"),
        ({"data_items": [{"personal": "true"}]}, "data_items[0].personal", "true or false"),
        ({"share_type": 1}, "share_type", "one of: unconditional, conditional, not_shared"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused(
    body: dict[str, Any], field: str, expected: str
) -> None:
    found = parse_errors(body)
    assert found == [FieldViolation(field, f"must be {expected}")]


def test_a_repeated_field_must_be_an_array() -> None:
    assert parse_errors({"data_items": {"name": "a"}}) == [
        FieldViolation("data_items", "must be a JSON array")
    ]


def test_a_repeated_scalar_names_the_bad_element() -> None:
    found = parse_errors({"roles": ["a", 2, "c"]}, identity_pb2.Account)
    assert [v.field for v in found] == ["roles[1]"]


def test_a_nested_message_must_be_an_object() -> None:
    found = parse_errors({"data_items": [{"name": "a"}, "b"]})
    assert found == [FieldViolation("data_items[1]", "must be a JSON object")]


@pytest.mark.parametrize("value", [2**31 - 1, -(2**31), 0])
def test_int32_bounds_are_accepted(value: int) -> None:
    req = jsonmap.parse({"page_size": value}, pb.ListResourcesRequest)
    assert req.page_size == value


@pytest.mark.parametrize("value", [2**31, -(2**31) - 1, 10**20])
def test_an_int32_out_of_range_is_refused_as_out_of_range(value: int) -> None:
    with pytest.raises(jsonmap.OutOfRange) as caught:  # 400: the message cannot hold it
        jsonmap.parse({"page_size": value}, pb.ListResourcesRequest)
    assert caught.value.violations == [
        FieldViolation("page_size", f"must be between {-(2**31)} and {2**31 - 1}", "range")
    ]


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1])
def test_an_int64_out_of_range_is_refused(value: int) -> None:
    assert [v.field for v in parse_errors({"version": value})] == ["version"]


def test_null_is_treated_as_absent() -> None:
    body = {"name": None, "share_type": None, "data_items": None, "create_time": None}
    assert jsonmap.parse(body, pb.Resource) == pb.Resource()
    assert not jsonmap.parse(body, pb.Resource).HasField("create_time")


@pytest.mark.parametrize("body", [[], "resource", 3, None, True])
def test_a_body_that_is_not_an_object_is_refused(body: Any) -> None:
    assert parse_errors(body) == [FieldViolation("body", "must be a JSON object")]


CATALOG_ENUMS = [
    pb.ShareType.DESCRIPTOR,
    pb.OpenType.DESCRIPTOR,
    pb.UpdateCycle.DESCRIPTOR,
    pb.DataGrade.DESCRIPTOR,
]
ENUM_FIELD = {
    "ShareType": "share_type",
    "OpenType": "open_type",
    "UpdateCycle": "update_cycle",
    "DataGrade": "data_grade",
}
ENUM_CASES = [
    (ENUM_FIELD[enum.name], value.number, value.name)
    for enum in CATALOG_ENUMS
    for value in enum.values
    if value.number != 0
]


@pytest.mark.parametrize(("field", "number", "full_name"), ENUM_CASES)
def test_enums_use_their_short_lower_case_name_both_ways(
    field: str, number: int, full_name: str
) -> None:
    # given the short name: the full name without the enum's prefix, lower-case
    short = full_name.split("_", 2)[2].lower()
    # when parsed and rendered / then the short name maps to the number and back
    assert getattr(jsonmap.parse({field: short}, pb.Resource), field) == number
    assert jsonmap.render(pb.Resource(**{field: number}))[field] == short


def test_enum_short_names_match_the_contract() -> None:
    assert list(jsonmap.enum_names(pb.UpdateCycle.DESCRIPTOR).values()) == [
        "real_time",
        "daily",
        "weekly",
        "monthly",
        "quarterly",
        "yearly",
        "irregular",
    ]


@pytest.mark.parametrize("name", ["unspecified", "SHARE_TYPE_CONDITIONAL", "Conditional", ""])
def test_only_short_names_of_specified_values_are_accepted(name: str) -> None:
    assert [v.field for v in parse_errors({"share_type": name})] == ["share_type"]


def test_an_unset_enum_renders_as_null() -> None:
    rendered = jsonmap.render(pb.Resource())
    assert rendered["share_type"] is None
    assert rendered["data_grade"] is None


def test_an_enum_number_outside_the_contract_renders_as_null() -> None:
    assert jsonmap.render(pb.Resource(share_type=99))["share_type"] is None


def test_render_lists_every_field_by_its_proto_name() -> None:
    rendered = jsonmap.render(pb.Resource())
    assert set(rendered) == {f.name for f in pb.Resource.DESCRIPTOR.fields}
    assert rendered["data_items"] == []
    assert rendered["version"] == 0
    assert rendered["create_time"] is None


def test_a_timestamp_renders_as_rfc3339_in_utc_with_z() -> None:
    # given a resource created at a known instant
    res = pb.Resource()
    res.create_time.seconds = 1_700_000_000
    res.create_time.nanos = 123_456_000
    # when rendered
    text = jsonmap.render(res)["create_time"]
    # then it is RFC 3339, UTC, with a Z and the microseconds
    assert text == "2023-11-14T22:13:20.123456Z"
    assert RFC3339_UTC.match(text)


@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1)))
def test_any_timestamp_renders_back_to_the_same_instant(when: datetime) -> None:
    # given a microsecond-precision instant in a Timestamp
    res = exchange_pb2.ExchangeResource()
    res.learn_time.FromDatetime(when.replace(tzinfo=UTC))
    # when rendered / then the RFC 3339 text names the same instant
    text = jsonmap.render(res)["learn_time"]
    assert RFC3339_UTC.match(text)
    assert datetime.fromisoformat(text) == when.replace(tzinfo=UTC)


def test_a_rendered_timestamp_parses_back() -> None:
    res = exchange_pb2.ExchangeResource(resource_id="r-1")
    res.learn_time.seconds = 1_700_000_000
    assert jsonmap.parse(jsonmap.render(res), exchange_pb2.ExchangeResource) == res


# Resources as the contract allows them (timestamps are covered above).
# Any text the platform accepts: no control or bidirectional formatting characters.
texts = st.text(
    alphabet=st.characters().filter(lambda c: text.unsafe_character(c) is None), max_size=30
)
enum_value = {
    name: st.sampled_from([v.number for v in enum.values])
    for name, enum in zip(ENUM_FIELD.values(), CATALOG_ENUMS, strict=True)
}
data_items = st.builds(
    pb.DataItem,
    name=texts,
    type=texts,
    description=texts,
    personal=st.booleans(),
    grade=enum_value["data_grade"],
)
resources = st.builds(
    pb.Resource,
    id=texts,
    code=texts,
    name=texts,
    provider_department=texts,
    summary=texts,
    share_type=enum_value["share_type"],
    open_type=enum_value["open_type"],
    update_cycle=enum_value["update_cycle"],
    data_grade=enum_value["data_grade"],
    data_items=st.lists(data_items, max_size=4),
    version=st.integers(min_value=-(2**63), max_value=2**63 - 1),
)


@given(resources)
def test_any_resource_survives_render_then_parse(res: pb.Resource) -> None:
    # given any resource / when rendered to JSON text and parsed back / then it is unchanged
    wire = orjson.loads(orjson.dumps(jsonmap.render(res)))
    assert jsonmap.parse(wire, pb.Resource) == res


@given(st.lists(resources, max_size=3), texts)
def test_any_list_response_survives_render_then_parse(items: list[pb.Resource], token: str) -> None:
    reply = pb.ListResourcesResponse(resources=items, next_page_token=token)
    assert jsonmap.parse(jsonmap.render(reply), pb.ListResourcesResponse) == reply


def test_enum_names_skip_the_zero_value_of_every_enum() -> None:
    enums: list[EnumDescriptor] = [*CATALOG_ENUMS]
    for enum in enums:
        names = jsonmap.enum_names(enum)
        assert 0 not in names
        assert len(names) == len(enum.values) - 1


# --- maps --------------------------------------------------------------------------------------


def test_a_record_renders_its_fields_as_a_json_object() -> None:
    record = exchange_pb2.Record(fields={"车牌号": "琼A12345", "车主": "王五"})
    assert jsonmap.render(record) == {"fields": {"车牌号": "琼A12345", "车主": "王五"}}
    assert jsonmap.render(exchange_pb2.Record()) == {"fields": {}}


def test_a_push_body_with_records_is_parsed() -> None:
    # given the JSON a provider sends
    body = {"records": [{"fields": {"车牌号": "琼A12345", "颜色": ""}}, {"fields": {}}]}
    # when parsed / then each record holds its fields, an empty value kept
    request = jsonmap.parse(body, exchange_pb2.PushRecordsRequest)
    assert request == exchange_pb2.PushRecordsRequest(
        records=[
            exchange_pb2.Record(fields={"车牌号": "琼A12345", "颜色": ""}),
            exchange_pb2.Record(),
        ]
    )


def test_query_parameters_are_a_json_object() -> None:
    body = {"parameters": {"车牌号": "琼A12345"}, "purpose": "交通违法处理", "limit": 5}
    request = jsonmap.parse(body, exchange_pb2.QueryInterfaceServiceRequest)
    assert dict(request.parameters) == {"车牌号": "琼A12345"}
    assert (request.purpose, request.limit) == ("交通违法处理", 5)


@pytest.mark.parametrize(
    "fields",
    [
        [{"key": "车牌号", "value": "琼A12345"}],  # protobuf's own entries are not the JSON form
        "车牌号=琼A12345",
        ["车牌号"],
        3,
    ],
)
def test_a_map_must_be_a_json_object(fields: Any) -> None:
    found = parse_errors({"records": [{"fields": fields}]}, exchange_pb2.PushRecordsRequest)
    assert found == [FieldViolation("records[0].fields", "must be a JSON object")]


def test_a_bad_map_value_is_named_by_its_key() -> None:
    # given a record whose values are not all text
    body = {"records": [{"fields": {"a": "x"}}, {"fields": {"车牌号": 12345, "年检": True}}]}
    # when parsed / then every bad value is reported, each under its record and key
    found = parse_errors(body, exchange_pb2.PushRecordsRequest)
    assert found == [
        FieldViolation("records[1].fields[车牌号]", "must be a string"),
        FieldViolation("records[1].fields[年检]", "must be a string"),
    ]


def test_a_null_map_value_is_refused_and_a_null_map_is_absent() -> None:
    found = parse_errors({"parameters": {"k": None}}, exchange_pb2.QueryInterfaceServiceRequest)
    assert found == [FieldViolation("parameters[k]", "must be a string")]
    request = jsonmap.parse({"parameters": None}, exchange_pb2.QueryInterfaceServiceRequest)
    assert not request.parameters


def test_a_map_of_integers_checks_their_range() -> None:
    # given use counts per code id (map<string, int64>)
    body = {"uses": {"c-1": 3, "c-2": 2**63, "c-3": "4"}}
    # when parsed / then the counts out of range or not integers are named
    found = parse_errors(body, keys_pb2.ReportAuthorisationCodeUsesRequest)
    assert [v.field for v in found] == ["uses[c-2]", "uses[c-3]"]
    uses = jsonmap.parse({"uses": {"c-1": 3}}, keys_pb2.ReportAuthorisationCodeUsesRequest).uses
    assert dict(uses) == {"c-1": 3}


def _map_probe() -> Any:
    """A message with the map shapes the contract does not use yet: integer and boolean keys;
    enum, message and timestamp values (and a repeated timestamp)."""
    field = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(
        name="tests/unit/jsonmap_maps.proto",
        package="probe.jsonmap",
        syntax="proto3",
        dependency=["google/protobuf/timestamp.proto"],
    )
    colour = file.enum_type.add(name="Colour")
    for number, name in enumerate(("COLOUR_UNSPECIFIED", "COLOUR_RED", "COLOUR_SEA_GREEN")):
        colour.value.add(name=name, number=number)
    item = file.message_type.add(name="Item")
    item.field.add(name="name", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    maps = file.message_type.add(name="Maps")
    shapes = {  # field -> key type, value type, value type's name
        "by_number": (field.TYPE_INT32, field.TYPE_STRING, ""),
        "by_flag": (field.TYPE_BOOL, field.TYPE_INT64, ""),
        "by_count": (field.TYPE_UINT64, field.TYPE_BOOL, ""),
        "colours": (field.TYPE_STRING, field.TYPE_ENUM, ".probe.jsonmap.Colour"),
        "items": (field.TYPE_STRING, field.TYPE_MESSAGE, ".probe.jsonmap.Item"),
        "times": (field.TYPE_STRING, field.TYPE_MESSAGE, ".google.protobuf.Timestamp"),
    }
    for number, (name, (key, value, type_name)) in enumerate(shapes.items(), 1):
        entry = maps.nested_type.add(name=name.title().replace("_", "") + "Entry")
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, type=key, label=field.LABEL_OPTIONAL)
        entry.field.add(name="value", number=2, type=value, label=field.LABEL_OPTIONAL)
        if type_name:
            entry.field[1].type_name = type_name
        maps.field.add(
            name=name,
            number=number,
            type=field.TYPE_MESSAGE,
            label=field.LABEL_REPEATED,
            type_name=f".probe.jsonmap.Maps.{entry.name}",
        )
    maps.field.add(
        name="moments",
        number=len(shapes) + 1,
        type=field.TYPE_MESSAGE,
        label=field.LABEL_REPEATED,
        type_name=".google.protobuf.Timestamp",
    )
    pool = descriptor_pool.Default()  # where Timestamp already is
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("probe.jsonmap.Maps"))


Maps = _map_probe()


def test_maps_of_every_shape_render_as_json_objects_with_text_keys() -> None:
    # given maps with integer and boolean keys, enum, message and timestamp values
    maps = Maps(by_number={7: "seven", -2: "minus two"}, by_flag={True: 5}, colours={"sea": 2})
    maps.by_count[2**64 - 1] = True
    maps.items["k"].name = "n"
    maps.times["t"].seconds = 1_700_000_000
    # when rendered / then keys are text, values as anywhere else in the JSON
    rendered = jsonmap.render(maps)
    assert rendered == {
        "by_number": {"7": "seven", "-2": "minus two"},
        "by_flag": {"true": 5},
        "by_count": {str(2**64 - 1): True},
        "colours": {"sea": "sea_green"},
        "items": {"k": {"name": "n"}},
        "times": {"t": "2023-11-14T22:13:20.000000Z"},
        "moments": [],
    }
    # and the JSON text parses back to the same message
    assert jsonmap.parse(orjson.loads(orjson.dumps(rendered)), Maps) == maps


@pytest.mark.parametrize(
    ("body", "field", "description"),
    [
        ({"by_number": {"x": "a"}}, "by_number[x]", "the key must be an integer"),
        ({"by_number": {"1.5": "a"}}, "by_number[1.5]", "the key must be an integer"),
        ({"by_number": {" 1": "a"}}, "by_number[ 1]", "the key must be an integer"),
        ({"by_number": {"\u0661": "a"}}, "by_number[\u0661]", "the key must be an integer"),
        ({"by_number": {str(2**31): "a"}}, f"by_number[{2**31}]", "must be between"),
        ({"by_count": {"-1": True}}, "by_count[-1]", "must be between 0 and"),
        ({"by_flag": {"True": 1}}, "by_flag[True]", "the key must be true or false"),
        ({"by_flag": {"true": "1"}}, "by_flag[true]", "must be an integer"),
        ({"colours": {"sea": "blue"}}, "colours[sea]", "must be one of: red, sea_green"),
        ({"items": {"k": "n"}}, "items[k]", "must be a JSON object"),
        ({"items": {"k": {"nmae": "n"}}}, "items[k].nmae", "is not a known field"),
        ({"times": {"t": "yesterday"}}, "times[t]", "must be an RFC 3339 time"),
    ],
)
def test_a_bad_key_or_value_of_any_map_is_named(body: Any, field: str, description: str) -> None:
    found = parse_errors(body, Maps)
    assert [v.field for v in found] == [field]
    assert found[0].description.startswith(description)


def test_a_map_key_that_is_not_text_is_refused() -> None:
    # JSON keys are always text; a dict built in Python may hold others
    assert parse_errors({"by_number": {1: "a"}}, Maps) == [
        FieldViolation("by_number[1]", "the key must be an integer")
    ]


def test_timestamps_in_maps_and_lists_are_rfc3339_text() -> None:
    body = {"times": {"t": "2023-11-14T22:13:20Z"}, "moments": ["2023-11-14T22:13:20Z"]}
    parsed = jsonmap.parse(body, Maps)
    assert parsed.times["t"].seconds == parsed.moments[0].seconds == 1_700_000_000
    assert jsonmap.render(parsed)["moments"] == ["2023-11-14T22:13:20.000000Z"]
    found = parse_errors({"moments": ["2023-11-14T22:13:20Z", "today"]}, Maps)
    assert [v.field for v in found] == ["moments[1]"]


records = st.builds(exchange_pb2.Record, fields=st.dictionaries(texts, texts, max_size=5))


@given(st.lists(records, max_size=4), st.booleans(), texts)
def test_any_push_survives_render_then_parse(
    items: list[exchange_pb2.Record], replace: bool, resource_id: str
) -> None:
    push = exchange_pb2.PushRecordsRequest(resource_id=resource_id, records=items, replace=replace)
    wire = orjson.loads(orjson.dumps(jsonmap.render(push)))
    assert jsonmap.parse(wire, exchange_pb2.PushRecordsRequest) == push


@given(
    st.builds(
        exchange_pb2.QueryInterfaceServiceResponse,
        records=st.lists(records, max_size=3),
        masked_fields=st.lists(texts, max_size=3),
        evidence_id=texts,
    )
)
def test_any_query_answer_survives_render_then_parse(
    answer: exchange_pb2.QueryInterfaceServiceResponse,
) -> None:
    wire = orjson.loads(orjson.dumps(jsonmap.render(answer)))
    assert jsonmap.parse(wire, exchange_pb2.QueryInterfaceServiceResponse) == answer


@given(
    st.dictionaries(st.integers(-(2**31), 2**31 - 1), texts, max_size=5),
    st.dictionaries(st.booleans(), st.integers(-(2**63), 2**63 - 1)),
    st.dictionaries(texts, st.sampled_from([0, 1, 2]), max_size=5),
    st.dictionaries(texts, texts, max_size=3),
)
def test_any_map_of_any_shape_survives_render_then_parse(
    by_number: dict[int, str], by_flag: dict[bool, int], colours: dict[str, int], items: Any
) -> None:
    # zero enum values are left out: they render as null, which no map value may be
    maps = Maps(
        by_number=by_number, by_flag=by_flag, colours={k: v or 1 for k, v in colours.items()}
    )
    for key, name in items.items():
        maps.items[key].name = name
    wire = orjson.loads(orjson.dumps(jsonmap.render(maps)))
    assert jsonmap.parse(wire, Maps) == maps


# --- what no request may carry: control characters, numbers too large, keys twice -----------

UNSAFE = ["a\x00b", "\x1b[2J", "\x7f", "\x85", "exe.\u202etxt", "\u2066x\u2069", "\u200f", "\u061c"]


@pytest.mark.parametrize("value", UNSAFE)
def test_control_and_bidi_characters_in_text_are_refused_naming_the_field(value: str) -> None:
    body = {"name": "ok", "summary": value, "data_items": [{"name": value}], "keywords": [value]}
    found = parse_errors(body)
    assert [v.field for v in found] == ["summary", "data_items[0].name", "keywords[0]"]
    assert {v.rule for v in found} == {"plain-text"}
    assert f"U+{ord(next(c for c in value if not c.isprintable())):04X}" in found[0].description


def test_text_may_hold_tabs_line_breaks_and_every_script() -> None:
    summary = "第一行\r\n\tSecond line: ١٢٣ עברית العربية 👩\u200d👩\u200d👧 a\u3000b"
    assert jsonmap.parse({"summary": summary}, pb.Resource).summary == summary


def test_a_map_key_or_value_with_control_characters_is_refused_without_echoing_the_key() -> None:
    body = {"parameters": {"ok": "a\u202eb", "k\x00": "v"}}
    found = parse_errors(body, exchange_pb2.QueryInterfaceServiceRequest)
    assert [(v.field, v.rule) for v in found] == [
        ("parameters[ok]", "plain-text"),
        ("parameters", "plain-text"),  # the key itself is not repeated back
    ]
    assert found[1].description.startswith("has a key with control")


def test_a_query_parameter_with_control_characters_is_refused() -> None:
    with pytest.raises(InvalidArgument) as caught:
        jsonmap.parse_query(
            {"page_token": "\u202e"}, pb.ListResourcesRequest, names=("page_token",)
        )
    assert [v.field for v in caught.value.violations] == ["page_token"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("20", 20), ("-3", -3), ("0007", 7), (str(2**31 - 1), 2**31 - 1)],
)
def test_an_integer_query_parameter_is_read_from_its_text(raw: str, expected: int) -> None:
    request = jsonmap.parse_query({"page_size": raw}, pb.ListResourcesRequest, names=("page_size",))
    assert request.page_size == expected


@pytest.mark.parametrize("raw", [str(2**31), str(-(2**31) - 1), "9" * 30, "9" * 5000])
def test_an_integer_query_parameter_out_of_range_is_out_of_range(raw: str) -> None:
    # given ?version=2147483648 (int32) / then OutOfRange (400) naming the parameter, not a 500
    with pytest.raises(jsonmap.OutOfRange) as caught:
        jsonmap.parse_query({"version": raw}, keys_pb2.GetPublicKeyRequest, names=("version",))
    assert [(v.field, v.rule) for v in caught.value.violations] == [("version", "range")]


@pytest.mark.parametrize("raw", ["many", "+5", " 5", "5 ", "1_000", "\u0665", "1.5", "0x10", "²"])
def test_an_integer_query_parameter_is_ascii_digits_only(raw: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        jsonmap.parse_query({"page_size": raw}, pb.ListResourcesRequest, names=("page_size",))
    assert not isinstance(caught.value, jsonmap.OutOfRange)
    assert caught.value.violations == [FieldViolation("page_size", "must be an integer")]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"name": 2147483648}', None),  # a string field: the wrong type, 422
        (b'{"version": 9223372036854775808}', "version"),  # int64 + 1
        (b'{"version": 9223372036854775808, "name": 5}', "version"),  # 400 wins; both named
    ],
)
def test_one_number_out_of_range_makes_the_body_out_of_range(
    body: bytes, expected: str | None
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        jsonmap.parse(jsonmap.loads(body), pb.Resource)
    assert isinstance(caught.value, jsonmap.OutOfRange) == (expected is not None)
    assert caught.value.violations[0].field == (expected or "name")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "a", "name": "b"}',
        b'{"name": "a:b", "summary": "c", "name": "d"}',  # colons in strings do not hide it
        b'{"data_items": [{"name": "a"}, {"name": "b", "type": "x", "name": "c"}]}',
        b'{"a\\u0062": 1, "ab": 2}',  # the same key, escaped once
        b'{"x": {"y": {"z": 1, "z": 2}}}',
    ],
)
def test_a_key_twice_in_one_object_is_refused_naming_where(raw: bytes) -> None:
    with pytest.raises(jsonmap.DuplicateKey) as caught:
        jsonmap.loads(raw)
    path = caught.value.paths[0]
    assert path in {"name", "data_items[1].name", "ab", "x.y.z"}


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "a", "summary": "b"}',
        b'{"time": "2026-01-31T08:00:00Z", "url": "https://a.example:8443/x"}',
        b'{"a": {"name": 1}, "b": {"name": 2}, "c": [{"name": 3}, {"name": 4}]}',
        b'{"q": "\\" : \\\\", "r": ":"}',  # escaped quotes and colons inside strings
        b"[]",
        b'"text: with a colon"',
        b"{}",
    ],
)
def test_json_without_repeated_keys_is_read_as_orjson_reads_it(raw: bytes) -> None:
    assert jsonmap.loads(raw) == orjson.loads(raw)


def test_a_repeated_key_deeper_than_the_python_stack_is_still_refused() -> None:
    raw = b"[" * 1000 + b'{"a": 1, "a": 2}' + b"]" * 1000  # orjson reads 1024 levels
    with pytest.raises(jsonmap.DuplicateKey):
        jsonmap.loads(raw)


@given(
    st.recursive(
        st.none() | st.integers(-(2**63), 2**63 - 1) | texts,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
        max_leaves=12,
    )
)
def test_any_json_written_once_per_key_reads_back(value: Any) -> None:
    raw = orjson.dumps(value)
    assert jsonmap.loads(raw) == value


@pytest.mark.parametrize(
    "when",
    ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:30:00+00:31"],
)
def test_a_time_that_leaves_the_calendar_in_utc_is_a_violation_not_a_crash(when: str) -> None:
    # datetime.astimezone raised OverflowError for these: a 500 from a JSON body (T25)
    with pytest.raises(InvalidArgument) as refused:
        jsonmap.parse({"licence_id": "x", "not_before": when}, licences_pb2.UseGrant)
    assert [v.field for v in refused.value.violations] == ["not_before"]
