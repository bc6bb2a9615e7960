"""RFC 6750 section 3: a refused bearer token is told why in `WWW-Authenticate`, through the
gateway's own route handler (`endpoint`) with a real verifier and real Ed25519 keys."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import jwt
import orjson
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from gateway.app import observe
from gateway.endpoints import Call, Route, endpoint, json_response
from gateway.problems import bearer_challenge
from runtime.auth import TOKEN_TYPE, TokenVerifier
from runtime.errors import PermissionDenied

ISSUER = "http://localhost:8080"
KID = uuid.uuid4().hex
KEY = Ed25519PrivateKey.generate()
Client = TestClient[web.Request, web.Application]


async def jwks() -> str:
    jwk: dict[str, Any] = OKPAlgorithm.to_jwk(KEY.public_key(), as_dict=True)
    jwk.update(kid=KID, alg="EdDSA", use="sig")
    return orjson.dumps({"keys": [jwk]}).decode()


def token(*, audience: str = "office", expires_in: int = 300) -> str:
    now = int(time.time())
    claims = {
        **{"iss": ISSUER, "sub": "acc-1", "aud": audience, "kind": "staff"},
        **{"iat": now - 600, "nbf": now - 600, "exp": now + expires_in},
    }
    return jwt.encode(claims, KEY, algorithm="EdDSA", headers={"kid": KID, "typ": TOKEN_TYPE})


async def me(call: Call) -> web.StreamResponse:
    return json_response({"sub": call.principal.subject if call.principal else ""})


async def admin_only(call: Call) -> web.StreamResponse:
    raise PermissionDenied("requires one of the roles: bdb_admin")


ROUTES = (
    Route(
        method="GET", path="/office/v1/me", operation_id="me", summary="", tag="t",
        handler=me, audience="office",
    ),
    Route(
        method="POST", path="/office/v1/admin", operation_id="admin", summary="", tag="t",
        handler=admin_only, audience="office",
    ),
)  # fmt: skip


@pytest_asyncio.fixture
async def client() -> AsyncIterator[Client]:
    verifier = TokenVerifier(jwks, issuer=ISSUER)
    app = web.Application(middlewares=[observe])
    for route in ROUTES:
        handler = endpoint(route, upstream=None, verifier=verifier)  # type: ignore[arg-type]
        app.router.add_route(route.method, route.path, handler)
    async with TestClient(TestServer(app)) as client:
        yield client


async def challenge(client: Client, method: str, path: str, authorization: str = "") -> str:
    headers = {"Authorization": authorization} if authorization else {}
    async with client.request(method, path, headers=headers) as response:
        assert response.status in (401, 403), await response.text()
        return response.headers["WWW-Authenticate"]


async def test_without_a_token_the_challenge_names_only_the_realm(client: Client) -> None:
    assert await challenge(client, "GET", "/office/v1/me") == 'Bearer realm="smartcity"'


async def test_a_malformed_token_is_an_invalid_token(client: Client) -> None:
    said = await challenge(client, "GET", "/office/v1/me", "Bearer not-a-jwt")
    assert said == (
        'Bearer realm="smartcity", error="invalid_token", '
        'error_description="the access token is malformed"'
    )


async def test_an_expired_token_is_an_invalid_token_that_says_so(client: Client) -> None:
    said = await challenge(client, "GET", "/office/v1/me", f"Bearer {token(expires_in=-120)}")
    assert 'error="invalid_token"' in said and "expired" in said


async def test_a_token_for_another_entry_point_is_an_invalid_token(client: Client) -> None:
    said = await challenge(client, "GET", "/office/v1/me", f"Bearer {token(audience='public')}")
    assert 'error="invalid_token"' in said and "not for this entry point" in said


async def test_another_scheme_than_bearer_is_an_invalid_token(client: Client) -> None:
    said = await challenge(client, "GET", "/office/v1/me", "Basic ZGVtbzpkZW1v")
    assert said.startswith('Bearer realm="smartcity", error="invalid_token"')


async def test_a_valid_token_without_the_rights_is_insufficient_scope(client: Client) -> None:
    said = await challenge(client, "POST", "/office/v1/admin", f"Bearer {token()}")
    assert said.startswith('Bearer realm="smartcity", error="insufficient_scope"')


async def test_a_valid_token_is_served(client: Client) -> None:
    async with client.get("/office/v1/me", headers={"Authorization": f"Bearer {token()}"}) as r:
        assert r.status == 200 and "WWW-Authenticate" not in r.headers


def test_a_description_keeps_to_the_characters_rfc_6750_allows() -> None:
    said = bearer_challenge("invalid_token", 'a "quoted" \\ 名 reason')
    assert said.endswith('error_description="a quoted   reason"')


async def test_a_token_that_cannot_be_checked_is_not_called_invalid() -> None:
    async def unreachable() -> str:
        raise ConnectionError("connection refused")

    app = web.Application(middlewares=[observe])
    verifier = TokenVerifier(unreachable, issuer=ISSUER)
    handler = endpoint(ROUTES[0], upstream=None, verifier=verifier)  # type: ignore[arg-type]
    app.router.add_route("GET", ROUTES[0].path, handler)
    async with TestClient(TestServer(app)) as client:
        headers = {"Authorization": f"Bearer {token()}"}
        async with client.get("/office/v1/me", headers=headers) as response:
            # 503 naming identity: a client keeps its token and retries
            assert response.status == 503
            assert "WWW-Authenticate" not in response.headers
            assert (await response.json())["service"] == "identity"
