"""Fields nobody should have to guess: publishing with `{}`, an authorisation code without an
expiry, an interface named without its department's prefix and a use grant without a window
take documented defaults; errors name the request's own JSON paths; a partner signs in with the
OAuth 2.0 client-credentials names."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from conftest import (
    DEMO_PASSWORD,
    Platform,
    act,
    create,
    open_body,
    publish,
    remember_secret,
    resource_body,
    revoke_held_licences,
)
from services.identity import demo as people
from services.licences.demo import sample_fields

pytestmark = pytest.mark.integration


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def confirmed(platform: Platform, body: dict[str, object]) -> str:
    """A resource registered, submitted and confirmed: ready to publish."""
    officer = await platform.login(f"{body['provider_department']}.officer")
    bureau = await platform.login("bdb.admin")
    created = await create(platform, officer, body)
    assert (await act(platform, officer, created["id"], "submit"))[0] == 200
    assert (await act(platform, bureau, created["id"], "confirm"))[0] == 200
    return str(created["id"])


async def test_publishing_with_an_empty_body_lists_where_the_types_allow(
    platform: Platform,
) -> None:
    bureau = await platform.login("bdb.admin")
    # an open resource goes into both catalogs
    open_id = await confirmed(platform, open_body(word=uuid.uuid4().hex[:8]))
    status, published = await act(platform, bureau, open_id, "publish", {})
    assert status == 200, published
    assert published["in_share_catalog"] and published["in_open_catalog"]
    # a not-open one into the share catalog only; no body at all is the same as {}
    closed_id = await confirmed(platform, resource_body("psb"))
    status, published = await act(platform, bureau, closed_id, "publish")
    assert status == 200, published
    assert published["in_share_catalog"] and not published["in_open_catalog"]
    # a flag that is sent is kept: an open resource can stay out of the open catalog
    other_id = await confirmed(platform, open_body(word=uuid.uuid4().hex[:8]))
    status, published = await act(platform, bureau, other_id, "publish", {"open_catalog": False})
    assert status == 200 and published["in_share_catalog"] and not published["in_open_catalog"]


async def test_an_authorisation_code_without_an_expiry_lives_ninety_days(
    platform: Platform,
) -> None:
    admin = await platform.login("bdb.admin")
    status, issued, _ = await platform.request(
        "POST",
        "/office/v1/authorisation-codes",
        token=admin,
        json={"consumer": "department:psb", "interface_services": ["hrss.parking-default"]},
    )
    assert status == 201, issued
    lives = when(issued["code"]["expire_time"]) - when(issued["code"]["create_time"])
    assert timedelta(days=89, hours=23) < lives <= timedelta(days=90, minutes=1)
    assert issued["code"]["rate_limit_per_minute"] == 600


async def test_errors_name_the_bodys_own_json_paths(platform: Platform) -> None:
    admin = await platform.login("bdb.admin")
    past = "2020-01-01T00:00:00Z"
    cases = {
        "/office/v1/authorisation-codes": (
            {"consumer": "everyone", "interface_services": [], "expire_time": past},
            {"consumer", "interface_services", "expire_time"},
        ),
        "/office/v1/keys": ({"name": "Bad Name", "purpose": "mac"}, {"name"}),
        "/office/v1/incidents": ({"title": ""}, {"title", "severity"}),
    }
    for path, (body, fields) in cases.items():
        status, problem, _ = await platform.request("POST", path, token=admin, json=body)
        assert status == 422, (path, problem)
        assert {e["field"] for e in problem["errors"]} == fields, (path, problem)
        assert problem["detail"] == "invalid request: " + ", ".join(
            e["field"] for e in problem["errors"]
        )
    citizen = await platform.login("demo.citizen", entry="public")
    status, problem, _ = await platform.request(
        "POST",
        "/public/v1/licences/grants",
        token=citizen,
        json={"licence_id": "nonsense", "grantee": "department:hrss", "purpose": "x"},
    )
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["licence_id"], problem
    assert "use_grant" not in problem["detail"]


async def test_an_interface_named_without_its_prefix_gets_its_departments(
    platform: Platform,
) -> None:
    officer = await platform.login("hrss.officer")
    resource = await publish(platform, open_body(word=uuid.uuid4().hex[:8]))
    bare = f"parking-{uuid.uuid4().hex[:8]}"
    body = {
        "name": bare,
        "resource_id": resource["id"],
        "description": "泊位数 by car park name",
        "parameters": ["停车场名称"],
        "returned_fields": ["停车场名称", "泊位数"],
    }
    status, created, headers = await platform.request(
        "POST", "/office/v1/exchange/interfaces", token=officer, json=body
    )
    assert status == 201, created
    assert created["name"] == f"hrss.{bare}" and headers["Location"].endswith(f"hrss.{bare}")
    # another department's prefix is refused, saying which form is needed
    body["name"] = f"psb.{bare}"
    status, problem, _ = await platform.request(
        "POST", "/office/v1/exchange/interfaces", token=officer, json=body
    )
    assert status == 422, problem
    (error,) = problem["errors"]
    assert error["field"] == "name" and error["rule"] == "provider-prefix"
    assert "'hrss.'" in error["detail"] and "without a prefix" in error["detail"]


async def test_a_use_grant_without_a_window_starts_now_and_lasts_thirty_days(
    platform: Platform,
) -> None:
    psb = await platform.login("psb.officer")
    # one driving licence per person: the one the citizen holds is revoked first
    await revoke_held_licences(
        platform,
        "driving_licence",
        holder=await platform.login("demo.citizen", entry="public"),
        issuer=psb,
    )
    status, licence, _ = await platform.request(
        "POST",
        "/office/v1/licences",
        token=psb,
        json={
            "licence_type": "driving_licence",
            "fields": sample_fields("driving_licence", people.CITIZEN.resident_id),
        },
    )
    assert status == 201, licence
    citizen = await platform.login("demo.citizen", entry="public")
    status, grant, _ = await platform.request(
        "POST",
        "/public/v1/licences/grants",
        token=citizen,
        json={
            "licence_id": licence["id"],
            "grantee": "department:hrss",
            "purpose": "社保核验 social security check",
            "claims": ["vehicle_class"],
        },
    )
    assert status == 201, grant
    assert grant["state"] == "active"
    assert when(grant["not_after"]) - when(grant["not_before"]) == timedelta(days=30)
    assert abs(when(grant["not_before"]) - when(grant["create_time"])) < timedelta(seconds=5)


async def test_a_partner_signs_in_with_client_id_and_client_secret(platform: Platform) -> None:
    # the OAuth 2.0 client-credentials names, and the username and password as before
    for body in (
        {"client_id": "demo.partner", "client_secret": DEMO_PASSWORD},
        {"username": "demo.partner", "password": DEMO_PASSWORD},
    ):
        status, tokens, _ = await platform.request("POST", "/partner/v1/login", json=body)
        assert status == 200, tokens
        remember_secret(tokens["access_token"], tokens["refresh_token"])
        assert tokens["token_type"] == "Bearer" and tokens["access_token"]
        status, me, _ = await platform.request(
            "GET",
            "/partner/v1/me",
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
        )
        assert status == 200 and me["username"] == "demo.partner"
    # a missing secret is named as sent; a mixture of the two vocabularies is refused
    status, problem, _ = await platform.request(
        "POST", "/partner/v1/login", json={"client_id": "demo.partner"}
    )
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["client_secret"]
    status, problem, _ = await platform.request(
        "POST", "/partner/v1/login", json={"client_id": "demo.partner", "password": "x" * 12}
    )
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["password"]
    # and people sign in with their username and password
    status, problem, _ = await platform.request(
        "POST",
        "/public/v1/login",
        json={"client_id": "demo.citizen", "client_secret": DEMO_PASSWORD},
    )
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["client_id"]
