"""Attacks on the authorization server from outside, as a partner, a third party and a person:
malformed and hostile protocol input gets a clear 4xx (never a 500), and no token opens more
than its audience, its client and its session allow."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx2
import jwt
import orjson
from authlib.common.security import generate_token
from cryptography.hazmat.primitives import serialization
from test_gateway_limits import strict_gateway  # noqa: F401 - a gateway with strict limits
from test_identity import PASSWORD, register_citizen
from test_oidc_code_flow import (
    PORTAL,
    THIRD_PARTY,
    authorized,
    client,
    forms_of,
    local,
    meta_of,
)

from conftest import DEMO_PASSWORD, Platform, remember_secret
from runtime.demo import CITIZEN_RESIDENT_ID
from services.identity import demo

PARTNER = "demo.partner"
OAUTH_PATHS = ("/oauth2/token", "/oauth2/revoke", "/oauth2/introspect", "/partner/v1/oauth2/token")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_hostile_form_bodies_get_a_4xx_on_every_back_channel_endpoint(
    platform: Platform,
) -> None:
    bodies = [
        b"grant_type=client_credentials&client_id=%ff%fe&client_secret=x",  # not UTF-8
        b"grant_type=client_credentials&client_id=a%00b&client_secret=x",  # NUL
        b"grant_type=refresh_token&refresh_token=a%00b&client_id=smartcity-portal",
        b"grant_type=authorization_code&code=a%00&redirect_uri=x&code_verifier=y&client_id=z%00",
        b"token=a%00b&client_id=a%00b&client_secret=x",
        b"token=a.b.c&client_id=%ff&client_secret=%ff",
        b"grant_type=client_credentials&grant_type=client_credentials",
        b"\xff\xfe\x00garbage",
        b"grant_type=" + b"x" * 100_000,
        b"token=" + b"a." * 5000 + b"&client_id=demo.partner&client_secret=x",
        b"grant_type=refresh_token&refresh_token=" + b"r" * 5000 + b"&client_id=smartcity-portal",
    ]
    async with httpx2.AsyncClient(timeout=20) as http:
        for path in OAUTH_PATHS:
            for body in bodies:
                answer = await http.post(f"{platform.url}{path}", content=body, headers=FORM)
                assert 400 <= answer.status_code < 500, (path, body[:60], answer.text)


async def test_hostile_basic_credentials_get_invalid_client(platform: Platform) -> None:
    headers = [
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "Basic " + base64.b64encode(b"a\x00b:secret").decode(),
        "Basic " + base64.b64encode(b"%00:%ff").decode(),
        "Basic " + base64.b64encode(b"x" * 10_000 + b":y").decode(),
        "Basic !!!",
        "Basic",
    ]
    async with httpx2.AsyncClient(timeout=20) as http:
        for path in OAUTH_PATHS:
            for header in headers:
                answer = await http.post(
                    f"{platform.url}{path}",
                    data={"grant_type": "client_credentials", "token": "t"},
                    headers={"Authorization": header},
                )
                assert answer.status_code in (400, 401, 431), (path, header[:40], answer.text)


async def test_hostile_query_strings_on_the_authorization_and_logout_endpoints(
    platform: Platform,
) -> None:
    queries = [
        "client_id=%ff%fe&response_type=code",
        "client_id=a%00b&response_type=code&redirect_uri=https://x/",
        f"client_id={PORTAL}&response_type=code&redirect_uri=%00",
        f"client_id={PORTAL}&client_id={PORTAL}&response_type=code",
        f"client_id={PORTAL}&response_type=code&state=%0d%0aSet-Cookie:%20x=1",
        f"client_id={PORTAL}&response_type=code&nonce=%00&scope=openid%00",
        "client_id=" + "a" * 10_000,
    ]
    logout = [
        "id_token_hint=%ff%fe",
        "id_token_hint=a%00.b.c",
        "id_token_hint=eyJhbGciOiJub25lIn0.e30.",
        "client_id=a%00b&post_logout_redirect_uri=https://x/",
        f"client_id={PORTAL}&post_logout_redirect_uri=%00",
        f"client_id={PORTAL}&state=%0d%0aSet-Cookie:x",
    ]
    async with httpx2.AsyncClient(timeout=20, follow_redirects=False) as http:
        for query in queries:
            answer = await http.get(f"{platform.url}/oauth2/authorize?{query}")
            assert answer.status_code < 500, (query, answer.text)
            assert "Set-Cookie" not in answer.headers or "x=1" not in answer.headers["Set-Cookie"]
        for query in logout:
            answer = await http.get(f"{platform.url}/oauth2/logout?{query}")
            assert answer.status_code < 500, (query, answer.text)
        for path in ("/oauth2/authorize", "/oauth2/consent"):
            answer = await http.post(
                f"{platform.url}{path}", content=b"\xff\xfe=%ff&client_id=%00", headers=FORM
            )
            assert answer.status_code < 500, (path, answer.text)


async def _portal_and_third_party(platform: Platform) -> tuple[dict[str, Any], dict[str, Any]]:
    """A citizen's tokens for the portal, and the same citizen's for the demo third party."""
    meta = await meta_of(platform)
    async with client(meta, PORTAL, f"{meta['issuer']}/") as oauth:
        portal, _ = await authorized(platform, meta, oauth, "demo.citizen")
    redirect = THIRD_PARTY.redirect_uris[0]
    async with client(meta, THIRD_PARTY.client_id, redirect) as oauth:
        third, _ = await authorized(platform, meta, oauth, "demo.citizen")
    return portal, third


async def _status(platform: Platform, method: str, path: str, token: str) -> int:
    async with httpx2.AsyncClient(timeout=20) as http:
        answer = await http.request(
            method, f"{platform.url}{path}", headers={"Authorization": f"Bearer {token}"}
        )
    return answer.status_code


async def test_no_token_opens_more_than_its_kind_its_audience_and_its_client(
    platform: Platform,
) -> None:
    portal, third = await _portal_and_third_party(platform)
    # a third party's access token (audience userinfo) opens no entry point's API
    for path in (
        "/public/v1/me",
        "/office/v1/me",
        "/office/v1/applications",
        "/partner/v1/licences/grants",
    ):
        assert await _status(platform, "GET", path, third["access_token"]) in (401, 403), path
    # an ID token is no access token, anywhere
    for token in (portal["id_token"], third["id_token"]):
        assert await _status(platform, "GET", "/oauth2/userinfo", token) == 401
        assert await _status(platform, "GET", "/public/v1/me", token) == 401
    # a refresh token is no access token either
    assert await _status(platform, "GET", "/oauth2/userinfo", portal["refresh_token"]) == 401
    token_url = f"{platform.url}/oauth2/token"
    async with httpx2.AsyncClient(timeout=20) as http:
        # the portal's refresh token is refused to another client, and stays the portal's
        stolen = await http.post(
            token_url,
            data={
                "grant_type": "refresh_token",
                "refresh_token": portal["refresh_token"],
                "client_id": THIRD_PARTY.client_id,
            },
        )
        assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
        # another client revoking it is answered 200 (RFC 7009) and changes nothing
        revoked = await http.post(
            f"{platform.url}/oauth2/revoke",
            data={"token": portal["refresh_token"], "client_id": THIRD_PARTY.client_id},
        )
        assert revoked.status_code == 200
        revoked = await http.post(
            f"{platform.url}/oauth2/revoke",
            data={"token": portal["access_token"]},
            auth=(PARTNER, DEMO_PASSWORD),
        )
        assert revoked.status_code == 200
        assert await _status(platform, "GET", "/public/v1/me", portal["access_token"]) == 200
        # a partner learns nothing of others' tokens by introspection
        for token in (portal["refresh_token"], portal["access_token"], third["access_token"]):
            scan = await http.post(
                f"{platform.url}/oauth2/introspect",
                data={"token": token},
                auth=(PARTNER, DEMO_PASSWORD),
            )
            assert scan.status_code == 200 and scan.json() == {"active": False}
        # a public client that sends a secret is refused, not let through
        secret = await http.post(
            token_url,
            data={
                "grant_type": "refresh_token",
                "refresh_token": portal["refresh_token"],
                "client_id": PORTAL,
                "client_secret": "anything",
            },
        )
        assert secret.status_code == 401 and secret.json()["error"] == "invalid_client"
        # and the portal's own refresh still works after all of that
        own = await http.post(
            token_url,
            data={
                "grant_type": "refresh_token",
                "refresh_token": portal["refresh_token"],
                "client_id": PORTAL,
            },
        )
        assert own.status_code == 200, own.text
        remember_secret(own.json()["access_token"], own.json()["refresh_token"])


async def test_a_forged_or_borrowed_id_token_hint_ends_no_session(platform: Platform) -> None:
    meta = await meta_of(platform)
    async with client(meta, PORTAL, f"{meta['issuer']}/") as oauth:
        portal, _ = await authorized(platform, meta, oauth, "demo.citizen")
    id_claims = orjson.loads(base64.urlsafe_b64decode(portal["id_token"].split(".")[1] + "=="))
    header = orjson.loads(base64.urlsafe_b64decode(portal["id_token"].split(".")[0] + "=="))
    async with httpx2.AsyncClient(timeout=20) as http:
        jwks = (await http.get(f"{platform.url}/.well-known/jwks.json")).json()["keys"]
    rsa = next(k for k in jwks if k["kty"] == "RSA")
    public_pem = jwt.PyJWK(rsa).key.public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    none = ".".join(
        [
            _b64(orjson.dumps({"alg": "none", "typ": "JWT", "kid": header["kid"]})),
            _b64(orjson.dumps(id_claims)),
            "",
        ]
    )
    hs256_rsa = ".".join(
        [
            _b64(orjson.dumps({"alg": "HS256", "typ": "JWT", "kid": rsa["kid"]})),
            _b64(orjson.dumps(id_claims)),
        ]
    )
    signature = hmac.new(public_pem, hs256_rsa.encode(), hashlib.sha256).digest()
    hs256_rsa += "." + _b64(signature)
    tampered = portal["id_token"].split(".")
    tampered[1] = _b64(orjson.dumps({**id_claims, "sid": "another"}))
    hints = [
        none,
        hs256_rsa,
        ".".join(tampered),
        portal["access_token"],  # an access token is no ID token
        portal["refresh_token"],
    ]
    async with httpx2.AsyncClient(timeout=20, follow_redirects=False) as http:
        for hint in hints:
            out = await http.get(f"{platform.url}/oauth2/logout", params={"id_token_hint": hint})
            assert out.status_code == 400, (hint[:30], out.text)
        # an ID token of the portal does not carry another client's logout redirect
        out = await http.get(
            f"{platform.url}/oauth2/logout",
            params={
                "id_token_hint": portal["id_token"],
                "client_id": THIRD_PARTY.client_id,
            },
        )
        assert out.status_code == 400
    assert await _status(platform, "GET", "/public/v1/me", portal["access_token"]) == 200


async def test_redirects_carry_state_encoded_never_as_a_header(platform: Platform) -> None:
    meta = await meta_of(platform)
    home = f"{meta['issuer']}/"
    evil = "x\r\nSet-Cookie: stolen=1\r\nLocation: https://attacker.example/"
    async with httpx2.AsyncClient(timeout=20, follow_redirects=False) as http:
        out = await http.get(
            f"{platform.url}/oauth2/logout",
            params={"client_id": PORTAL, "post_logout_redirect_uri": home, "state": evil},
        )
        assert out.status_code == 303
        assert "stolen" not in out.headers.get("Set-Cookie", "")
        location = out.headers["Location"]
        assert location.startswith(home) and "\r" not in location and "\n" not in location
        assert parse_qs(urlsplit(location).query)["state"] == [evil]
        # an authorization request's error goes back with the state encoded too
        err = await http.get(
            f"{platform.url}/oauth2/authorize",
            params={
                "client_id": PORTAL,
                "redirect_uri": home,
                "response_type": "token",
                "state": evil,
            },
        )
        assert err.status_code in (302, 303), err.text
        assert "stolen" not in err.headers.get("Set-Cookie", "")
        assert parse_qs(urlsplit(err.headers["Location"]).query)["state"] == [evil]
        # a post-logout URI is never an open redirect: unregistered ones are refused
        for uri in ("https://attacker.example/", f"{home}@attacker.example", "//attacker.example"):
            out = await http.get(
                f"{platform.url}/oauth2/logout",
                params={"client_id": PORTAL, "post_logout_redirect_uri": uri},
            )
            assert out.status_code == 400 and "Location" not in out.headers


async def test_registration_refuses_taken_names_and_hostile_redirect_uris(
    platform: Platform,
) -> None:
    admin = await platform.login("bdb.admin")
    base = {
        "name": "Hostile",
        "entry_point": "public",
        "redirect_uris": ["https://ok.example/cb"],
        "department": "hrss",
    }
    for client_id in ("userinfo", "public", "office", "partner", "service", PARTNER, PORTAL,
                      THIRD_PARTY.client_id, "bdb.admin"):  # fmt: skip
        status, reply, _ = await platform.request(
            "POST", "/office/v1/applications", token=admin, json={**base, "client_id": client_id}
        )
        assert status in (400, 409, 422), (client_id, reply)
    for uri in (
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "https://ok.example/cb#fragment",
        "http://evil.example/cb",
        "http://localhost@evil.example/cb",
        "http://127.0.0.1.evil.example/cb",
        "http://[::1].evil.example/cb",
        "//evil.example/cb",
        "https:///cb",
        "https://ok.example/cb\r\nX: y",
        "file:///etc/passwd",
    ):
        status, reply, _ = await platform.request(
            "POST",
            "/office/v1/applications",
            token=admin,
            json={**base, "client_id": "hostile.app", "redirect_uris": [uri]},
        )
        assert status in (400, 422), (uri, reply)


async def test_a_confidential_clients_refresh_token_is_useless_without_its_secret(
    platform: Platform,
) -> None:
    # given a confidential first-party application of a department, and a citizen signed in
    admin = await platform.login("bdb.admin")
    client_id = f"dept.conf-{uuid.uuid4().hex[:8]}"
    redirect = "https://dept.example.gov.cn/callback"
    status, reply, _ = await platform.request(
        "POST",
        "/office/v1/applications",
        token=admin,
        json={
            "client_id": client_id,
            "name": "Department system",
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
    meta = await meta_of(platform)
    async with client(
        meta,
        client_id,
        redirect,
        client_secret=secret,
        token_endpoint_auth_method="client_secret_basic",
    ) as oauth:
        token, _ = await authorized(platform, meta, oauth, "demo.citizen")
    # when its refresh token leaks, then the first-party JSON refresh route (which
    # authenticates no client) does not trade it: RFC 6749 section 6 wants the secret
    status, reply, _ = await platform.request(
        "POST", "/public/v1/refresh", json={"refresh_token": token["refresh_token"]}
    )
    assert status == 401, reply
    # and the token endpoint without the secret refuses it too
    async with httpx2.AsyncClient(timeout=20) as http:
        refused = await http.post(
            f"{platform.url}/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"],
                  "client_id": client_id},
        )  # fmt: skip
        assert refused.status_code == 401
        # while the application with its secret still refreshes (the leak ended nothing)
        own = await http.post(
            f"{platform.url}/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
            auth=(client_id, secret),
        )
        assert own.status_code == 200, own.text
        remember_secret(own.json()["access_token"], own.json()["refresh_token"])


async def test_nobody_spends_the_portals_sign_in_budget_for_everyone(
    strict_gateway: str,  # noqa: F811 - the fixture imported above
) -> None:
    # given a gateway allowing three sign-in attempts per name and six per address a minute
    token_url = f"{strict_gateway}/oauth2/token"
    bogus = {
        "grant_type": "authorization_code",
        "code": "not-a-code",
        "redirect_uri": "https://x.example/",
        "code_verifier": "v" * 43,
        "client_id": PORTAL,
    }
    async with httpx2.AsyncClient(timeout=20) as http:
        # when an outsider redeems bogus codes as the portal (its id is public), then each is
        # invalid_grant, and a fourth is no 429: the portal's id is no budget anyone can spend
        # for all the citizens who sign in to it
        for _ in range(4):
            answer = await http.post(token_url, data=bogus)
            assert answer.status_code == 400, answer.text
            assert answer.json()["error"] == "invalid_grant"
        # and secrets guessed for a client id are still limited per id
        guesses = [
            await http.post(
                token_url,
                data={**bogus, "client_id": "demo.partner", "client_secret": f"guess-{i}"},
            )
            for i in range(3)
        ]
        assert [g.status_code for g in guesses] == [401, 401, 429]  # seven from one address


async def test_the_flows_leave_no_name_or_id_number_in_logs_or_spans(platform: Platform) -> None:
    # when a citizen signs in to the portal and a third party, and both read userinfo
    portal, third = await _portal_and_third_party(platform)
    for token in (portal["access_token"], third["access_token"]):
        assert await _status(platform, "GET", "/oauth2/userinfo", token) == 200
    remember_secret(portal["id_token"], third["id_token"])
    # then neither the person's name nor their ID number is in a log line or a span
    personal = (demo.CITIZEN.display_name, CITIZEN_RESIDENT_ID)
    files = [*(platform.data_dir / "logs").glob("*.log")]
    files += [*(platform.data_dir / "traces").rglob("*.jsonl*")]
    assert files
    for path in files:
        text = path.read_text(errors="replace")
        assert not [p for p in personal if p in text], path.name


async def test_a_consent_ticket_is_good_for_one_decision(platform: Platform) -> None:
    # given a third party of its own (consent is per person and application)
    admin = await platform.login("bdb.admin")
    client_id, redirect = f"third.{uuid.uuid4().hex[:8]}", "https://third.example/cb"
    status, reply, _ = await platform.request(
        "POST",
        "/office/v1/applications",
        token=admin,
        json={
            "client_id": client_id,
            "name": "A third party",
            "entry_point": "public",
            "redirect_uris": [redirect],
            "department": "hrss",
        },
    )
    assert status == 201, reply
    meta = await meta_of(platform)
    async with client(meta, client_id, redirect) as oauth:
        url, _ = oauth.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=generate_token(64)
        )
    async with httpx2.AsyncClient(follow_redirects=False, timeout=20) as browser:
        page = await browser.get(local(platform, url))
        (form,) = forms_of(page.text)
        fields = dict(form["fields"], username="demo.enterprise", password=DEMO_PASSWORD)
        consent = await browser.post(
            urljoin(str(page.url), form["action"]), data=fields, headers={"Referer": str(page.url)}
        )
        assert consent.status_code == 200, consent.text
        (form,) = forms_of(consent.text)
        action = urljoin(str(consent.url), form["action"])
        # when the consent form is posted, then a code; posted again (replayed), no second code
        first = await browser.post(action, data={**form["fields"], "decision": "approve"})
        assert first.status_code == 303 and "code=" in first.headers["Location"]
        remember_secret(parse_qs(urlsplit(first.headers["Location"]).query)["code"][0])
        for decision in ("approve", "deny"):
            again = await browser.post(action, data={**form["fields"], "decision": decision})
            assert again.status_code == 400 and "Location" not in again.headers
        # and a ticket with another state than the one it was bound to is refused
        other = await browser.post(
            action, data={**form["fields"], "state": "forged", "decision": "approve"}
        )
        assert other.status_code == 400 and "Location" not in other.headers


async def test_a_partner_client_cannot_take_an_applications_client_id(platform: Platform) -> None:
    # a partner named as an application would get tokens whose client_id is the application's:
    # the application could introspect them, and the partner could not use the token endpoint
    admin = await platform.login("bdb.admin")
    for client_id in (THIRD_PARTY.client_id, PORTAL):
        status, reply, _ = await platform.request(
            "POST",
            "/office/v1/clients",
            token=admin,
            json={"client_id": client_id, "kind": "partner", "department": "msa"},
        )
        assert status in (400, 409, 422), reply
        remember_secret(str(reply.get("client_secret", "")))


async def _code_for(platform: Platform, name: str, password: str) -> tuple[str, str, str]:
    """A portal code for the account, not yet redeemed: (code, verifier, redirect URI)."""
    meta = await meta_of(platform)
    redirect = f"{meta['issuer']}/"
    verifier = generate_token(64)
    async with client(meta, PORTAL, redirect) as oauth:
        url, _ = oauth.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=verifier
        )
    async with httpx2.AsyncClient(follow_redirects=False, timeout=20) as browser:
        page = await browser.get(local(platform, url))
        (form,) = forms_of(page.text)
        answer = await browser.post(
            urljoin(str(page.url), form["action"]),
            data=dict(form["fields"], username=name, password=password),
            headers={"Referer": str(page.url)},
        )
    assert answer.status_code == 303, answer.text
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    remember_secret(code)
    return code, verifier, redirect


async def test_a_disabled_accounts_code_and_refresh_token_are_refused(platform: Platform) -> None:
    citizen = await register_citizen(platform)
    pending = await _code_for(platform, citizen["username"], PASSWORD)
    redeemed = await _code_for(platform, citizen["username"], PASSWORD)
    token_url = f"{platform.url}/oauth2/token"

    def grant(code: tuple[str, str, str]) -> dict[str, str]:
        return {
            "grant_type": "authorization_code",
            "code": code[0],
            "code_verifier": code[1],
            "redirect_uri": code[2],
            "client_id": PORTAL,
        }

    async with httpx2.AsyncClient(timeout=20) as http:
        tokens = await http.post(token_url, data=grant(redeemed))
        assert tokens.status_code == 200, tokens.text
        refresh = tokens.json()["refresh_token"]
        remember_secret(refresh, tokens.json()["access_token"])
        # when an administrator disables the account
        admin = await platform.login("bdb.admin")
        status, _, _ = await platform.request(
            "POST", f"/office/v1/accounts/{citizen['id']}/disable", token=admin
        )
        assert status == 200
        # then a code it was given before is worth nothing, nor is its refresh token
        late = await http.post(token_url, data=grant(pending))
        assert late.status_code == 400 and late.json()["error"] == "invalid_grant"
        again = await http.post(
            token_url,
            data={"grant_type": "refresh_token", "refresh_token": refresh, "client_id": PORTAL},
        )
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
