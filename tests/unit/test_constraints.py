"""Constraints declared once in proto (buf.validate, google.api.field_behavior): the check
every gRPC server and the gateway make, and what the OpenAPI document derives from them."""

from __future__ import annotations

import importlib
import pkgutil
import re
from typing import Any

import pytest
from google.protobuf.descriptor import FieldDescriptor

import smartcity
from buf.validate import validate_pb2
from gateway import openapi
from gateway.endpoints import read_only
from gateway.routes import ROUTES
from runtime import constraints, fields, text
from runtime.errors import InvalidArgument
from services.catalog import domain
from smartcity.catalog.v1 import catalog_pb2 as pb
from smartcity.licences.v1 import licences_pb2


def _every_field() -> list[FieldDescriptor]:
    found: list[FieldDescriptor] = []
    for module in pkgutil.walk_packages(smartcity.__path__, "smartcity."):
        if module.name.endswith("_pb2"):
            loaded: Any = importlib.import_module(module.name)
            pending = list(loaded.DESCRIPTOR.message_types_by_name.values())
            while pending:
                message = pending.pop()
                found += message.fields
                pending += message.nested_types
    return found


def test_every_declared_rule_is_one_the_check_evaluates() -> None:
    # a rule nothing evaluates would be a promise the document makes and no server keeps
    declared = [f for f in _every_field() if constraints.rules(f) is not None]
    assert len(declared) >= 14


def test_a_rule_the_check_does_not_evaluate_is_refused_when_read() -> None:
    rules = validate_pb2.FieldRules()
    rules.string.email = True
    with pytest.raises(constraints.UnsupportedRule, match=r"string\.email"):
        constraints._read(rules, "x.y")


def test_a_resource_names_each_broken_field_and_rule() -> None:
    resource = pb.Resource(
        name="x" * 201,
        provider_department="PSB",
        keywords=["", "y" * 21],
        related_codes=["bad"],
        classification=pb.Classification(item="1", sub_item="001"),
        data_items=[pb.DataItem(type="string")],
    )
    found = {(v.field, v.rule) for v in constraints.violations(resource)}
    assert found == {
        ("name", "max-length"),
        ("provider_department", "pattern"),
        ("keywords[0]", "min-length"),
        ("keywords[1]", "max-length"),
        ("related_codes[0]", "pattern"),
        ("classification.item", "pattern"),
        ("data_items[0].name", "required"),
    }


def test_an_empty_value_passes_where_the_declaration_ignores_it() -> None:
    # an update sends only what it changes: no name, no department, no classification
    assert constraints.violations(pb.Resource()) == []
    # and the fields a caller may not send are not checked at all
    assert constraints.violations(pb.Resource(name="x" * 201), skip=frozenset({"name"})) == []


def test_the_grpc_check_adds_the_plain_text_rule() -> None:
    request = pb.CreateResourceRequest(resource=pb.Resource(name="x" * 201, summary="a\u202eb"))
    with pytest.raises(InvalidArgument) as caught:
        constraints.check(request)
    assert {(v.field, v.rule) for v in caught.value.violations} == {
        ("resource.name", "max-length"),
        ("resource.summary", "plain-text"),
    }
    constraints.check(b"raw bytes pass")


def test_required_comes_from_field_behavior() -> None:
    field = licences_pb2.VerifyPresentationRequest.DESCRIPTOR.fields_by_name["presentation"]
    assert fields.REQUIRED in fields.behaviours(field)
    found = constraints.violations(licences_pb2.VerifyPresentationRequest())
    assert [(v.field, v.description, v.rule) for v in found] == [
        ("presentation", "is required", "required")
    ]


def test_the_domain_reads_its_limits_from_the_declarations() -> None:
    assert domain.MAX_NAME == constraints.declared(pb.Resource, "name").max_len == 200
    assert domain.MAX_KEYWORDS == 10 and domain.MAX_KEYWORD == 20
    assert domain.MAX_ITEMS == 500 and domain.MAX_RELATED == 20


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    return openapi.document(ROUTES)["components"]["schemas"]  # type: ignore[no-any-return]


def test_the_document_derives_its_keywords_from_the_declarations(schemas: dict[str, Any]) -> None:
    resource = schemas["smartcity_catalog_v1_Resource"]["properties"]
    assert resource["name"]["maxLength"] == 200
    assert resource["keywords"]["maxItems"] == 10
    assert resource["keywords"]["items"]["minLength"] == 1
    assert resource["keywords"]["items"]["maxLength"] == 20
    (declared,) = resource["related_codes"]["items"]["allOf"]
    assert re.fullmatch(declared["pattern"], "301001/000001")
    # IGNORE_IF_ZERO_VALUE: an empty department passes (a draft being edited)
    (department,) = resource["provider_department"]["allOf"]
    assert re.match(department["pattern"], "") and re.match(department["pattern"], "psb")
    assert not re.match(department["pattern"], "PSB")
    # the plain-text pattern stays beside the declared one
    assert resource["provider_department"]["pattern"] == text.PATTERN
    item = schemas["smartcity_catalog_v1_DataItem"]
    assert item["required"] == ["name"]
    assert item["properties"]["name"]["minLength"] == 1  # required: an empty one is refused


def test_output_only_fields_are_read_only_in_the_document_and_refused(
    schemas: dict[str, Any],
) -> None:
    resource = schemas["smartcity_catalog_v1_Resource"]["properties"]
    output_only = fields.output_only(pb.Resource.DESCRIPTOR)
    assert {"id", "code", "state", "create_time", "version"} <= output_only
    assert {name for name, schema in resource.items() if schema.get("readOnly")} == output_only
    create = next(r for r in ROUTES if r.operation_id == "createCatalogResource")
    update = next(r for r in ROUTES if r.operation_id == "updateCatalogResource")
    assert read_only(create) == output_only
    # IMMUTABLE: given at creation, refused in a change
    assert read_only(update) == output_only | {"provider_department"}


@pytest.mark.parametrize(
    ("seconds", "nanos"),
    [(2**40, 0), (-(2**40), 0), (253_402_300_800, 0), (-62_135_596_801, 0), (0, 1_000_000_000)],
)
def test_a_timestamp_a_calendar_cannot_hold_is_refused_on_every_grpc_server(
    seconds: int, nanos: int
) -> None:
    # a direct gRPC caller's grant window of 2**40 seconds overflowed the store's integer: an
    # INTERNAL error; past the year 9999, every list rendering it failed (T25)
    request = licences_pb2.CreateUseGrantRequest(
        use_grant=licences_pb2.UseGrant(licence_id="x", grantee="department:psb", purpose="p")
    )
    request.use_grant.not_after.seconds = seconds
    request.use_grant.not_after.nanos = nanos
    with pytest.raises(InvalidArgument) as refused:
        constraints.check(request)
    assert [(v.field, v.rule) for v in refused.value.violations] == [
        ("use_grant.not_after", "timestamp-range")
    ]
    request.use_grant.not_after.seconds, request.use_grant.not_after.nanos = 253_402_300_799, 0
    constraints.check(request)  # 9999-12-31T23:59:59Z is a time


@pytest.mark.parametrize("value", ["12\n"])
def test_a_pattern_end_anchor_does_not_let_a_trailing_newline_through(value: str) -> None:
    # protovalidate's patterns are RE2, whose `$` is the end of the text; Python's `$` also
    # matches before a final newline, so "12\n" passed "^[0-9]{2}$" (T26)
    message = pb.Classification(category="1", item=value, sub_item="001")
    assert [v.field for v in constraints.violations(message)] == ["item"]


def test_a_dollar_inside_a_class_or_escaped_stays_a_dollar() -> None:
    assert constraints.python_pattern(r"^[$a]\$$") == r"^[$a]\$\Z"
    assert constraints.python_pattern(r"^[]$]$") == r"^[]$]\Z"
    assert constraints.python_pattern(r"^[^]$]x$") == r"^[^]$]x\Z"
