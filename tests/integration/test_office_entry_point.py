"""The office entry point end to end: gateway, identity, catalog, exchange, NATS, SQLite."""

from __future__ import annotations

import uuid

import pytest

from conftest import Platform, eventually, resource_body
from runtime import config

pytestmark = pytest.mark.integration


async def test_officer_registers_a_resource_and_the_exchange_learns_it(platform: Platform) -> None:
    # given an officer of the Public Security Bureau
    token = await platform.login("psb.officer")
    # when they register a resource of their department
    status, created, headers = await platform.request(
        "POST", "/office/v1/catalog/resources", token=token, json=resource_body()
    )
    # then it is a draft with a code in its classification, readable, and the exchange learns
    # of it through the bus
    assert status == 201, created
    assert created["version"] == 1 and created["state"] == "draft"
    code = created["code"]
    assert code.startswith("301001/") and len(code) == len("301001/000001")
    assert headers["Location"] == f"/office/v1/catalog/resources/{created['id']}"
    status, fetched, _ = await platform.request("GET", headers["Location"], token=token)
    assert status == 200 and fetched == created

    async def exchange_knows() -> bool:
        known = (await platform.exchange_resources(token)).get(created["id"])
        return known is not None and known["code"] == code and known["share_type"] == "conditional"

    await eventually(exchange_knows)


async def test_list_pages_with_a_cursor_until_the_end(platform: Platform) -> None:
    token = await platform.login("hrss.officer")
    codes = set()
    for _ in range(5):
        body = resource_body(department="hrss")
        status, created, _ = await platform.request(
            "POST", "/office/v1/catalog/resources", token=token, json=body
        )
        assert status == 201
        codes.add(created["code"])
    assert len(codes) == 5, "two resources got the same code"
    seen: list[str] = []
    path = "/office/v1/catalog/resources?page_size=2&provider_department=hrss"
    pages = 0
    while True:
        status, page, _ = await platform.request("GET", path, token=token)
        assert status == 200
        assert len(page["resources"]) <= 2
        seen += [r["code"] for r in page["resources"]]
        pages += 1
        if not page["next_page_token"]:
            break
        path = (
            "/office/v1/catalog/resources?page_size=2&provider_department=hrss"
            f"&page_token={page['next_page_token']}"
        )
    assert codes <= set(seen)
    assert len(seen) == len(set(seen)), "a resource appeared on two pages"
    assert pages >= 3


async def test_retry_with_the_same_idempotency_key_creates_one_resource(platform: Platform) -> None:
    token = await platform.login("psb.officer")
    key = uuid.uuid4().hex
    body = resource_body()
    first = await platform.request(
        "POST",
        "/office/v1/catalog/resources",
        token=token,
        json=body,
        headers={"Idempotency-Key": key},
    )
    second = await platform.request(
        "POST",
        "/office/v1/catalog/resources",
        token=token,
        json=body,
        headers={"Idempotency-Key": key},
    )
    assert first[0] == 201 and second[0] == 201
    assert first[1]["id"] == second[1]["id"]
    # without the key, the same body is a second resource with the next code
    status, third, _ = await platform.request(
        "POST", "/office/v1/catalog/resources", token=token, json=body
    )
    assert status == 201 and third["id"] != first[1]["id"]
    assert third["code"] != first[1]["code"]


async def test_login_with_a_wrong_password_is_401(platform: Platform) -> None:
    status, problem, headers = await platform.request(
        "POST", "/office/v1/login", json={"username": "psb.officer", "password": "wrong"}
    )
    assert status == 401
    assert headers["Content-Type"].startswith("application/problem+json")
    assert problem["detail"] == "wrong username, password or TOTP code"


async def test_no_token_is_401_and_a_foreign_token_is_401(platform: Platform) -> None:
    status, problem, headers = await platform.request("GET", "/office/v1/catalog/resources")
    assert status == 401 and "Bearer" in headers["WWW-Authenticate"]
    status, problem, _ = await platform.request(
        "GET", "/office/v1/catalog/resources", token="eyJhbGciOiJub25lIn0.e30."
    )
    assert status == 401, problem


async def test_officer_of_another_department_is_403(platform: Platform) -> None:
    token = await platform.login("msa.officer")
    status, problem, _ = await platform.request(
        "POST", "/office/v1/catalog/resources", token=token, json=resource_body("psb")
    )
    assert status == 403
    assert "own department" in problem["detail"]


@pytest.mark.parametrize(
    ("mutate", "field", "status"),
    [
        (lambda b: b.update(colour="red"), "colour", 422),
        (lambda b: b.update(name=42), "name", 422),
        (lambda b: b.pop("name"), "name", 422),
        (lambda b: b.update(name="x" * 201), "name", 422),
        (lambda b: b.update(share_type="sometimes"), "share_type", 422),
        (lambda b: b.update(id="chosen-by-me"), "id", 422),
        (lambda b: b["data_items"][1].update(grade="core"), "data_items[1].grade", 422),
        (lambda b: b.update(share_type="unconditional"), "share_type", 422),
        (lambda b: b.update(code="301001/000001"), "code", 422),
        (lambda b: b.update(data_items="none"), "data_items", 422),
    ],
    ids=[
        "unknown",
        "wrong-type",
        "missing",
        "over-long",
        "bad-enum",
        "read-only",
        "item-grade-above-resource",
        "personal-unconditional",
        "code-is-assigned",
        "not-an-array",
    ],
)
async def test_bad_input_names_the_field(
    platform: Platform, mutate: object, field: str, status: int
) -> None:
    token = await platform.login("psb.officer")
    body = resource_body()
    mutate(body)  # type: ignore[operator]
    got, problem, headers = await platform.request(
        "POST", "/office/v1/catalog/resources", token=token, json=body
    )
    assert got == status, problem
    assert headers["Content-Type"].startswith("application/problem+json")
    assert field in [e["field"] for e in problem["errors"]], problem


async def test_malformed_and_oversized_bodies_are_refused(platform: Platform) -> None:
    token = await platform.login("psb.officer")
    status, problem, _ = await platform.request(
        "POST",
        "/office/v1/catalog/resources",
        token=token,
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert status == 400 and problem["title"] == "Malformed JSON"
    status, problem, _ = await platform.request(
        "POST",
        "/office/v1/catalog/resources",
        token=token,
        data=b"a" * (1024 * 1024 + 10),
        headers={"Content-Type": "application/json"},
    )
    assert status == 413, problem
    status, problem, _ = await platform.request(
        "POST",
        "/office/v1/catalog/resources",
        token=token,
        data=b"code=1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 415, problem


async def test_unknown_resource_and_route_are_404_problems(platform: Platform) -> None:
    token = await platform.login("psb.officer")
    status, problem, _ = await platform.request(
        "GET", "/office/v1/catalog/resources/no-such-id", token=token
    )
    assert status == 404 and "no-such-id" in problem["detail"]
    status, problem, _ = await platform.request("GET", "/office/v1/nothing-here", token=token)
    assert status == 404 and problem["status"] == 404


async def test_forged_page_token_is_422(platform: Platform) -> None:
    token = await platform.login("psb.officer")
    status, problem, _ = await platform.request(
        "GET", "/office/v1/catalog/resources?page_token=forged", token=token
    )
    assert status == 422 and problem["errors"][0]["field"] == "page_token"


async def test_every_response_carries_traceresponse_and_problems_carry_the_trace_id(
    platform: Platform,
) -> None:
    status, problem, headers = await platform.request("GET", "/office/v1/catalog/resources")
    version, trace_id, span_id, flags = headers["traceresponse"].split("-")
    assert version == "00" and len(trace_id) == 32 and len(span_id) == 16
    assert int(flags, 16) & 1, "the request was not sampled: smartcity trace could not show it"
    assert problem["trace_id"] == trace_id
    status, _, headers = await platform.request("GET", "/healthz")
    assert status == 200 and "traceresponse" in headers


async def test_openapi_describes_every_route(platform: Platform) -> None:
    from gateway.routes import ROUTES

    status, spec, _ = await platform.request("GET", "/openapi.json")
    assert status == 200 and spec["openapi"].startswith("3.1")
    for route in ROUTES:
        assert route.method.lower() in spec["paths"][route.path], route.path


async def test_readyz_reports_every_service(platform: Platform) -> None:
    status, body, _ = await platform.request("GET", "/readyz")
    assert status == 200
    assert body["services"] == dict.fromkeys(config.SERVICES, "SERVING")


async def test_jwks_is_published_and_current_account_has_department_and_roles(
    platform: Platform,
) -> None:
    status, jwks, _ = await platform.request("GET", "/.well-known/jwks.json")
    assert status == 200
    # EdDSA signs access tokens; RS256 only ID tokens (OpenID Connect requires it)
    assert {k["alg"] for k in jwks["keys"]} == {"EdDSA", "RS256"}
    assert not {"d", "p", "q", "dp", "dq", "qi"} & {name for k in jwks["keys"] for name in k}
    token = await platform.login("bdb.admin")
    status, me, _ = await platform.request("GET", "/office/v1/me", token=token)
    assert status == 200
    assert me["username"] == "bdb.admin" and me["department"] == "bdb"
    assert "bdb_admin" in me["roles"]
