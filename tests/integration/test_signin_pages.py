"""The authorization endpoint's sign-in and consent pages on the running platform, driven as a
browser drives them (httpx2: fetch the page, read its hidden fields, post the form): a code with
`state` and `iss` for the right credentials, one uniform refusal for every wrong one, CSRF and
foreign origins refused, no redirect to an unregistered address, OAuth 2.1's PKCE rules, the
security headers, Chinese and English, escaped input, and identity's lockout as a 429 page."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
import re
import secrets
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import pytest
import pytest_asyncio

from conftest import DEMO_PASSWORD, Platform, remember_secret
from runtime import identifiers
from services.identity import demo, totp
from services.identity.domain import DEMO_CITIZEN, LOCK_AFTER_FAILURES

pytestmark = pytest.mark.integration

AUTHORIZE = "/oauth2/authorize"
PORTAL = "smartcity-portal"
OFFICE = "smartcity-office"
THIRD_PARTY = demo.THIRD_PARTY_APPLICATION
STAFF = "msa.officer"


class Form(HTMLParser):
    """The first form of a page: where it posts, and each input's name and value."""

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


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, pkce_challenge(verifier)


async def redeem(
    browser: httpx2.AsyncClient, params: dict[str, str], code: str, verifier: str
) -> dict[str, object]:
    """The code at the token endpoint, as the public client redeems it: its ID token's claims."""
    answer = await browser.post(
        "/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": params["redirect_uri"],
            "client_id": params["client_id"],
            "code_verifier": verifier,
        },
    )
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    remember_secret(tokens["access_token"], tokens.get("refresh_token", ""), tokens["id_token"])
    payload = tokens["id_token"].split(".")[1]
    claims: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=" * 3))
    return claims


def redirect_of(platform: Platform, client_id: str) -> str:
    issuer = platform.settings.issuer
    return {PORTAL: f"{issuer}/", OFFICE: f"{issuer}/office/"}.get(
        client_id, THIRD_PARTY.redirect_uris[0]
    )


def authorization(
    platform: Platform, client_id: str = PORTAL, *, verifier: str = "", **overrides: str
) -> dict[str, str]:
    """An authorization request as a standard client makes it; "-" leaves a parameter out."""
    challenge = pkce()[1] if not verifier else pkce_challenge(verifier)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_of(platform, client_id),
        "scope": "openid profile",
        "state": secrets.token_urlsafe(12),
        "nonce": secrets.token_urlsafe(12),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v != "-"}


@pytest_asyncio.fixture
async def browser(platform: Platform) -> AsyncIterator[httpx2.AsyncClient]:
    """A client with a cookie jar that follows no redirect: each test reads where it is sent."""
    async with httpx2.AsyncClient(base_url=platform.url, timeout=20) as client:
        yield client


async def sign_in_page(
    browser: httpx2.AsyncClient, params: dict[str, str] | list[tuple[str, str]], **headers: str
) -> tuple[httpx2.Response, Form]:
    pairs = tuple(params.items()) if isinstance(params, dict) else tuple(params)
    response = await browser.get(AUTHORIZE, params=pairs, headers=headers)
    return response, Form(response.text)


def answer_of(response: httpx2.Response) -> tuple[str, dict[str, str]]:
    """Where a redirect sends the browser, and the parameters it carries."""
    location = response.headers["Location"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    return location.split("?", 1)[0], query


def staff_code(username: str, *, ahead: float = 0) -> str:
    return totp.code_at(demo.totp_secret(DEMO_PASSWORD, username), time.time() + ahead)


def uniform(page: str) -> str:
    """A page without what differs on purpose between two answers: the values in its fields
    (the username typed, the CSRF token) and the links that carry them."""
    return re.sub(r'(value|href)="[^"]*"', "", page)


async def new_citizen(platform: Platform) -> str:
    first17 = f"4601051990{random.randint(1, 12):02d}{random.randint(1, 28):02d}"
    first17 += f"{random.randint(1, 999):03d}"
    number = first17 + identifiers.resident_id_check_char(first17)
    name = f"signin.{uuid.uuid4().hex[:10]}"
    remember_secret(number)
    body = {
        "username": name,
        "password": DEMO_PASSWORD,
        "resident_id_number": number,
        "display_name": "Zhou Lan (周兰)",
    }
    status, account, _ = await platform.request("POST", "/public/v1/accounts", json=body)
    assert status == 201, account
    return name


async def test_a_citizen_signs_in_and_the_client_gets_a_code_with_state_and_iss(
    platform: Platform, browser: httpx2.AsyncClient
) -> None:
    # given the portal's authorization request
    verifier = pkce()[0]
    params = authorization(platform, verifier=verifier)
    page, form = await sign_in_page(browser, params)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert form.action == AUTHORIZE and "totp_code" not in form.fields
    # when the citizen signs in on the platform's own page
    fields = {**form.fields, "username": DEMO_CITIZEN.username, "password": DEMO_PASSWORD}
    answer = await browser.post(AUTHORIZE, data=fields)
    # then the browser goes back to the portal with a code, its state and the issuer (RFC 9207)
    assert answer.status_code == 303, answer.text
    where, query = answer_of(answer)
    remember_secret(query.get("code", ""))
    assert where == params["redirect_uri"]
    assert set(query) == {"code", "state", "iss"}
    assert query["state"] == params["state"] and query["iss"] == platform.settings.issuer
    # and the code is good at the token endpoint with the verifier: the page carried the
    # challenge and the nonce to identity unchanged
    claims = await redeem(browser, params, query["code"], verifier)
    assert claims["nonce"] == params["nonce"] and claims["aud"] == PORTAL


async def test_an_agent_signs_in_to_act_for_the_enterprise_that_authorised_them(
    platform: Platform, browser: httpx2.AsyncClient
) -> None:
    params = authorization(platform)
    _, form = await sign_in_page(browser, params)
    fields = {**form.fields, "username": demo.AGENT.account.username, "password": DEMO_PASSWORD}
    # an enterprise that did not authorise them: said on the page, nothing sent to the client
    refused = await browser.post(AUTHORIZE, data={**fields, "enterprise_id": str(uuid.uuid4())})
    assert refused.status_code == 403 and "Location" not in refused.headers
    assert 'value="' + demo.AGENT.account.username + '"' in refused.text
    # the one that did: a code for the portal
    answer = await browser.post(AUTHORIZE, data={**fields, "enterprise_id": demo.ENTERPRISE_ID})
    assert answer.status_code == 303, answer.text
    where, query = answer_of(answer)
    remember_secret(query.get("code", ""))
    assert where == params["redirect_uri"] and query["state"] == params["state"]


async def test_a_staff_member_needs_the_totp_code(
    platform: Platform, browser: httpx2.AsyncClient
) -> None:
    # given the office application's sign-in page, which asks for the code
    verifier = pkce()[0]
    params = authorization(platform, OFFICE, verifier=verifier)
    _, form = await sign_in_page(browser, params)
    assert "totp_code" in form.fields and "enterprise_id" not in form.fields
    fields = {**form.fields, "username": STAFF, "password": DEMO_PASSWORD}
    # when the right password comes without the code: the uniform refusal
    refused = await browser.post(AUTHORIZE, data=fields)
    assert refused.status_code == 401
    # and with it: the code (a TOTP code is good once: the next step's if this one was used)
    for ahead in (0, 30):
        answer = await browser.post(
            AUTHORIZE, data={**fields, "totp_code": staff_code(STAFF, ahead=ahead)}
        )
        if answer.status_code != 401:
            break
    assert answer.status_code == 303, answer.text
    where, query = answer_of(answer)
    remember_secret(query.get("code", ""))
    assert where == params["redirect_uri"] and query["state"] == params["state"] and "code" in query
    # whose ID token says a second factor was used
    claims = await redeem(browser, params, query["code"], verifier)
    assert claims["aud"] == OFFICE and "otp" in str(claims["amr"])


async def test_wrong_password_unknown_user_and_wrong_entry_point_look_the_same(
    platform: Platform, browser: httpx2.AsyncClient
) -> None:
    _, portal = await sign_in_page(browser, authorization(platform))
    _, office = await sign_in_page(browser, authorization(platform, OFFICE))
    attempts = [
        (portal, {"username": DEMO_CITIZEN.username, "password": "not the password"}),
        (portal, {"username": f"nobody.{uuid.uuid4().hex[:8]}", "password": DEMO_PASSWORD}),
        # a member of staff at the citizens' portal, with the right password
        (portal, {"username": "hrss.officer", "password": DEMO_PASSWORD}),
    ]
    pages = set()
    for form, credentials in attempts:
        answer = await browser.post(AUTHORIZE, data={**form.fields, **credentials})
        assert answer.status_code == 401, answer.text
        assert "Location" not in answer.headers
        pages.add(uniform(answer.text))
    assert len(pages) == 1, pages
    # and at the office: a citizen with the right password, a wrong code: the office's one page
    office_pages = set()
    for credentials in (
        {"username": DEMO_CITIZEN.username, "password": DEMO_PASSWORD, "totp_code": "000000"},
        {"username": f"nobody.{uuid.uuid4().hex[:8]}", "password": "x", "totp_code": "000000"},
    ):
        answer = await browser.post(AUTHORIZE, data={**office.fields, **credentials})
        assert answer.status_code == 401
        office_pages.add(uniform(answer.text))
    assert len(office_pages) == 1, office_pages


async def test_a_form_without_its_csrf_token_or_cookie_is_refused(
    platform: Platform, browser: httpx2.AsyncClient
) -> None:
    _, form = await sign_in_page(browser, authorization(platform))
    fields = {**form.fields, "username": DEMO_CITIZEN.username, "password": DEMO_PASSWORD}
    for token in ("", "0" * 64, form.fields["csrf_token"][::-1]):
        answer = await browser.post(AUTHORIZE, data={**fields, "csrf_token": token})
        assert answer.status_code == 403 and "Location" not in answer.headers
        assert answer.headers["Content-Type"].startswith("text/html")
    # the right token without its cookie (a forged form from another site): refused too
    async with httpx2.AsyncClient(base_url=platform.url, timeout=20) as stranger:
        answer = await stranger.post(AUTHORIZE, data=fields)
        assert answer.status_code == 403 and "Location" not in answer.headers


async def test_a_post_from_a_foreign_origin_is_refused(
    platform: Platform, browser: httpx2.AsyncClient
) -> None:
    _, form = await sign_in_page(browser, authorization(platform))
    fields = {**form.fields, "username": DEMO_CITIZEN.username, "password": DEMO_PASSWORD}
    for origin in ("https://evil.example", "null", platform.url):
        answer = await browser.post(AUTHORIZE, data=fields, headers={"Origin": origin})
        assert answer.status_code == 403 and "Location" not in answer.headers, origin
    # the issuer's own origin, as a browser sends it, is accepted
    issuer = platform.settings.issuer
    answer = await browser.post(AUTHORIZE, data=fields, headers={"Origin": issuer})
    assert answer.status_code == 303
    remember_secret(answer_of(answer)[1].get("code", ""))


@pytest.mark.parametrize(
    "overrides",
    [
        {"redirect_uri": "https://evil.example/callback"},
        {"redirect_uri": "{issuer}/?next=evil"},
        {"redirect_uri": "{issuer}"},
        {"redirect_uri": "-"},
        {"client_id": "no-such-client"},
        {"client_id": "-"},
    ],
)
async def test_an_unknown_client_or_unregistered_redirect_uri_is_an_error_page_not_a_redirect(
    platform: Platform, browser: httpx2.AsyncClient, overrides: dict[str, str]
) -> None:
    wrong = {k: v.format(issuer=platform.settings.issuer) for k, v in overrides.items()}
    page, form = await sign_in_page(browser, authorization(platform, **wrong))
    assert page.status_code == 400 and "Location" not in page.headers
    assert page.headers["Content-Type"].startswith("text/html") and not form.action
    assert "evil.example" not in page.headers["Content-Security-Policy"]


async def test_a_redirect_uri_given_twice_is_an_error_page(
    platform: Platform, browser: httpx2.AsyncClient
) -> None:
    params = [*authorization(platform).items(), ("redirect_uri", "https://evil.example/")]
    page, _ = await sign_in_page(browser, params)
    assert page.status_code == 400 and "Location" not in page.headers


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge": "-"}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": "-"}, "invalid_request"),
        ({"prompt": "none"}, "login_required"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "profile"}, "invalid_scope"),
        ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
        ({"response_mode": "form_post"}, "invalid_request"),
    ],
)
async def test_a_bad_request_from_a_registered_client_goes_back_to_it_with_the_error(
    platform: Platform, browser: httpx2.AsyncClient, overrides: dict[str, str], error: str
) -> None:
    params = authorization(platform, **overrides)
    page, _ = await sign_in_page(browser, params)
    assert page.status_code in (302, 303)
    where, query = answer_of(page)
    assert where == params["redirect_uri"]
    assert query["error"] == error and query["error_description"]
    assert query["state"] == params["state"] and query["iss"] == platform.settings.issuer


async def test_a_parameter_given_twice_is_invalid_request(
    platform: Platform, browser: httpx2.AsyncClient
) -> None:
    params = authorization(platform)
    page, _ = await sign_in_page(browser, [*params.items(), ("scope", "openid")])
    assert page.status_code in (302, 303)
    assert answer_of(page)[1]["error"] == "invalid_request"


async def test_every_page_carries_the_security_headers(
    platform: Platform, browser: httpx2.AsyncClient
) -> None:
    issuer = platform.settings.issuer
    sign_in, form = await sign_in_page(browser, authorization(platform))
    refused = await browser.post(AUTHORIZE, data={**form.fields, "csrf_token": ""})
    error, _ = await sign_in_page(browser, authorization(platform, client_id="no-such-client"))
    for page in (sign_in, refused, error):
        headers = page.headers
        assert headers["X-Frame-Options"] == "DENY"
        # (no Referer to other origins; no-referrer would make our own form's Origin null)
        assert headers["Referrer-Policy"] == "same-origin"
        assert headers["Cache-Control"] == "no-store"
        assert headers["X-Content-Type-Options"] == "nosniff"
        policy = headers["Content-Security-Policy"]
        assert policy.startswith("default-src 'none'; style-src 'self'; img-src 'self' data:; ")
        assert "frame-ancestors 'none'; base-uri 'none'" in policy
        assert "script-src" not in policy and "unsafe-inline" not in policy
        assert "<script" not in page.text and "style=" not in page.text
    # the page's form posts here and is then sent on to the portal's own origin
    assert "form-action 'self' " + issuer.rstrip("/") in sign_in.headers["Content-Security-Policy"]
    cookie = sign_in.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/oauth2/" in cookie
    css = await browser.get("/oauth2/static/signin.css")
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")


async def test_the_pages_speak_chinese_by_default_and_english_when_asked(
    platform: Platform, browser: httpx2.AsyncClient
) -> None:
    chinese, _ = await sign_in_page(browser, authorization(platform))
    assert '<html lang="zh-CN">' in chinese.text and "用户名" in chinese.text
    english, _ = await sign_in_page(browser, authorization(platform, ui_locales="en"))
    assert '<html lang="en">' in english.text and "Username" in english.text
    by_browser, _ = await sign_in_page(
        browser, authorization(platform), **{"Accept-Language": "en-GB,en;q=0.9"}
    )
    assert '<html lang="en">' in by_browser.text
    # the switch keeps every parameter of the request
    params = authorization(platform, ui_locales="en", login_hint="demo.citizen")
    english, _ = await sign_in_page(browser, params)
    link = re.search(r'<a href="([^"]+)" lang="zh-CN"', english.text)
    assert link is not None
    switched = {
        k: v[0] for k, v in parse_qs(urlsplit(link.group(1).replace("&amp;", "&")).query).items()
    }
    assert switched == {**params, "ui_locales": "zh-CN"}
    chinese = await browser.get(link.group(1).replace("&amp;", "&"))
    assert '<html lang="zh-CN">' in chinese.text and 'value="demo.citizen"' in chinese.text


async def test_state_and_login_hint_cannot_inject_html(
    platform: Platform, browser: httpx2.AsyncClient
) -> None:
    attack = '"><script>alert(document.cookie)</script><input name="injected" value="'
    params = authorization(platform, state=attack, login_hint=attack, nonce=attack)
    page, form = await sign_in_page(browser, params)
    assert page.status_code == 200
    assert "<script>" not in page.text and "injected" not in form.fields
    # the values come back intact, as data
    assert form.fields["state"] == attack and form.fields["username"] == attack
    answer = await browser.post(
        AUTHORIZE,
        data={**form.fields, "username": DEMO_CITIZEN.username, "password": DEMO_PASSWORD},
    )
    assert answer.status_code == 303 and answer_of(answer)[1]["state"] == attack
    remember_secret(answer_of(answer)[1].get("code", ""))


async def test_the_lockout_is_a_429_page_with_retry_after(
    platform: Platform, browser: httpx2.AsyncClient
) -> None:
    # given a name no account has (the lockout treats it as it treats a real one)
    name = f"guesser.{uuid.uuid4().hex[:8]}"
    _, form = await sign_in_page(browser, authorization(platform))
    statuses = []
    for _ in range(LOCK_AFTER_FAILURES + 1):
        answer = await browser.post(
            AUTHORIZE, data={**form.fields, "username": name, "password": "guess"}
        )
        statuses.append(answer.status_code)
    assert statuses == [401] * LOCK_AFTER_FAILURES + [429], statuses
    assert int(answer.headers["Retry-After"]) >= 1
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "Location" not in answer.headers


async def test_a_third_party_asks_consent_and_the_answer_goes_back_with_the_state(
    platform: Platform, browser: httpx2.AsyncClient
) -> None:
    citizen = await new_citizen(platform)

    async def consent_page(state: str) -> Form:
        params = authorization(
            platform, THIRD_PARTY.client_id, scope="openid profile offline_access", state=state
        )
        _, form = await sign_in_page(browser, params, **{"Accept-Language": "en"})
        answer = await browser.post(
            AUTHORIZE, data={**form.fields, "username": citizen, "password": DEMO_PASSWORD}
        )
        assert answer.status_code == 200, answer.text
        assert THIRD_PARTY.name.split(" ")[0] in answer.text
        assert "your name and username" in answer.text and "12 hours" in answer.text
        policy = answer.headers["Content-Security-Policy"]
        assert f"form-action 'self' {THIRD_PARTY.redirect_uris[0].rsplit('/', 1)[0]}" in policy
        consent = Form(answer.text)
        remember_secret(consent.fields["consent_ticket"])
        return consent

    # when the citizen declines: access_denied, with the state
    consent = await consent_page("state <one>")
    answer = await browser.post(consent.action, data={**consent.fields, "decision": "deny"})
    assert answer.status_code == 303
    where, query = answer_of(answer)
    assert where == THIRD_PARTY.redirect_uris[0]
    assert query["error"] == "access_denied" and query["state"] == "state <one>"
    # and when they allow it: a code, with the state
    consent = await consent_page("state two")
    # a swapped state is refused (it is bound to the ticket), and the ticket is not spent
    tampered = await browser.post(
        consent.action, data={**consent.fields, "state": "other", "decision": "approve"}
    )
    assert tampered.status_code == 400
    answer = await browser.post(consent.action, data={**consent.fields, "decision": "approve"})
    assert answer.status_code == 303
    where, query = answer_of(answer)
    remember_secret(query.get("code", ""))
    assert where == THIRD_PARTY.redirect_uris[0]
    assert query["state"] == "state two" and query["iss"] == platform.settings.issuer
    assert query["code"]
    # and the ticket cannot be used again
    again = await browser.post(consent.action, data={**consent.fields, "decision": "approve"})
    assert again.status_code == 400 and "Location" not in again.headers


# --- in a real browser: what only a browser enforces ---------------------------------------------


def chromium() -> Any:
    """Headless Chromium from the system's packages (no download), or the test is skipped."""
    webdriver = pytest.importorskip("selenium.webdriver")
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not binary or not driver:
        pytest.skip("Chromium and chromedriver are not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--lang=en"):
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(driver))


def browse_to_consent_and_allow(url: str, username: str, callback: str) -> str:
    """Sign in on the page, allow on the consent page, and return where the browser ended."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = chromium()
    try:
        driver.get(url)
        driver.find_element(By.ID, "username").send_keys(username)
        driver.find_element(By.ID, "password").send_keys(DEMO_PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(driver, 10).until(
            lambda d: (
                "/oauth2/consent" in d.current_url
                or d.find_elements(By.CSS_SELECTOR, "button[value=approve]")
            )
        )
        driver.find_element(By.CSS_SELECTOR, "button[value=approve]").click()
        WebDriverWait(driver, 10).until(lambda d: d.current_url.startswith(callback))
        return str(driver.current_url)
    finally:
        driver.quit()


async def test_in_chromium_the_forms_post_and_the_browser_reaches_the_client(
    platform: Platform,
) -> None:
    # given a third party's authorization request, opened at the issuer's own address (the
    # origin the forms must come from)
    chromium().quit()  # skipped here when there is no browser
    citizen = await new_citizen(platform)
    callback = THIRD_PARTY.redirect_uris[0]
    params = authorization(platform, THIRD_PARTY.client_id, ui_locales="en")
    url = f"{platform.settings.issuer}{AUTHORIZE}?{urlencode(params)}"
    # when the citizen signs in and allows the application, as a person does
    ended = await asyncio.to_thread(browse_to_consent_and_allow, url, citizen, callback)
    # then Chromium sent both forms with our origin (no Origin: null, so the origin check
    # passes) and followed the consent form's redirect to the client's own origin (CSP
    # form-action lists it: Chromium applies form-action to that redirect)
    query = {k: v[0] for k, v in parse_qs(urlsplit(ended).query).items()}
    remember_secret(query.get("code", ""))
    assert query["state"] == params["state"] and query["code"]
    assert query["iss"] == platform.settings.issuer
