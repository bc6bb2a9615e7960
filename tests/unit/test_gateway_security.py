"""Security headers and per-entry-point CORS, through a real aiohttp server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.typedefs import Middleware

from gateway.app import observe
from gateway.problems import Problem
from gateway.security import CorsPolicy, cors_middleware, entry_point, security_headers

GOV = "https://gov.example"
PARTNER = "https://partner.example:8443"
EVIL = "https://evil.example"
POLICY_ENV = {
    "SMARTCITY_CORS_PUBLIC_ORIGINS": "*",
    "SMARTCITY_CORS_OFFICE_ORIGINS": f"{GOV}, https://intranet.gov.example",
    "SMARTCITY_CORS_PARTNER_ORIGINS": PARTNER,
}
EXPECTED_SECURITY = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cross-Origin-Resource-Policy": "same-site",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}


async def ok(request: web.Request) -> web.StreamResponse:
    return web.json_response({"ok": True})


async def needs_token(request: web.Request) -> web.StreamResponse:
    if "Authorization" not in request.headers:
        raise Problem(
            401,
            "Unauthenticated",
            "an access token is required",
            headers={"WWW-Authenticate": 'Bearer realm="smartcity"'},
        )
    return web.json_response({"ok": True})


async def cacheable(request: web.Request) -> web.StreamResponse:
    return web.json_response({"ok": True}, headers={"Cache-Control": "max-age=60"})


async def forbidden(request: web.Request) -> web.StreamResponse:
    raise web.HTTPForbidden()


def routes(app: web.Application) -> None:
    app.router.add_get("/healthz", ok)
    app.router.add_get("/public/v1/licences", ok)
    app.router.add_get("/public/v1/cacheable", cacheable)
    app.router.add_get("/office/v1/me", needs_token)
    app.router.add_post("/office/v1/login", ok)
    app.router.add_get("/partner/v1/events", needs_token)
    app.router.add_get("/office/v1/forbidden", forbidden)


@asynccontextmanager
async def gateway(
    *, env: Mapping[str, str] = POLICY_ENV, middlewares: tuple[Middleware, ...] | None = None
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """A tiny gateway wired as `create_app` should wire it: security, observe, CORS."""
    if middlewares is None:
        middlewares = (security_headers, observe, cors_middleware(CorsPolicy.from_environ(env)))
    app = web.Application(middlewares=middlewares)
    routes(app)
    async with TestClient(TestServer(app)) as client:
        yield client


def assert_security_headers(headers: Mapping[str, str]) -> None:
    for name, value in EXPECTED_SECURITY.items():
        assert headers.get(name) == value, name


# --- security headers ---------------------------------------------------------------------


async def test_entry_point_responses_carry_security_headers_and_no_store() -> None:
    async with gateway() as client:
        response = await client.get("/public/v1/licences")
        assert response.status == 200
        assert_security_headers(response.headers)
        assert response.headers["Cache-Control"] == "no-store"


async def test_system_paths_carry_security_headers_but_may_be_cached() -> None:
    async with gateway() as client:
        response = await client.get("/healthz")
        assert response.status == 200
        assert_security_headers(response.headers)
        assert "Cache-Control" not in response.headers


async def test_handler_chosen_cache_control_is_kept() -> None:
    async with gateway() as client:
        response = await client.get("/public/v1/cacheable")
        assert response.headers["Cache-Control"] == "max-age=60"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/office/v1/no-such-route", 404),
        ("DELETE", "/public/v1/licences", 405),
        ("GET", "/office/v1/me", 401),
        ("GET", "/office/v1/forbidden", 403),
    ],
)
async def test_problem_responses_carry_security_headers(
    method: str, path: str, status: int
) -> None:
    async with gateway() as client:
        response = await client.request(method, path)
        assert response.status == status
        assert response.content_type == "application/problem+json"
        assert_security_headers(response.headers)
        assert response.headers["Cache-Control"] == "no-store"
        # observe still did its part inside
        assert "X-Request-Id" in response.headers


async def test_raised_http_exception_gets_security_headers_without_observe() -> None:
    async with gateway(middlewares=(security_headers,)) as client:
        response = await client.get("/office/v1/forbidden")
        assert response.status == 403
        assert_security_headers(response.headers)
        assert response.headers["Cache-Control"] == "no-store"


def test_entry_point_is_the_first_path_segment() -> None:
    assert entry_point("/public/v1/licences") == "public"
    assert entry_point("/office") == "office"
    assert entry_point("/partner/v1/") == "partner"
    assert entry_point("/publicity/v1") is None
    assert entry_point("/healthz") is None
    assert entry_point("/.well-known/jwks.json") is None


# --- CORS preflight -----------------------------------------------------------------------


def preflight_headers(origin: str, method: str = "GET") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type",
    }


async def test_preflight_from_an_allowed_origin_is_answered_without_a_token() -> None:
    async with gateway() as client:
        response = await client.options("/office/v1/me", headers=preflight_headers(GOV))
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == GOV
        assert response.headers["Access-Control-Allow-Methods"] == "GET, POST, PUT, PATCH, DELETE"
        allowed = {h.strip() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
        assert allowed == {
            "Authorization",
            "Content-Type",
            "Idempotency-Key",
            "X-Request-Id",
            "traceparent",
        }
        assert response.headers["Access-Control-Max-Age"] == "600"
        assert response.headers["Vary"] == "Origin"
        assert "Access-Control-Allow-Credentials" not in response.headers
        assert_security_headers(response.headers)


async def test_preflight_for_a_post_only_route_is_answered_before_routing_says_405() -> None:
    async with gateway() as client:
        response = await client.options("/office/v1/login", headers=preflight_headers(GOV, "POST"))
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == GOV


async def test_preflight_from_another_origin_is_refused_with_a_problem() -> None:
    async with gateway() as client:
        response = await client.options("/office/v1/me", headers=preflight_headers(EVIL))
        assert response.status == 403
        assert response.content_type == "application/problem+json"
        problem = orjson.loads(await response.read())
        assert EVIL in problem["detail"]
        assert "office entry point" in problem["detail"]
        assert "Access-Control-Allow-Origin" not in response.headers
        assert_security_headers(response.headers)


async def test_an_origin_allowed_for_office_is_refused_by_partner() -> None:
    async with gateway() as client:
        response = await client.options("/partner/v1/events", headers=preflight_headers(GOV))
        assert response.status == 403
        problem = orjson.loads(await response.read())
        assert "partner entry point" in problem["detail"]
        response = await client.options("/partner/v1/events", headers=preflight_headers(PARTNER))
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == PARTNER


async def test_preflight_is_refused_where_no_origin_is_configured() -> None:
    async with gateway(env={}) as client:
        response = await client.options("/public/v1/licences", headers=preflight_headers(GOV))
        assert response.status == 403


async def test_public_wildcard_allows_any_origin_without_credentials() -> None:
    async with gateway() as client:
        response = await client.options("/public/v1/licences", headers=preflight_headers(EVIL))
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "Access-Control-Allow-Credentials" not in response.headers
        response = await client.get("/public/v1/licences", headers={"Origin": EVIL})
        assert response.headers["Access-Control-Allow-Origin"] == "*"


async def test_options_outside_entry_points_gets_no_cors_answer() -> None:
    async with gateway() as client:
        response = await client.options("/healthz", headers=preflight_headers(GOV))
        assert response.status == 405
        assert "Access-Control-Allow-Origin" not in response.headers


async def test_options_without_preflight_headers_is_routed_as_usual() -> None:
    async with gateway() as client:
        response = await client.options("/office/v1/me", headers={"Origin": GOV})
        assert response.status == 405


# --- CORS on actual requests --------------------------------------------------------------


async def test_actual_request_from_an_allowed_origin_gets_cors_headers() -> None:
    async with gateway() as client:
        response = await client.get(
            "/office/v1/me", headers={"Origin": GOV, "Authorization": "Bearer x"}
        )
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == GOV
        exposed = {h.strip() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
        assert exposed == {"X-Request-Id", "traceresponse", "Location", "Retry-After"}
        assert response.headers["Vary"] == "Origin"


async def test_problem_from_an_allowed_origin_is_readable_by_the_application() -> None:
    async with gateway() as client:
        response = await client.get("/office/v1/me", headers={"Origin": GOV})
        assert response.status == 401
        assert response.headers["Access-Control-Allow-Origin"] == GOV
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="smartcity"'


async def test_actual_request_from_another_origin_proceeds_without_cors_headers() -> None:
    async with gateway() as client:
        response = await client.get(
            "/office/v1/me", headers={"Origin": EVIL, "Authorization": "Bearer x"}
        )
        assert response.status == 200
        assert "Access-Control-Allow-Origin" not in response.headers
        assert "Access-Control-Expose-Headers" not in response.headers
        # the answer depends on Origin, so caches must key on it
        assert response.headers["Vary"] == "Origin"


async def test_paths_outside_entry_points_get_no_cors_headers() -> None:
    async with gateway() as client:
        response = await client.get("/healthz", headers={"Origin": GOV})
        assert response.status == 200
        assert "Access-Control-Allow-Origin" not in response.headers


# --- configuration ------------------------------------------------------------------------


def test_policy_normalises_origins_as_browsers_send_them() -> None:
    policy = CorsPolicy.from_environ(
        {
            "SMARTCITY_CORS_OFFICE_ORIGINS": "HTTPS://Gov.Example:443, http://localhost:5173,,",
            "SMARTCITY_CORS_PARTNER_ORIGINS": "http://[::1]:8080",
        }
    )
    assert policy.office == frozenset({"https://gov.example", "http://localhost:5173"})
    assert policy.partner == frozenset({"http://[::1]:8080"})
    assert policy.public == frozenset()


def test_unset_or_empty_variables_allow_no_cross_origin_access() -> None:
    policy = CorsPolicy.from_environ({"SMARTCITY_CORS_PUBLIC_ORIGINS": ""})
    assert policy == CorsPolicy()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SMARTCITY_CORS_OFFICE_ORIGINS", "https://gov.example/portal"),
        ("SMARTCITY_CORS_OFFICE_ORIGINS", "https://gov.example/"),
        ("SMARTCITY_CORS_OFFICE_ORIGINS", "gov.example"),
        ("SMARTCITY_CORS_PARTNER_ORIGINS", "ftp://partner.example"),
        ("SMARTCITY_CORS_PARTNER_ORIGINS", "https://user@partner.example"),
        ("SMARTCITY_CORS_PARTNER_ORIGINS", "https://partner.example:99999"),
        ("SMARTCITY_CORS_PUBLIC_ORIGINS", "https://app.example?x=1"),
        ("SMARTCITY_CORS_PUBLIC_ORIGINS", "https://bad_host.example"),
        ("SMARTCITY_CORS_PUBLIC_ORIGINS", "null"),
    ],
)
def test_malformed_origin_is_refused_naming_variable_and_value(variable: str, value: str) -> None:
    with pytest.raises(ValueError, match=variable) as raised:
        CorsPolicy.from_environ({variable: f"https://fine.example,{value}"})
    assert repr(value) in str(raised.value)


@pytest.mark.parametrize("entry", ["OFFICE", "PARTNER"])
def test_wildcard_is_refused_outside_the_public_entry_point(entry: str) -> None:
    variable = f"SMARTCITY_CORS_{entry}_ORIGINS"
    with pytest.raises(ValueError, match=variable):
        CorsPolicy.from_environ({variable: "*"})


def test_wildcard_cannot_be_mixed_with_origins() -> None:
    with pytest.raises(ValueError, match="SMARTCITY_CORS_PUBLIC_ORIGINS"):
        CorsPolicy.from_environ({"SMARTCITY_CORS_PUBLIC_ORIGINS": f"*, {GOV}"})
