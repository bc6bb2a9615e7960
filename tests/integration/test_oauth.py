"""The platform as standard OAuth 2.0 clients see it: discovery that advertises only what works,
client credentials with an independent client library (Authlib over httpx2), RFC 6749 errors,
RFC 6750 challenges, and RFC 9068's `client_id` in every access token."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx2
import orjson
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oidc.discovery import OpenIDProviderMetadata

from conftest import DEMO_PASSWORD, Platform, remember_secret

PARTNER = "demo.partner"
TOKEN_PATH = "/partner/v1/oauth2/token"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = orjson.loads(base64.urlsafe_b64decode(payload + "=" * 3))
    return claims


async def discovery(platform: Platform) -> dict[str, Any]:
    status, document, _ = await platform.request("GET", "/.well-known/openid-configuration")
    assert status == 200, document
    return dict(document)


async def new_partner(platform: Platform) -> tuple[str, str]:
    """A partner client of its own: failed sign-ins against it lock nobody else out."""
    admin = await platform.login("bdb.admin")
    client_id = f"oauth.{uuid.uuid4().hex[:8]}"
    status, reply, _ = await platform.request(
        "POST",
        "/office/v1/clients",
        token=admin,
        json={"client_id": client_id, "kind": "partner", "department": "msa"},
    )
    assert status == 201, reply
    remember_secret(reply["client_secret"])
    return client_id, str(reply["client_secret"])


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
@pytest.mark.parametrize("path", ["/oauth2/token", TOKEN_PATH])
async def test_a_partner_gets_a_token_with_a_standard_client_and_calls_the_partner_api(
    platform: Platform, method: str, path: str
) -> None:
    # given the token endpoint as discovery names it
    meta = await discovery(platform)
    assert method in meta["token_endpoint_auth_methods_supported"]
    async with AsyncOAuth2Client(
        client_id=PARTNER,
        client_secret=DEMO_PASSWORD,
        token_endpoint_auth_method=method,
    ) as client:
        # when Authlib asks for client credentials
        token = await client.fetch_token(meta["issuer"] + path, grant_type="client_credentials")
        # then it gets an RFC 6749 token answer, and the token opens /partner/v1
        assert token["token_type"].lower() == "bearer"
        assert 0 < token["expires_in"] <= 300
        assert "refresh_token" not in token  # RFC 6749 section 4.4.3
        claims = claims_of(token["access_token"])
        assert claims["client_id"] == PARTNER and claims["aud"] == "partner"
        me = await client.get(f"{platform.url}/partner/v1/me")
        assert me.status_code == 200, me.text
        assert me.json()["username"] == PARTNER


async def test_discovery_advertises_only_what_works(platform: Platform) -> None:
    meta = await discovery(platform)
    issuer = meta["issuer"]
    # valid as OpenID Connect Discovery 1.0 and RFC 8414 say, by Authlib's own validator
    OpenIDProviderMetadata(meta).validate()
    assert meta["token_endpoint"] == f"{issuer}/oauth2/token"
    # each grant and method is proven by an independent client: here and in
    # test_oidc_code_flow.py (the code flow with PKCE, refresh, revocation, logout)
    assert meta["grant_types_supported"] == [
        "authorization_code",
        "refresh_token",
        "client_credentials",
    ]
    assert meta["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
        "none",
    ]
    assert meta["response_types_supported"] == ["code"]  # no implicit flow (OAuth 2.1)
    assert meta["code_challenge_methods_supported"] == ["S256"]  # no plain
    assert meta["id_token_signing_alg_values_supported"] == ["RS256", "EdDSA"]
    # every endpoint it names answers (none is a 404)
    async with httpx2.AsyncClient() as http:
        for name in (
            "authorization_endpoint",
            "token_endpoint",
            "userinfo_endpoint",
            "revocation_endpoint",
            "introspection_endpoint",
            "end_session_endpoint",
            "jwks_uri",
        ):
            path = meta[name].removeprefix(issuer)
            method = "POST" if name in ("token_endpoint", "revocation_endpoint") else "GET"
            if name == "introspection_endpoint":
                method = "POST"
            answer = await http.request(method, f"{platform.url}{path}")
            assert answer.status_code not in (404, 405, 500), (name, answer.text)
        jwks = (await http.get(f"{platform.url}/.well-known/jwks.json")).json()
    # both ID token algorithms have a published key
    assert {k["alg"] for k in jwks["keys"]} >= {"RS256", "EdDSA"}
    # the first-party JSON sign-in routes answer where the extension says
    office = meta["smartcity_first_party_sign_in"]["office"]
    assert office["login_endpoint"].endswith("/office/v1/login")


async def test_the_token_endpoint_refuses_in_rfc_6749_terms(platform: Platform) -> None:
    client_id, secret = await new_partner(platform)
    url = f"{platform.url}{TOKEN_PATH}"
    grant = {"grant_type": "client_credentials"}
    async with httpx2.AsyncClient() as http:
        wrong = await http.post(url, data=grant, auth=(client_id, "not-the-secret"))
        unknown = await http.post(url, data=grant, auth=(f"no.{client_id}", "not-the-secret"))
        # a wrong secret and an unknown client get one answer: nobody learns which it was
        for refused in (wrong, unknown):
            assert refused.status_code == 401, refused.text
            assert refused.json() == {
                "error": "invalid_client",
                "error_description": "client authentication failed",
            }
            assert refused.headers["WWW-Authenticate"] == 'Basic realm="smartcity"'
            assert refused.headers["Cache-Control"] == "no-store"
        password = await http.post(
            url, data={"grant_type": "password", "username": "x", "password": "y"}
        )
        assert password.status_code == 400
        assert password.json()["error"] == "unsupported_grant_type"
        as_json = await http.post(url, json=grant, auth=(client_id, secret))
        assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
        twice = await http.post(
            url, data={**grant, "client_id": client_id, "client_secret": secret},
            auth=(client_id, secret),
        )  # fmt: skip
        assert twice.status_code == 400 and twice.json()["error"] == "invalid_request"
        scoped = await http.post(url, data={**grant, "scope": "read"}, auth=(client_id, secret))
        assert scoped.status_code == 400 and scoped.json()["error"] == "invalid_scope"
        repeated = await http.post(
            url, data={**grant, "client_id": client_id}, auth=(client_id, secret)
        )
        assert repeated.status_code == 200, repeated.text  # the same id beside Basic is fine
        nobody = await http.post(url, data=grant)
        assert nobody.status_code == 401 and nobody.json()["error"] == "invalid_client"
        # the right secret still works: failures below the lockout threshold change nothing
        granted = await http.post(url, data=grant, auth=(client_id, secret))
        assert granted.status_code == 200, granted.text
        assert granted.headers["Cache-Control"] == "no-store"
        assert claims_of(granted.json()["access_token"])["client_id"] == client_id


async def test_people_tokens_name_the_first_party_client(platform: Platform) -> None:
    staff = await platform.login("psb.officer")
    citizen = await platform.login("demo.citizen", entry="public")
    assert claims_of(staff)["client_id"] == "smartcity-office"
    assert claims_of(citizen)["client_id"] == "smartcity-portal"


async def test_a_refused_bearer_token_is_told_why(platform: Platform) -> None:
    status, _, headers = await platform.request("GET", "/office/v1/me")
    assert status == 401 and headers["WWW-Authenticate"] == 'Bearer realm="smartcity"'
    status, _, headers = await platform.request("GET", "/office/v1/me", token="not.a.token")
    assert status == 401
    assert headers["WWW-Authenticate"].startswith('Bearer realm="smartcity", error="invalid_token"')
    assert "error_description=" in headers["WWW-Authenticate"]
    # a citizen's token at /office: refused as a token not for this entry point
    citizen = await platform.login("demo.citizen", entry="public")
    status, _, headers = await platform.request("GET", "/office/v1/me", token=citizen)
    assert status == 401 and 'error="invalid_token"' in headers["WWW-Authenticate"]
    # a member of staff without the role: 403 with insufficient_scope
    officer = await platform.login("psb.officer")
    status, problem, headers = await platform.request(
        "POST", "/office/v1/signing-keys/rotate", token=officer
    )
    assert status == 403, problem
    assert 'error="insufficient_scope"' in headers["WWW-Authenticate"]


async def test_no_partner_may_register_as_a_first_party_application(platform: Platform) -> None:
    admin = await platform.login("bdb.admin")
    status, problem, _ = await platform.request(
        "POST",
        "/office/v1/clients",
        token=admin,
        json={"client_id": "smartcity-portal", "kind": "partner", "department": "msa"},
    )
    assert status == 422, problem
    assert [e["field"] for e in problem["errors"]] == ["client_id"]


async def test_client_credentials_get_no_refresh_token_on_either_route(platform: Platform) -> None:
    # RFC 6749 section 4.4.3: a client asks again; its session ends with its one access token
    status, reply, _ = await platform.request(
        "POST",
        "/partner/v1/login",
        json={"client_id": PARTNER, "client_secret": DEMO_PASSWORD},
    )
    assert status == 200, reply
    assert reply["access_token"] and not reply.get("refresh_token")
    assert not reply.get("refresh_expires_in")


async def test_the_token_endpoint_locks_a_client_out_as_the_json_login_does(
    platform: Platform,
) -> None:
    client_id, secret = await new_partner(platform)
    url = f"{platform.url}{TOKEN_PATH}"
    grant = {"grant_type": "client_credentials"}
    async with httpx2.AsyncClient() as http:
        # given five wrong secrets in a row
        for _ in range(5):
            wrong = await http.post(url, data=grant, auth=(client_id, "not-the-secret"))
            assert wrong.status_code == 401, wrong.text
        # when the right one comes, on either route
        locked = await http.post(url, data=grant, auth=(client_id, secret))
        status, problem, headers = await platform.request(
            "POST", "/partner/v1/login", json={"client_id": client_id, "client_secret": secret}
        )
    # then both refuse it until the lock ends, saying when to come back
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0, locked.text
    assert status == 429 and int(headers["Retry-After"]) > 0, problem
