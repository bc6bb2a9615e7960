"""Bad input to a gateway route is a 400 or a 422 naming what is wrong, never a 500: through the
gateway's own route handler (`endpoint`) and middleware on a real loopback server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway import jsonmap
from gateway.app import observe
from gateway.endpoints import Call, Route, endpoint, json_response
from smartcity.catalog.v1 import catalog_pb2 as pb
from smartcity.keys.v1 import keys_pb2


async def changed(call: Call) -> web.StreamResponse:
    """What a PATCH handler hands on: the fields to change and their new values."""
    return json_response({"mask": await call.update_mask(), "name": call.body.name})


async def public_key(call: Call) -> web.StreamResponse:
    request = jsonmap.parse_query(
        call.request.query, keys_pb2.GetPublicKeyRequest, names=("version",)
    )
    return json_response({"version": request.version})


ROUTES = (
    Route(
        method="PATCH",
        path="/resources/{id}",
        operation_id="update",
        summary="",
        tag="t",
        handler=changed,
        anonymous=True,
        body=pb.Resource,
    ),
    Route(
        method="POST",
        path="/resources/{id}/withdraw",
        operation_id="act",
        summary="",
        tag="t",
        handler=changed,
        anonymous=True,
        body=pb.Resource,
    ),
    Route(
        method="PATCH",
        path="/keys/{name}",
        operation_id="updateKey",
        summary="",
        tag="t",
        handler=changed,
        anonymous=True,
        body=keys_pb2.Key,
    ),
    Route(
        method="GET",
        path="/keys/{name}/public-key",
        operation_id="key",
        summary="",
        tag="t",
        handler=public_key,
        anonymous=True,
    ),
)


@pytest_asyncio.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application(middlewares=[observe])
    for route in ROUTES:
        handler = endpoint(route, upstream=None, verifier=None)  # type: ignore[arg-type]
        app.router.add_route(route.method, route.path, handler)
    async with TestClient(TestServer(app)) as client:
        yield client


async def answer(
    client: TestClient[web.Request, web.Application], method: str, path: str, **kwargs: Any
) -> tuple[int, Any]:
    async with client.request(method, path, **kwargs) as response:
        if response.status >= 400:
            assert response.content_type == "application/problem+json"
        return response.status, await response.json(content_type=None)


JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"data": b"", "headers": JSON}, {"data": b"  \n", "headers": JSON}],
    ids=["absent", "empty", "blank"],
)
async def test_a_patch_without_a_body_is_400_naming_the_body(
    client: TestClient[web.Request, web.Application], kwargs: dict[str, Any]
) -> None:
    status, problem = await answer(client, "PATCH", "/resources/r-1", **kwargs)
    assert status == 400, problem
    assert problem["title"] == "Missing body"
    assert problem["errors"] == [{"field": "body", "detail": "is required"}]


async def test_a_patch_changes_the_fields_it_sends(
    client: TestClient[web.Request, web.Application],
) -> None:
    status, body = await answer(
        client, "PATCH", "/resources/r-1", json={"summary": "s", "name": "n"}
    )
    assert (status, body) == (200, {"mask": ["name", "summary"], "name": "n"})


async def test_an_action_may_still_be_sent_without_a_body(
    client: TestClient[web.Request, web.Application],
) -> None:
    status, body = await answer(client, "POST", "/resources/r-1/withdraw")
    assert (status, body) == (200, {"mask": [], "name": ""})


@pytest.mark.parametrize("body", [b"[]", b'"name"', b"3", b"null"])
async def test_a_body_that_is_not_an_object_is_400(
    client: TestClient[web.Request, web.Application], body: bytes
) -> None:
    status, problem = await answer(client, "PATCH", "/resources/r-1", data=body, headers=JSON)
    assert status == 400 and problem["errors"][0]["field"] == "body", problem


async def test_a_key_twice_is_400_naming_the_key(
    client: TestClient[web.Request, web.Application],
) -> None:
    body = b'{"name": "a", "data_items": [{"name": "x", "name": "y"}], "name": "b"}'
    status, problem = await answer(client, "PATCH", "/resources/r-1", data=body, headers=JSON)
    assert status == 400 and problem["title"] == "Duplicate key", problem
    assert sorted(e["field"] for e in problem["errors"]) == ["data_items[0].name", "name"]


@pytest.mark.parametrize("version", ["2147483648", "-2147483649", "9" * 40])
async def test_a_query_integer_out_of_its_range_is_400_naming_the_parameter(
    client: TestClient[web.Request, web.Application], version: str
) -> None:
    status, problem = await answer(client, "GET", f"/keys/k/public-key?version={version}")
    assert status == 400 and problem["title"] == "Number out of range", problem
    assert problem["errors"] == [
        {
            "field": "version",
            "detail": "must be between -2147483648 and 2147483647",
            "rule": "range",
        }
    ]
    assert problem["detail"] == "version must be between -2147483648 and 2147483647"


async def test_a_query_integer_that_is_not_one_is_422(
    client: TestClient[web.Request, web.Application],
) -> None:
    status, problem = await answer(
        client, "GET", "/keys/k/public-key?version=%D9%A5"
    )  # Arabic-Indic 5
    assert status == 422 and problem["errors"][0]["field"] == "version", problem
    assert (await answer(client, "GET", "/keys/k/public-key?version=7")) == (200, {"version": 7})


async def test_a_body_integer_out_of_its_range_is_400_naming_the_field(
    client: TestClient[web.Request, web.Application],
) -> None:
    # (a resource's `version` is OUTPUT_ONLY: sending it at all is refused)
    body = {"rotation_period_days": 2**63}
    status, problem = await answer(client, "PATCH", "/keys/k", json=body)
    assert status == 400 and problem["errors"][0]["field"] == "rotation_period_days", problem


async def test_control_characters_in_a_body_field_are_422_naming_it(
    client: TestClient[web.Request, web.Application],
) -> None:
    status, problem = await answer(
        client, "PATCH", "/resources/r-1", json={"name": "报告\u202etxt.exe"}
    )
    assert status == 422, problem
    assert [(e["field"], e["rule"]) for e in problem["errors"]] == [("name", "plain-text")]


@pytest.mark.parametrize(
    ("header", "status", "field"),
    [
        (b"Idempotency-Key: \xff\xfe", 400, "Idempotency-Key"),  # not UTF-8
        (b"Idempotency-Key: \xe2\x80\xae", 400, "Idempotency-Key"),  # U+202E
        (b"Authorization: Bearer \xff.\xfe", 401, None),
    ],
)
async def test_header_text_a_request_message_cannot_carry_is_refused(
    client: TestClient[web.Request, web.Application],
    header: bytes,
    status: int,
    field: str | None,
) -> None:
    # raw bytes: an HTTP client would not send them, an attacker will
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(
        b"POST /resources/r-1/withdraw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        + header
        + b"\r\n\r\n"
    )
    head, _, body = (await asyncio.wait_for(reader.read(), timeout=5)).partition(b"\r\n\r\n")
    writer.close()
    assert head.split(b" ")[1] == str(status).encode(), head
    problem = orjson.loads(body)
    assert [e["field"] for e in problem.get("errors", [])] == ([field] if field else [])
