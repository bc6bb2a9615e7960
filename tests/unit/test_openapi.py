"""The OpenAPI document generated from the gateway's route table."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from gateway import jsonmap, openapi
from gateway.endpoints import reserved_words, router_path, statuses
from gateway.problems import Problem
from gateway.routes import ROUTES
from runtime import text
from runtime.errors import FieldViolation
from smartcity.catalog.v1 import catalog_pb2
from smartcity.keys.v1 import keys_pb2


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return openapi.document(ROUTES)


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref} points outside the document"
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def test_the_document_is_openapi_3_1_and_plain_json(doc: dict[str, Any]) -> None:
    assert doc["openapi"].startswith("3.1.")
    assert doc["info"]["title"]
    assert doc["info"]["version"]
    assert orjson.loads(orjson.dumps(doc)) == doc


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_every_route_appears_with_its_method(doc: dict[str, Any], route: Any) -> None:
    # given a route of the table / then the document has its path and method
    operation = doc["paths"][route.path][route.method.lower()]
    assert operation["operationId"] == route.operation_id
    assert operation["tags"] == [route.tag]
    # and its success status, its declared errors and those its declaration implies
    answers = route.errors if route.form else statuses(route)
    assert set(operation["responses"]) == {str(route.status), *(str(s) for s in answers)}
    assert set(route.errors) <= set(answers)


def test_the_document_has_no_operation_the_table_lacks(doc: dict[str, Any]) -> None:
    documented = {
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method in item
        if path not in ("/healthz", "/readyz")
    }
    assert documented == {(r.method, r.path) for r in ROUTES}


def test_operation_ids_are_unique(doc: dict[str, Any]) -> None:
    ids = [
        op["operationId"]
        for item in doc["paths"].values()
        for op in item.values()
        if "operationId" in op
    ]
    assert len(ids) == len(set(ids)) == len(ROUTES)


def test_every_ref_resolves_inside_the_document(doc: dict[str, Any]) -> None:
    found = set(refs(doc))
    assert found  # the document does use references
    for ref in found:
        assert resolve(doc, ref), f"{ref} resolves to an empty schema"


def test_every_path_parameter_is_declared(doc: dict[str, Any]) -> None:
    for path, item in doc["paths"].items():
        names = set(re.findall(r"{([^}]+)}", path))
        for operation in item.values():
            declared = {p["name"] for p in operation.get("parameters", ()) if p["in"] == "path"}
            assert declared == names, path


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_secured_routes_declare_the_bearer_scheme(doc: dict[str, Any], route: Any) -> None:
    operation = doc["paths"][route.path][route.method.lower()]
    if route.audience is None:
        assert operation["security"] == []  # anonymous: clients send no credentials
    else:
        assert operation["security"] == [{"bearer": []}]
        assert route.audience in operation["description"]
    scheme = doc["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")


def test_request_bodies_name_their_read_only_fields(doc: dict[str, Any]) -> None:
    create = next(r for r in ROUTES if r.operation_id == "createCatalogResource")
    schema = doc["paths"][create.path]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    for field in create.read_only:
        assert field in schema["description"]
    assert resolve(doc, schema["allOf"][0]["$ref"])["properties"].keys() == {
        f.name for f in catalog_pb2.Resource.DESCRIPTOR.fields
    }


def _resource_schema(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["components"]["schemas"]["smartcity_catalog_v1_Resource"]


@pytest.mark.parametrize(
    ("field", "enum"),
    [
        ("share_type", catalog_pb2.ShareType.DESCRIPTOR),
        ("open_type", catalog_pb2.OpenType.DESCRIPTOR),
        ("update_cycle", catalog_pb2.UpdateCycle.DESCRIPTOR),
        ("data_grade", catalog_pb2.DataGrade.DESCRIPTOR),
    ],
)
def test_enum_schemas_list_the_short_names(doc: dict[str, Any], field: str, enum: Any) -> None:
    listed = _resource_schema(doc)["properties"][field]["enum"]
    assert listed == [*jsonmap.enum_names(enum).values(), None]
    assert all(
        name is None or (name.islower() and not name.endswith("unspecified")) for name in listed
    )


def test_the_short_names_are_the_ones_the_contract_documents(doc: dict[str, Any]) -> None:
    assert _resource_schema(doc)["properties"]["share_type"]["enum"] == [
        "unconditional",
        "conditional",
        "not_shared",
        None,
    ]
    item = doc["components"]["schemas"]["smartcity_catalog_v1_DataItem"]
    assert item["properties"]["grade"]["enum"][:-1] == [
        "public",
        "internal",
        "sensitive",
        "important",
        "core",
    ]


def test_timestamps_are_documented_as_date_time_strings(doc: dict[str, Any]) -> None:
    schema = _resource_schema(doc)["properties"]["update_time"]
    # (OUTPUT_ONLY in proto: the server sets it)
    assert schema == {"type": ["string", "null"], "format": "date-time", "readOnly": True}


def test_a_rendered_problem_matches_the_problem_schema(doc: dict[str, Any]) -> None:
    problem = Problem(
        422, "Invalid request", "bad", violations=[FieldViolation("code", "is required")]
    )
    body = orjson.loads(problem.to_json("/office/v1/catalog/resources"))
    schema = doc["components"]["schemas"]["Problem"]
    assert set(schema["required"]) <= set(body)
    assert set(body) <= set(schema["properties"])
    assert set(body["errors"][0]) == set(schema["properties"]["errors"]["items"]["properties"])


def test_the_document_is_a_valid_openapi_3_1_document(doc: dict[str, Any]) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(doc)


@pytest.mark.parametrize(
    ("message", "field"),
    [("Record", "fields"), ("QueryInterfaceServiceRequest", "parameters")],
)
def test_maps_are_documented_as_json_objects(doc: dict[str, Any], message: str, field: str) -> None:
    schema = doc["components"]["schemas"][f"smartcity_exchange_v1_{message}"]
    assert schema["properties"][field] == {
        "type": "object",
        "additionalProperties": {"type": "string", "pattern": text.PATTERN},
    }
    # the entry messages protoc makes for maps are not part of the JSON
    assert not [name for name in doc["components"]["schemas"] if name.endswith("Entry")]


def test_the_token_endpoint_documents_its_form_and_its_oauth_errors(doc: dict[str, Any]) -> None:
    operation = doc["paths"]["/oauth2/token"]["post"]
    form = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert set(form["properties"]) == {
        "grant_type",
        "code",
        "redirect_uri",
        "code_verifier",
        "refresh_token",
        "client_id",
        "client_secret",
    }
    # the partners' path is the same endpoint
    assert (
        doc["paths"]["/partner/v1/oauth2/token"]["post"]["requestBody"]
        == (operation["requestBody"])
    )
    responses = operation["responses"]
    assert responses["400"] == responses["401"] == {"$ref": "#/components/responses/OAuthError"}
    assert responses["429"] == {"$ref": "#/components/responses/Problem"}  # as every login


def test_the_document_names_the_gateway_it_describes() -> None:
    served = openapi.document(ROUTES, server="https://gov.example")
    assert served["servers"] == [{"url": "https://gov.example", "description": "the gateway"}]


def test_every_string_is_documented_as_the_plain_text_the_gateway_takes(
    doc: dict[str, Any],
) -> None:
    # given the pattern every string schema carries
    summary = _resource_schema(doc)["properties"]["summary"]
    assert summary == {"type": "string", "pattern": text.PATTERN, "maxLength": 2000}
    pattern = re.compile(text.PATTERN)
    # then it takes what runtime.text takes, and refuses what it refuses
    for value in ("停车场 car parks", "line one\nline two\tand a tab", "پ\u200d"):
        assert pattern.match(value) and text.unsafe_character(value) is None
    for value in ("\u202etxt.exe", "nul\x00", "bell\x07", "c1\x85", "\u2066isolate"):
        assert not pattern.match(value) and text.unsafe_character(value) is not None


def test_an_absent_object_is_documented_as_null(doc: dict[str, Any]) -> None:
    # jsonmap.render writes an unset message field as null (a key's policy, say)
    policy = doc["components"]["schemas"]["smartcity_keys_v1_Key"]["properties"]["policy"]
    assert {"type": "null"} in policy["anyOf"]
    assert orjson.loads(orjson.dumps(jsonmap.render(keys_pb2.Key())))["policy"] is None


def test_required_fields_and_bodies_follow_the_field_behaviour_in_proto(
    doc: dict[str, Any],
) -> None:
    # given `presentation` is REQUIRED in proto
    schema = doc["components"]["schemas"]["smartcity_licences_v1_VerifyPresentationRequest"]
    assert schema["required"] == ["presentation"]
    verify = doc["paths"]["/public/v1/licences/verify"]["post"]
    assert verify["requestBody"]["required"] is True
    # an action whose body holds nothing required may be sent without one
    confirm = doc["paths"]["/office/v1/catalog/resources/{id}/confirm"]["post"]
    assert confirm["requestBody"]["required"] is False


def test_statuses_follow_from_what_a_route_declares() -> None:
    verify = next(r for r in ROUTES if r.operation_id == "verifyLicencePresentationAsStaff")
    # a JSON body: 400, 413, 415, 422; a token: 401, 403; every route: 503
    assert {400, 401, 403, 413, 415, 422, 503} <= set(statuses(verify))
    get = next(r for r in ROUTES if (r.method, r.path) == ("GET", "/office/v1/licences/{id}"))
    assert {404, 422} <= set(statuses(get))  # a path parameter: not found, or not plain text


def test_a_path_parameter_never_takes_the_name_of_a_route_beside_it(
    doc: dict[str, Any],
) -> None:
    # given /office/v1/licences/verify beside /office/v1/licences/{id}
    (parameter,) = doc["paths"]["/office/v1/licences/{id}"]["get"]["parameters"]
    assert parameter["schema"]["not"] == {"enum": ["grants", "verify"]}
    app = web.Application()
    reserved = reserved_words(ROUTES)

    async def nothing(request: web.Request) -> web.StreamResponse:
        return web.Response()

    for route in ROUTES:
        app.router.add_route(route.method, router_path(route, reserved), nothing)

    async def allowed(method: str, path: str) -> set[str]:
        match = await app.router.resolve(make_mocked_request(method, path))
        return set(match.http_exception.allowed_methods) if match.http_exception else {"ok"}

    # then a method the word's route lacks is a 405 that lists only the word's own methods
    assert asyncio.run(allowed("OPTIONS", "/office/v1/licences/verify")) == {"POST"}
    assert asyncio.run(allowed("GET", "/office/v1/licences/verify")) == {"POST"}
    # and any other id still reaches the licence
    assert asyncio.run(allowed("GET", "/office/v1/licences/verifying")) == {"ok"}
    assert asyncio.run(allowed("POST", "/office/v1/licences/abc/suspend")) == {"ok"}
