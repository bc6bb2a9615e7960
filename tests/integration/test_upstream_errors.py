"""A 503 names the service at fault, against real processes: a service that cannot authenticate
says so (its name and the cause), and a service that is down is named even when the route
calls another service that depends on it. A platform of its own: these tests stop and restart
its processes."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from conftest import Platform, eventually, publish, resource_body, revoke_held_licences
from services.identity import demo as people
from services.licences.demo import sample_fields

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def keys_down(fragile_platform: Platform) -> AsyncIterator[Platform]:
    """The platform with its keys service stopped, started again afterwards."""
    p = fragile_platform
    # one driving licence per person: the demo citizen's is revoked, so that an issuance
    # reaches the keys service rather than being refused before it
    await revoke_held_licences(
        p,
        "driving_licence",
        holder=await p.login("demo.citizen", entry="public"),
        issuer=await p.login("psb.officer"),
    )
    await p.supervisor.stop("keys")
    try:
        yield p
    finally:
        await p.supervisor.start(p.spec("keys"))
        await p.until_ready()


async def issue_driving_licence(p: Platform, token: str) -> tuple[int, Any]:
    fields = sample_fields("driving_licence", people.CITIZEN.resident_id)
    status, body, _ = await p.request(
        "POST",
        "/office/v1/licences",
        token=token,
        json={"licence_type": "driving_licence", "fields": fields},
    )
    return status, body


async def test_a_keys_outage_is_named_as_the_keys_service_not_the_licences_one(
    keys_down: Platform,
) -> None:
    p = keys_down
    officer = await p.login("psb.officer")
    # when a licence is issued while the keys service (which signs it) is down
    status, problem = await issue_driving_licence(p, officer)
    # then the 503 names keys, the service that is down, not licences, the one the route calls
    assert status == 503, problem
    assert problem["service"] == "keys", problem
    assert problem["detail"].startswith("the keys service is not answering"), problem
    assert "licences" not in problem["detail"], problem


async def test_a_service_that_is_down_is_named_when_the_gateway_calls_it_directly(
    fragile_platform: Platform,
) -> None:
    p = fragile_platform
    token = await p.login("psb.officer")
    await p.supervisor.stop("catalog")
    try:
        status, problem, headers = await p.request(
            "GET", "/office/v1/catalog/resources", token=token
        )
        assert status == 503, problem
        assert problem["service"] == "catalog" and headers["Retry-After"] == "1"
        assert problem["detail"] == "the catalog service is not answering; retry shortly"
    finally:
        await p.supervisor.start(p.spec("catalog"))
        await p.until_ready()


async def test_a_service_that_cannot_sign_in_says_so_naming_itself_and_the_cause(
    fragile_platform: Platform,
) -> None:
    p = fragile_platform
    hrss = await p.login("hrss.officer")
    resource = await publish(
        p, resource_body("psb", name=f"机动车 {uuid.uuid4().hex[:6]}"), open_=False
    )
    ask = {
        "resource_id": resource["id"],
        "purpose": "交通管理 traffic management",
        "legal_basis": "《海口市智慧城市促进条例》第十三条",
        "fields": ["plate_number"],
        "duration_days": 30,
    }
    spec = p.spec("exchange")
    # given: the exchange runs with a client secret that identity does not know (a secret
    # rotated on one side only, or its service account refused)
    await p.supervisor.stop("exchange")
    wrong = {**spec.env, "SMARTCITY_SERVICE_SECRET": "not-the-exchange-secret-" + "x" * 20}
    await p.supervisor.start(dataclasses.replace(spec, env=wrong))
    try:
        # when a department asks for a resource (the exchange reads the catalog as itself)
        status, problem, headers = await p.request(
            "POST", "/office/v1/exchange/share-requests", token=hrss, json=ask
        )
        # then: a 503 that says the exchange cannot authenticate, and why; not "not answering"
        assert status == 503, problem
        assert headers["Retry-After"] == "1"
        assert problem["service"] == "exchange", problem
        assert "the exchange service cannot authenticate" in problem["detail"], problem
        assert "identity refused its client credentials" in problem["detail"], problem
        assert "not answering" not in problem["detail"], problem
    finally:
        await p.supervisor.stop("exchange")
        await p.supervisor.start(spec)
        await p.until_ready()

    # with its own secret again, the exchange serves the same request
    async def served() -> bool:
        status, _, _ = await p.request(
            "POST", "/office/v1/exchange/share-requests", token=hrss, json=ask
        )
        return bool(status == 201)

    await eventually(served, timeout=10)
