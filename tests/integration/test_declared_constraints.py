"""A rule declared once in proto (buf.validate, google.api.field_behavior) gets the same answer
over HTTP and over gRPC: the gateway and every service check it, naming the field."""

from __future__ import annotations

import grpc
import pytest

from conftest import Platform, resource_body
from runtime import errors
from smartcity.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from smartcity.licences.v1 import licences_pb2, licences_pb2_grpc

pytestmark = pytest.mark.integration

RESOURCES = "/office/v1/catalog/resources"


async def test_a_name_too_long_is_named_over_http_and_over_grpc(platform: Platform) -> None:
    token = await platform.login("psb.officer")
    # given a draft whose name is longer than proto declares (max_len 200)
    body = resource_body("psb", name="名" * 201, keywords=["停车"], related_codes=["301001"])
    # when it is registered through the gateway
    status, problem, _ = await platform.request("POST", RESOURCES, token=token, json=body)
    # then a 422 names each broken field and its rule
    assert status == 422, problem
    over_http = {(e["field"], e["rule"]) for e in problem["errors"]}
    assert over_http == {("name", "max-length"), ("related_codes[0]", "pattern")}, problem
    # and a direct gRPC caller gets the same fields and rules, as BadRequest violations
    resource = catalog_pb2.Resource(name="名" * 201, related_codes=["301001"], keywords=["停车"])
    async with grpc.aio.insecure_channel(platform.settings.grpc_target("catalog")) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateResource(
                catalog_pb2.CreateResourceRequest(resource=resource),
                metadata=(("authorization", f"Bearer {token}"),),
                timeout=5,
            )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status_proto = errors.status_from_error(caught.value)
    over_grpc = {(v.field, v.rule) for v in errors.field_violations(status_proto)}
    assert over_grpc == {("resource.name", "max-length"), ("resource.related_codes[0]", "pattern")}


async def test_a_field_the_server_sets_is_refused_as_its_document_says(platform: Platform) -> None:
    token = await platform.login("psb.officer")
    # given `state` is OUTPUT_ONLY in proto, readOnly in the OpenAPI document
    _, document, _ = await platform.request("GET", "/openapi.json")
    state = document["components"]["schemas"]["smartcity_catalog_v1_Resource"]["properties"]
    assert state["state"]["readOnly"] is True
    # when a client sends it, then it is refused, named
    body = resource_body("psb", state="published")
    status, problem, _ = await platform.request("POST", RESOURCES, token=token, json=body)
    assert status == 422
    assert problem["errors"] == [
        {"field": "state", "detail": "is set by the server and cannot be sent"}
    ]


async def test_a_required_field_is_required_over_grpc_too(platform: Platform) -> None:
    # given `presentation` is REQUIRED in proto: a direct gRPC verifier leaving it out
    async with grpc.aio.insecure_channel(platform.settings.grpc_target("licences")) as channel:
        stub = licences_pb2_grpc.LicencesServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.VerifyPresentation(licences_pb2.VerifyPresentationRequest(), timeout=5)
    # then it is told so, as an HTTP caller is (a 422 naming the field)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    found = errors.field_violations(errors.status_from_error(caught.value))
    assert [(v.field, v.rule) for v in found] == [("presentation", "required")]
