"""OpenID Connect's code flow with PKCE, as independent client libraries speak it: Authlib's
OAuth 2.0 client makes the authorization request and redeems the code, the platform's own
sign-in and consent pages are posted as a browser would, joserfc checks the ID token against the
published JWKS, then userinfo, refresh, revocation, introspection and RP-initiated logout."""

from __future__ import annotations

import base64
import time
import uuid
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx2
import orjson
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oidc.core.util import create_half_hash
from joserfc import jwt
from joserfc.jwk import KeySet

from conftest import DEMO_PASSWORD, Platform, remember_secret
from services.identity import demo, totp

PORTAL = "smartcity-portal"
OFFICE = "smartcity-office"
THIRD_PARTY = demo.THIRD_PARTY_APPLICATION


def claims_of(token: str) -> dict[str, Any]:
    """A JWT's claims, read as any holder of the token can read them."""
    claims: dict[str, Any] = orjson.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    return claims


class _Forms(HTMLParser):
    """The forms of a page: action, fields (hidden ones with their values) and buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "fields": {}, "buttons": {}})
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")
        elif tag == "button" and self.forms and a.get("name"):
            self.forms[-1]["buttons"].setdefault(a["name"], []).append(a.get("value", ""))


def forms_of(html: str) -> list[dict[str, Any]]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


async def meta_of(platform: Platform) -> dict[str, Any]:
    async with httpx2.AsyncClient() as http:
        answer = await http.get(f"{platform.url}/.well-known/openid-configuration")
    assert answer.status_code == 200
    meta: dict[str, Any] = answer.json()
    return meta


def local(platform: Platform, url: str) -> str:
    """The URL on the test's own address of the gateway (the issuer may say localhost)."""
    parts = urlsplit(url)
    return f"{platform.url}{parts.path}" + (f"?{parts.query}" if parts.query else "")


async def sign_in(
    platform: Platform,
    authorization_url: str,
    username: str,
    *,
    staff: bool = False,
    consent: str | None = "approve",
) -> str:
    """Post the platform's sign-in page (and its consent page, when one comes) as a browser
    would; returns where the browser is sent back (the Location of the last answer)."""
    async with httpx2.AsyncClient(follow_redirects=False) as browser:
        page = await browser.get(local(platform, authorization_url))
        assert page.status_code == 200, page.text
        assert page.headers["Content-Type"].startswith("text/html")
        (form,) = forms_of(page.text)
        fields = dict(form["fields"], username=username, password=DEMO_PASSWORD)
        if staff:
            secret = demo.totp_secret(DEMO_PASSWORD, username)
            fields["totp_code"] = totp.code_at(secret, time.time())
        answer = await browser.post(
            urljoin(str(page.url), form["action"]),
            data=fields,
            headers={"Referer": str(page.url)},
        )
        if staff and answer.status_code == 401:
            # A code is good once: if an earlier sign-in spent this step's, the next one's is
            # accepted too (as conftest's login does). The refusal is a fresh form.
            (form,) = forms_of(answer.text)
            fields = dict(form["fields"], username=username, password=DEMO_PASSWORD)
            fields["totp_code"] = totp.code_at(secret, time.time() + 30)
            answer = await browser.post(urljoin(str(answer.url), form["action"]), data=fields)
        if answer.status_code == 200 and consent is not None:  # the consent page
            (form,) = forms_of(answer.text)
            assert consent in form["buttons"]["decision"], answer.text
            answer = await browser.post(
                urljoin(str(answer.url), form["action"]),
                data={**form["fields"], "decision": consent},
            )
        assert answer.status_code in (302, 303), answer.text
        return str(answer.headers["Location"])


async def verified_id_token(
    platform: Platform, id_token: str, *, client_id: str, nonce: str | None, access_token: str
) -> dict[str, Any]:
    """The ID token's claims, checked by joserfc as OpenID Connect Core 3.1.3.7 says."""
    meta = await meta_of(platform)
    async with httpx2.AsyncClient() as http:
        jwks = (await http.get(local(platform, meta["jwks_uri"]))).json()
    decoded = jwt.decode(
        id_token,
        KeySet.import_key_set(jwks),
        algorithms=meta["id_token_signing_alg_values_supported"],
    )
    options: dict[str, Any] = {
        "iss": {"essential": True, "value": meta["issuer"]},
        "aud": {"essential": True, "value": client_id},
        "sub": {"essential": True},
        "auth_time": {"essential": True},
    }
    if nonce is not None:
        options["nonce"] = {"essential": True, "value": nonce}
    jwt.JWTClaimsRegistry(**options).validate(decoded.claims)
    claims: dict[str, Any] = decoded.claims
    assert claims["exp"] > time.time() and claims["azp"] == client_id
    if decoded.header["alg"] == "RS256":  # Core 3.1.3.8: at_hash binds the access token
        assert claims["at_hash"] == create_half_hash(access_token, "RS256").decode()
    return claims


def client(platform_meta: dict[str, Any], client_id: str, redirect_uri: str, **extra: Any) -> Any:
    return AsyncOAuth2Client(
        client_id=client_id,
        redirect_uri=redirect_uri,
        scope=extra.pop("scope", "openid profile"),
        code_challenge_method="S256",
        token_endpoint_auth_method=extra.pop("token_endpoint_auth_method", "none"),
        **extra,
    )


async def authorized(
    platform: Platform,
    meta: dict[str, Any],
    oauth: Any,
    username: str,
    **sign_in_options: Any,
) -> tuple[dict[str, Any], str]:
    """The token answer of a whole code flow, and the nonce sent."""
    verifier, nonce = generate_token(64), generate_token(20)
    url, state = oauth.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    location = await sign_in(platform, url, username, **sign_in_options)
    answer = parse_qs(urlsplit(location).query)
    assert answer["state"] == [state] and answer["iss"] == [meta["issuer"]]  # RFC 9207
    token: dict[str, Any] = await oauth.fetch_token(
        meta["token_endpoint"], authorization_response=location, code_verifier=verifier
    )
    remember_secret(token["access_token"], token.get("refresh_token", ""))
    return token, nonce


async def test_a_citizen_signs_in_to_the_portal_with_the_code_flow_and_pkce(
    platform: Platform,
) -> None:
    meta = await meta_of(platform)
    async with client(meta, PORTAL, f"{meta['issuer']}/") as oauth:
        # when the citizen signs in on the platform's page for the portal
        token, nonce = await authorized(platform, meta, oauth, "demo.citizen")
        # then the ID token holds with the published keys, for this client and this nonce
        claims = await verified_id_token(
            platform,
            token["id_token"],
            client_id=PORTAL,
            nonce=nonce,
            access_token=token["access_token"],
        )
        assert claims["amr"] == ["pwd"] and token["scope"] == "openid profile"
        # and userinfo names the same subject, with the profile the scope allows
        info = (await oauth.get(local(platform, meta["userinfo_endpoint"]))).json()
        assert info["sub"] == claims["sub"] and info["preferred_username"] == "demo.citizen"
        assert info["name"]
        # and the access token opens the public entry point, as the portal's must
        me = await oauth.get(f"{platform.url}/public/v1/me")
        assert me.status_code == 200 and me.json()["id"] == claims["sub"]
        # when the portal refreshes, then new tokens and a new ID token of the same sign-in
        refreshed = await oauth.refresh_token(meta["token_endpoint"])
        assert refreshed["refresh_token"] != token["refresh_token"]
        again = await verified_id_token(
            platform,
            refreshed["id_token"],
            client_id=PORTAL,
            nonce=None,
            access_token=refreshed["access_token"],
        )
        assert again["sub"] == claims["sub"] and again["auth_time"] == claims["auth_time"]
        # when it revokes the refresh token (RFC 7009), then the session is over everywhere
        revoked = await oauth.revoke_token(
            meta["revocation_endpoint"],
            token=refreshed["refresh_token"],
            token_type_hint="refresh_token",
        )
        assert revoked.status_code == 200
        me = await oauth.get(f"{platform.url}/public/v1/me")
        assert me.status_code == 401
        assert 'error="invalid_token"' in me.headers["WWW-Authenticate"]
        async with httpx2.AsyncClient() as http:
            spent = await http.post(
                local(platform, meta["token_endpoint"]),
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": refreshed["refresh_token"],
                    "client_id": PORTAL,
                },
            )
        assert spent.status_code == 400 and spent.json()["error"] == "invalid_grant"


async def test_staff_sign_in_to_the_office_console_with_totp_and_log_out(
    platform: Platform,
) -> None:
    meta = await meta_of(platform)
    async with client(meta, OFFICE, f"{meta['issuer']}/office/") as oauth:
        token, nonce = await authorized(platform, meta, oauth, "hrss.officer", staff=True)
        claims = await verified_id_token(
            platform,
            token["id_token"],
            client_id=OFFICE,
            nonce=nonce,
            access_token=token["access_token"],
        )
        assert claims["amr"] == ["pwd", "otp"]  # the second factor, as the office requires
        me = await oauth.get(f"{platform.url}/office/v1/me")
        assert me.status_code == 200 and me.json()["username"] == "hrss.officer"
        # a staff token is no citizen's: the public entry point refuses it
        assert (await oauth.get(f"{platform.url}/public/v1/me")).status_code == 401
        # when the console logs out (RP-initiated), then back to it with its state
        async with httpx2.AsyncClient(follow_redirects=False) as browser:
            out = await browser.get(
                local(platform, meta["end_session_endpoint"]),
                params={
                    "id_token_hint": token["id_token"],
                    "post_logout_redirect_uri": f"{meta['issuer']}/office/",
                    "state": "s-1",
                },
            )
            assert out.status_code == 303, out.text
            assert out.headers["Location"] == f"{meta['issuer']}/office/?state=s-1"
            # and a post-logout URI nobody registered is refused, not followed
            elsewhere = await browser.get(
                local(platform, meta["end_session_endpoint"]),
                params={
                    "id_token_hint": token["id_token"],
                    "post_logout_redirect_uri": "https://attacker.example/",
                },
            )
            assert elsewhere.status_code == 400 and "Location" not in elsewhere.headers
        me = await oauth.get(f"{platform.url}/office/v1/me")
        assert me.status_code == 401  # the session has ended


async def test_a_third_party_asks_consent_gets_a_pairwise_subject_and_only_userinfo(
    platform: Platform,
) -> None:
    meta = await meta_of(platform)
    redirect = THIRD_PARTY.redirect_uris[0]
    async with client(meta, THIRD_PARTY.client_id, redirect) as oauth:
        token, nonce = await authorized(platform, meta, oauth, "demo.citizen")
        claims = await verified_id_token(
            platform,
            token["id_token"],
            client_id=THIRD_PARTY.client_id,
            nonce=nonce,
            access_token=token["access_token"],
        )
        info = (await oauth.get(local(platform, meta["userinfo_endpoint"]))).json()
        assert info["sub"] == claims["sub"]
        # its access token opens userinfo and nothing else
        refused = await oauth.get(f"{platform.url}/public/v1/me")
        assert refused.status_code == 401
        assert "refresh_token" not in token  # no offline_access asked
    citizen = await platform.login("demo.citizen", entry="public")
    status, me, _ = await platform.request("GET", "/public/v1/me", token=citizen)
    assert status == 200
    # the third party does not learn the account id: its `sub` is its own
    assert claims["sub"] != me["id"]
    assert claims_of(token["access_token"])["sub"] != me["id"]
    # once consented, signing in again asks no more
    async with client(meta, THIRD_PARTY.client_id, redirect) as oauth:
        again, _ = await authorized(platform, meta, oauth, "demo.citizen", consent=None)
    async with client(meta, THIRD_PARTY.client_id, redirect) as oauth:
        oauth.token = again
        info = (await oauth.get(local(platform, meta["userinfo_endpoint"]))).json()
    assert info["sub"] == claims["sub"]  # stable per application
    # prompt=consent asks again although it was given (OpenID Connect Core 3.1.2.1)
    async with client(meta, THIRD_PARTY.client_id, redirect) as oauth:
        url, _ = oauth.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=generate_token(64), prompt="consent"
        )
        with pytest.raises(AssertionError):  # the consent page, where none was expected
            await sign_in(platform, url, "demo.citizen", consent=None)
        location = await sign_in(platform, url, "demo.citizen", consent="approve")
    assert "code" in parse_qs(urlsplit(location).query)


async def test_a_person_who_declines_consent_sends_the_application_access_denied(
    platform: Platform,
) -> None:
    meta = await meta_of(platform)
    async with client(meta, THIRD_PARTY.client_id, THIRD_PARTY.redirect_uris[0]) as oauth:
        url, state = oauth.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=generate_token(64)
        )
        location = await sign_in(platform, url, "demo.enterprise", consent="deny")
    answer = parse_qs(urlsplit(location).query)
    assert answer["error"] == ["access_denied"] and answer["state"] == [state]
    assert "code" not in answer


async def test_a_code_is_good_once_and_only_with_its_verifier(platform: Platform) -> None:
    meta = await meta_of(platform)
    redirect = f"{meta['issuer']}/"
    async with client(meta, PORTAL, redirect) as oauth:
        verifier = generate_token(64)
        url, _ = oauth.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=verifier
        )
        location = await sign_in(platform, url, "demo.citizen")
    code = parse_qs(urlsplit(location).query)["code"][0]
    token_url = local(platform, meta["token_endpoint"])
    grant = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect,
        "client_id": PORTAL,
    }
    async with httpx2.AsyncClient() as http:
        # a stolen code without the verifier is useless (RFC 7636)
        wrong = await http.post(token_url, data={**grant, "code_verifier": generate_token(64)})
        assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
        # another registered client cannot redeem it either
        other = await http.post(
            token_url,
            data={**grant, "client_id": THIRD_PARTY.client_id, "code_verifier": verifier},
        )
        assert other.status_code == 400 and other.json()["error"] == "invalid_grant"
        # the wrong verifier spent the code: the right one now finds it used
        late = await http.post(token_url, data={**grant, "code_verifier": verifier})
        assert late.status_code == 400 and late.json()["error"] == "invalid_grant"


async def test_a_code_redeemed_twice_ends_the_session_it_opened(platform: Platform) -> None:
    meta = await meta_of(platform)
    redirect = f"{meta['issuer']}/"
    async with client(meta, PORTAL, redirect) as oauth:
        verifier = generate_token(64)
        url, _ = oauth.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=verifier
        )
        location = await sign_in(platform, url, "demo.citizen")
        token = await oauth.fetch_token(
            meta["token_endpoint"], authorization_response=location, code_verifier=verifier
        )
        assert (await oauth.get(f"{platform.url}/public/v1/me")).status_code == 200
        # when the code comes back (an attacker replaying it), then it is refused
        with pytest.raises(Exception, match="invalid_grant"):
            await oauth.fetch_token(
                meta["token_endpoint"], authorization_response=location, code_verifier=verifier
            )
        # and the tokens it was traded for stop working (RFC 6749 section 4.1.2)
        oauth.token = token
        assert (await oauth.get(f"{platform.url}/public/v1/me")).status_code == 401


async def test_a_confidential_application_authenticates_and_introspects_its_tokens(
    platform: Platform,
) -> None:
    # given a confidential application that an administrator registers in /office
    admin = await platform.login("bdb.admin")
    client_id = f"dept.app-{uuid.uuid4().hex[:8]}"
    redirect = "https://dept.example.gov.cn/callback"
    status, reply, _ = await platform.request(
        "POST",
        "/office/v1/applications",
        token=admin,
        json={
            "client_id": client_id,
            "name": "Department portal",
            "entry_point": "public",
            "confidential": True,
            "first_party": True,
            "redirect_uris": [redirect],
            "department": "hrss",
        },
    )
    assert status == 201, reply
    secret = reply["client_secret"]
    remember_secret(secret)
    assert reply["application"]["subject_type"] == "public"
    status, listed, _ = await platform.request("GET", "/office/v1/applications", token=admin)
    assert client_id in {a["client_id"] for a in listed["applications"]}
    meta = await meta_of(platform)
    async with client(
        meta,
        client_id,
        redirect,
        client_secret=secret,
        token_endpoint_auth_method="client_secret_basic",
    ) as oauth:
        token, _ = await authorized(platform, meta, oauth, "demo.citizen")
    introspection = local(platform, meta["introspection_endpoint"])
    async with httpx2.AsyncClient() as http:
        # when it introspects its own access token, then active, with its client and subject
        mine = await http.post(
            introspection, data={"token": token["access_token"]}, auth=(client_id, secret)
        )
        assert mine.status_code == 200, mine.text
        body = mine.json()
        assert body["active"] is True and body["client_id"] == client_id
        assert body["aud"] == "public" and body["exp"] > time.time()
        # a partner asking about another client's token learns nothing
        theirs = await http.post(
            introspection,
            data={"token": token["access_token"]},
            auth=("demo.partner", DEMO_PASSWORD),
        )
        assert theirs.status_code == 200 and theirs.json() == {"active": False}
        # a public client may not introspect at all; a wrong secret is invalid_client
        public = await http.post(introspection, data={"token": "x", "client_id": PORTAL})
        assert public.status_code == 401 and public.json()["error"] == "invalid_client"
        wrong = await http.post(
            introspection, data={"token": "x"}, auth=(client_id, "not-the-secret")
        )
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
        # a confidential client must authenticate to redeem: its id alone is refused
        refused = await http.post(
            local(platform, meta["token_endpoint"]),
            data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"],
                  "client_id": client_id},
        )  # fmt: skip
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
        # when it revokes the refresh token, then introspection says inactive
        await http.post(
            local(platform, meta["revocation_endpoint"]),
            data={"token": token["refresh_token"]},
            auth=(client_id, secret),
        )
        after = await http.post(
            introspection, data={"token": token["access_token"]}, auth=(client_id, secret)
        )
        assert after.json() == {"active": False}
