"""The gateway's login and registration limits, on a second gateway with strict limits in front
of the shared platform's services."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from conftest import Platform
from runtime import config
from runtime.launcher import free_port, platform_specs
from runtime.processes import Supervisor

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture(scope="module")
async def strict_gateway(platform: Platform) -> AsyncIterator[str]:
    port = free_port()
    env = {
        **platform.env,
        "SMARTCITY_GATEWAY_PORT": str(port),
        "SMARTCITY_RATE_LOGIN_PER_CLIENT": "6/min",
        "SMARTCITY_RATE_LOGIN_PER_ACCOUNT": "3/min",
        "SMARTCITY_RATE_REGISTER_PER_CLIENT": "2/min",
        "SMARTCITY_CORS_PUBLIC_ORIGINS": "https://portal.example",
    }
    settings = config.load(env)
    spec = next(s for s in platform_specs(settings, env) if s.name == "gateway")
    spec = dataclasses.replace(
        spec, name="strict-gateway", log_path=spec.log_path.with_name("strict-gateway.log")
    )
    supervisor = Supervisor(restart=False)
    await supervisor.start(spec)
    yield f"http://127.0.0.1:{port}"
    await supervisor.stop_all()


async def test_logins_are_limited_per_account_then_per_client(strict_gateway: str) -> None:
    async with aiohttp.ClientSession() as http:

        async def attempt(username: str) -> tuple[int, dict[str, str]]:
            body = {"username": username, "password": "not the right password"}
            async with http.post(f"{strict_gateway}/public/v1/login", json=body) as r:
                return r.status, dict(r.headers)

        # three attempts on one account reach identity, the fourth is stopped at the gateway
        statuses = [(await attempt("someone.limited"))[0] for _ in range(3)]
        assert statuses == [401, 401, 401]
        status, headers = await attempt("someone.limited")
        assert status == 429
        assert int(headers["Retry-After"]) >= 1
        assert headers["Content-Type"] == "application/problem+json"
        # another account from the same client has its own allowance, until the client's six
        # attempts a minute (the refused one counted) run out
        assert [(await attempt(f"other.{i}"))[0] for i in range(3)] == [401, 401, 429]


async def test_registrations_are_limited_per_client(strict_gateway: str) -> None:
    async with aiohttp.ClientSession() as http:
        statuses = []
        for _ in range(3):
            async with http.post(f"{strict_gateway}/public/v1/accounts", json={}) as r:
                statuses.append(r.status)
        assert statuses == [422, 422, 429]


async def test_cors_allows_the_configured_origin_at_its_entry_point_only(
    strict_gateway: str,
) -> None:
    preflight = {"Origin": "https://portal.example", "Access-Control-Request-Method": "POST"}
    async with aiohttp.ClientSession() as http:
        async with http.options(f"{strict_gateway}/public/v1/login", headers=preflight) as r:
            assert r.status == 204
            assert r.headers["Access-Control-Allow-Origin"] == "https://portal.example"
            assert "Authorization" in r.headers["Access-Control-Allow-Headers"]
        async with http.options(f"{strict_gateway}/office/v1/login", headers=preflight) as r:
            assert r.status == 403
        async with http.get(
            f"{strict_gateway}/public/v1/departments",
            headers={"Origin": "https://portal.example"},
        ) as r:
            assert r.status == 200
            assert r.headers["Access-Control-Allow-Origin"] == "https://portal.example"
            assert "traceresponse" in r.headers["Access-Control-Expose-Headers"]
