"""The authorization endpoint's pages (gateway/signin_pages.py) in front of an identity service
of the test's own: a real gRPC server that answers GetApplication, Authorize and DecideConsent
as the contract says. The rules of the pages are checked here; the platform's own identity in
tests/integration/test_signin_pages.py."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import grpc
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDictProxy

from gateway import signin_html, signin_pages
from gateway.app import observe
from gateway.csrf import COOKIE, CsrfGuard
from gateway.identity_routes import LIMITS
from gateway.ratelimit import LoginLimits, RateLimiter
from gateway.security import security_headers
from gateway.signin_pages import AUTHORIZE_PATH, choose_language, content_security_policy
from gateway.upstream import Upstream
from runtime import config
from smartcity.identity.v1 import identity_pb2, identity_pb2_grpc

ISSUER = "http://localhost:8080"
REDIRECT = "https://app.example/cb"
VERIFIER = "a-verifier-of-the-client-that-is-long-enough-for-rfc-7636-xyz"
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=")
Client = TestClient[web.Request, web.Application]

APPLICATIONS = {
    "portal.test": identity_pb2.Application(
        client_id="portal.test",
        name="Portal <Test>",
        entry_point="public",
        first_party=True,
        redirect_uris=[REDIRECT],
        scopes=["openid", "profile", "offline_access"],
    ),
    "office.test": identity_pb2.Application(
        client_id="office.test",
        name="Office",
        entry_point="office",
        first_party=True,
        redirect_uris=[REDIRECT],
        scopes=["openid", "profile"],
    ),
    "third.test": identity_pb2.Application(
        client_id="third.test",
        name="Third Party",
        entry_point="public",
        redirect_uris=["http://127.0.0.1:9/callback"],
        scopes=["openid", "profile", "offline_access"],
    ),
}


class Identity(identity_pb2_grpc.IdentityServiceServicer):
    """What the pages rely on from identity, and nothing else."""

    def __init__(self) -> None:
        self.authorized: list[identity_pb2.AuthorizeRequest] = []
        self.tickets: dict[str, str] = {}

    async def GetApplication(self, request: Any, context: Any) -> Any:
        application = APPLICATIONS.get(request.client_id)
        if application is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such application")
        return identity_pb2.GetApplicationResponse(application=application)

    async def Authorize(self, request: Any, context: Any) -> Any:
        self.authorized.append(request)
        if request.username == "locked":
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "locked")
        application = APPLICATIONS[request.client_id]
        right = request.password == "right" and request.username == "alice"
        if application.entry_point == "office":
            right = right and request.totp_code == "123456"
        if not right:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "wrong credentials")
        if application.first_party:
            return identity_pb2.AuthorizeResponse(code="code-1", application=application)
        ticket = f"ticket-{len(self.tickets)}"
        self.tickets[ticket] = request.redirect_uri
        return identity_pb2.AuthorizeResponse(
            consent_ticket=ticket, application=application, scopes=request.scope.split()
        )

    async def DecideConsent(self, request: Any, context: Any) -> Any:
        redirect_uri = self.tickets.pop(request.consent_ticket, "")
        if not redirect_uri:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "no such ticket")
        return identity_pb2.DecideConsentResponse(
            code="code-2" if request.approve else "",
            redirect_uri=redirect_uri,
            client_id="third.test",
        )


@pytest_asyncio.fixture
async def identity() -> AsyncIterator[tuple[Identity, int]]:
    server = grpc.aio.server()
    servicer = Identity()  # type: ignore[abstract]
    identity_pb2_grpc.add_IdentityServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield servicer, port
    await server.stop(None)


@pytest_asyncio.fixture
async def client(identity: tuple[Identity, int]) -> AsyncIterator[Client]:
    settings = config.load({"SMARTCITY_IDENTITY_ADDR": f"127.0.0.1:{identity[1]}"})
    upstream = Upstream.connect(settings)
    app = web.Application(middlewares=[security_headers, observe])
    app[LIMITS] = LoginLimits()
    signin_pages.install(app, settings, upstream)
    async with TestClient(TestServer(app)) as client:
        yield client
    await upstream.close()


def query(client_id: str = "portal.test", **overrides: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": APPLICATIONS[client_id].redirect_uris[0],
        "scope": "openid profile",
        "state": "st-1",
        "nonce": "n-1",
        "code_challenge": CHALLENGE.decode(),
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v != "-"}


class Form(HTMLParser):
    """The first form of a page: its action, and every input's name and value."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "form" and not self.action:
            self.action = attributes.get("action", "")
        if tag == "input" and attributes.get("name"):
            self.fields[attributes["name"]] = attributes.get("value", "")


async def sign_in_page(client: Client, **params: str) -> tuple[int, str, Form]:
    async with client.get(AUTHORIZE_PATH, params=params or query()) as response:
        page = await response.text()
        return response.status, page, Form(page)


async def post(
    client: Client, path: str, fields: dict[str, str], *, headers: dict[str, str] | None = None
) -> tuple[int, str, CIMultiDictProxy[str]]:
    async with client.post(path, data=fields, headers=headers, allow_redirects=False) as r:
        return r.status, await r.text(), r.headers


def redirected(headers: CIMultiDictProxy[str]) -> tuple[str, dict[str, str]]:
    location = headers["Location"]
    parts = urlsplit(location)
    answer = {k: v[0] for k, v in parse_qs(parts.query).items()}
    return location.split("?", 1)[0], answer


# --- pure parts ---------------------------------------------------------------------------------


def test_every_string_has_chinese_and_english() -> None:
    for key, languages in signin_html.TEXT.items():
        assert set(languages) == set(signin_html.LANGUAGES), key
        assert all(value.strip() for value in languages.values()), key


@pytest.mark.parametrize(
    ("ui_locales", "accept", "expected"),
    [
        ("", "", "zh-CN"),
        ("en", "zh-CN,zh;q=0.9", "en"),
        ("fr-CA en-GB", "", "en"),
        ("fr", "en-US,en;q=0.9", "en"),
        ("", "fr;q=1, en;q=0.5, zh;q=0.8", "zh-CN"),
        ("", "en;q=0, zh-TW", "zh-CN"),
        ("", "de", "zh-CN"),
        ("zh-Hans", "en", "zh-CN"),
    ],
)
def test_the_language_is_ui_locales_then_accept_language_then_chinese(
    ui_locales: str, accept: str, expected: str
) -> None:
    assert choose_language(ui_locales, accept) == expected


def test_form_action_lists_the_clients_origin_and_nothing_that_could_break_the_policy() -> None:
    assert "form-action 'self' https://app.example;" in content_security_policy(REDIRECT)
    assert "form-action 'self' http://127.0.0.1:9;" in content_security_policy(
        "http://127.0.0.1:9/callback"
    )
    assert "form-action 'self' com.example.app:;" in content_security_policy(
        "com.example.app:/oauth2redirect"
    )
    assert "form-action 'self';" in content_security_policy("https://a.example;script-src *")


def test_a_form_token_is_bound_to_its_cookie_and_key() -> None:
    guard = CsrfGuard(key=b"k" * 32, origin=ISSUER, secure=False)
    other = CsrfGuard(key=b"x" * 32, origin=ISSUER, secure=False)
    assert guard._token("c" * 43) != guard._token("d" * 43)
    assert guard._token("c" * 43) != other._token("c" * 43)
    assert guard.verify(guard.sign("consent", "t", "s"), "consent", "t", "s")
    assert not guard.verify(guard.sign("consent", "t", "s"), "consent", "t", "s2")


# --- the pages ----------------------------------------------------------------------------------


async def test_a_citizen_signs_in_and_is_sent_back_with_code_state_and_iss(
    client: Client, identity: tuple[Identity, int]
) -> None:
    status, page, form = await sign_in_page(client)
    assert status == 200 and "Portal &lt;Test&gt;" in page
    assert form.action == AUTHORIZE_PATH and "totp_code" not in form.fields
    status, _, headers = await post(
        client, form.action, {**form.fields, "username": "alice", "password": "right"}
    )
    assert status == 303
    where, answer = redirected(headers)
    assert where == REDIRECT and answer == {"code": "code-1", "state": "st-1", "iss": ISSUER}
    sent = identity[0].authorized[-1]
    assert (sent.code_challenge, sent.nonce, sent.scope) == (
        CHALLENGE.decode(),
        "n-1",
        "openid profile",
    )


async def test_staff_give_a_totp_code(client: Client) -> None:
    _, _, form = await sign_in_page(client, **query("office.test"))
    assert "totp_code" in form.fields and "enterprise_id" not in form.fields
    fields = {**form.fields, "username": "alice", "password": "right"}
    assert (await post(client, AUTHORIZE_PATH, fields))[0] == 401
    status, _, headers = await post(client, AUTHORIZE_PATH, {**fields, "totp_code": "123456"})
    assert status == 303 and redirected(headers)[1]["code"] == "code-1"


async def test_the_staff_code_is_optional_for_a_first_sign_in_before_enrolment(
    client: Client,
) -> None:
    # the browser must not refuse an empty code: the identity service decides (an account
    # without a second factor gets a token good only for enrolling one)
    _, page, _ = await sign_in_page(client, **query("office.test"))
    field = re.search(r'<input id="totp_code"[^>]*>', page)
    assert field and " required" not in field.group(0)
    assert 'aria-describedby="totp_hint"' in field.group(0) and 'id="totp_hint"' in page


async def test_every_refusal_is_the_same_page(client: Client) -> None:
    _, _, form = await sign_in_page(client)
    pages = []
    for username, password in (("alice", "wrong"), ("bob", "right"), ("alice", "")):
        fields = {**form.fields, "username": username, "password": password}
        status, page, _ = await post(client, AUTHORIZE_PATH, fields)
        assert status == 401
        pages.append(re.sub(r'value="[^"]*"', "", page))
    assert pages[0] == pages[1] == pages[2]


async def test_a_third_party_asks_consent_and_the_state_survives(client: Client) -> None:
    params = query("third.test", scope="openid profile offline_access", state='s"<&>')
    _, _, form = await sign_in_page(client, **params)
    status, page, headers = await post(
        client, AUTHORIZE_PATH, {**form.fields, "username": "alice", "password": "right"}
    )
    assert status == 200 and "Third Party" in page and "12" in page
    assert "form-action 'self' http://127.0.0.1:9" in headers["Content-Security-Policy"]
    consent = Form(page)
    assert consent.fields["state"] == 's"<&>'
    status, _, headers = await post(
        client, consent.action, {**consent.fields, "decision": "approve"}
    )
    assert status == 303
    assert redirected(headers) == (
        "http://127.0.0.1:9/callback",
        {"code": "code-2", "state": 's"<&>', "iss": ISSUER},
    )


async def test_a_declined_consent_is_access_denied_and_a_swapped_state_is_refused(
    client: Client,
) -> None:
    _, _, form = await sign_in_page(client, **query("third.test"))
    _, page, _ = await post(
        client, AUTHORIZE_PATH, {**form.fields, "username": "alice", "password": "right"}
    )
    consent = Form(page)
    status, _, _ = await post(
        client, consent.action, {**consent.fields, "state": "other", "decision": "approve"}
    )
    assert status == 400
    status, _, headers = await post(client, consent.action, {**consent.fields, "decision": "deny"})
    assert status == 303 and redirected(headers)[1]["error"] == "access_denied"


async def test_without_the_cookies_token_or_from_another_origin_nothing_is_done(
    client: Client, identity: tuple[Identity, int]
) -> None:
    _, _, form = await sign_in_page(client)
    fields = {**form.fields, "username": "alice", "password": "right"}
    for changed in ({"csrf_token": ""}, {"csrf_token": "0" * 64}):
        status, page, _ = await post(client, AUTHORIZE_PATH, {**fields, **changed})
        assert status == 403, page
    status, _, _ = await post(
        client, AUTHORIZE_PATH, fields, headers={"Origin": "https://evil.example"}
    )
    assert status == 403
    client.session.cookie_jar.clear()
    status, _, _ = await post(client, AUTHORIZE_PATH, fields)
    assert status == 403
    assert identity[0].authorized == []


async def test_an_unknown_client_or_unregistered_redirect_is_a_page_not_a_redirect(
    client: Client,
) -> None:
    for params in (
        query(client_id="portal.test", redirect_uri="https://evil.example/cb"),
        {**query(), "client_id": "nobody.test"},
        query(redirect_uri="-"),
    ):
        async with client.get(AUTHORIZE_PATH, params=params, allow_redirects=False) as r:
            assert r.status == 400 and "Location" not in r.headers
            assert "evil.example" not in r.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge": "-"}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": "-"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "profile"}, "invalid_scope"),
        ({"scope": "openid admin"}, "invalid_scope"),
        ({"prompt": "none"}, "login_required"),
        ({"request": "eyJ..."}, "request_not_supported"),
        ({"request_uri": "https://x.example/r"}, "request_uri_not_supported"),
        ({"response_mode": "fragment"}, "invalid_request"),
    ],
)
async def test_other_errors_go_back_to_the_client_with_state_and_iss(
    client: Client, overrides: dict[str, str], error: str
) -> None:
    async with client.get(
        AUTHORIZE_PATH, params=query(**overrides), allow_redirects=False
    ) as response:
        assert response.status in (302, 303)
        where, answer = redirected(response.headers)
    assert where == REDIRECT
    assert answer["error"] == error and answer["state"] == "st-1" and answer["iss"] == ISSUER


async def test_a_parameter_given_twice_is_invalid_request(client: Client) -> None:
    params = [*query().items(), ("scope", "openid")]
    async with client.get(AUTHORIZE_PATH, params=params, allow_redirects=False) as response:
        assert redirected(response.headers)[1]["error"] == "invalid_request"
    params = [*query().items(), ("redirect_uri", "https://evil.example/cb")]
    async with client.get(AUTHORIZE_PATH, params=params, allow_redirects=False) as response:
        assert response.status == 400 and "Location" not in response.headers


async def test_pages_carry_the_security_headers_and_a_csrf_cookie(client: Client) -> None:
    async with client.get(AUTHORIZE_PATH, params=query()) as response:
        headers = response.headers
        cookie = response.cookies[COOKIE]
    assert headers["Content-Security-Policy"] == (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self' https://app.example; frame-ancestors 'none'; base-uri 'none'"
    )
    assert headers["X-Frame-Options"] == "DENY" and headers["Referrer-Policy"] == "same-origin"
    assert headers["Cache-Control"] == "no-store" and headers["X-Content-Type-Options"] == "nosniff"
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/oauth2/"
    async with client.get(signin_pages.STYLESHEET_PATH) as response:
        assert response.status == 200 and response.content_type == "text/css"


async def test_english_and_chinese_and_a_switch_that_keeps_the_request(client: Client) -> None:
    _, page, _ = await sign_in_page(client)
    assert '<html lang="zh-CN">' in page and "用户名" in page
    _, page, _ = await sign_in_page(client, **query(ui_locales="en"))
    assert '<html lang="en">' in page and "Username" in page
    switch = re.search(r'<a href="([^"]+)" lang="zh-CN"', page)
    assert switch is not None
    switched = parse_qs(urlsplit(switch.group(1).replace("&amp;", "&")).query)
    assert switched["ui_locales"] == ["zh-CN"] and switched["state"] == ["st-1"]
    assert switched["code_challenge"] == [CHALLENGE.decode()]


async def test_state_and_login_hint_cannot_inject_markup(client: Client) -> None:
    attack = '"><script>alert(1)</script><input name="x'
    _, page, form = await sign_in_page(client, **query(state=attack, login_hint=attack))
    assert "<script>" not in page
    assert form.fields["state"] == attack and form.fields["username"] == attack
    assert "x" not in form.fields


async def test_a_lockout_or_the_rate_limit_is_a_429_page_with_retry_after(client: Client) -> None:
    _, _, form = await sign_in_page(client)
    fields = {**form.fields, "username": "locked", "password": "x"}
    status, page, headers = await post(client, AUTHORIZE_PATH, fields)
    assert status == 429 and headers["Retry-After"].isdigit() and "<html" in page
    client.app[LIMITS].login_per_account = RateLimiter(rate=0.01, burst=1)
    fields["username"] = "alice"
    assert (await post(client, AUTHORIZE_PATH, fields))[0] == 401
    status, _, headers = await post(client, AUTHORIZE_PATH, fields)
    assert status == 429 and int(headers["Retry-After"]) > 1
