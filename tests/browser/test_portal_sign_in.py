"""Signing in to the portal as a person would, in Chromium: the authorization code flow with
PKCE through the gateway's sign-in page, tokens kept in the page's memory only, my licences as
cards, a demand for open data, signing out; and staff with their TOTP code in the office
console, which lists their catalog drafts."""

from __future__ import annotations

import time

from portal_browser import Portal, chromium_fixture, portal_fixture  # noqa: F401
from selenium.webdriver.common.by import By

from conftest import DEMO_PASSWORD, Platform, create, resource_body
from services.identity import demo, totp


def sign_in_on_the_authorization_page(
    portal: Portal, username: str, *, totp_secret: str | None = None
) -> None:
    """Click the page's sign-in button and fill the authorization server's form."""
    portal.find("#sign-in").click()
    portal.wait(lambda d: "/oauth2/authorize" in d.current_url, "the sign-in page")
    # A TOTP code is good once, and never one older than the last used: the current step's
    # code first, as conftest's `login` does, and the next step's if the current one was spent.
    for ahead in (0, 30) if totp_secret is not None else (0,):
        portal.find("#username").clear()
        portal.find("#username").send_keys(username)
        portal.find("#password").send_keys(DEMO_PASSWORD)
        if totp_secret is not None:
            portal.find("#totp_code").send_keys(totp.code_at(totp_secret, time.time() + ahead))
        portal.find("form button[type=submit]").click()
        portal.wait(
            lambda d: "/oauth2/" not in d.current_url or d.find_elements(By.CSS_SELECTOR, ".alert"),
            "back from the sign-in page, or its refusal",
        )
        if "/oauth2/" not in portal.driver.current_url:
            break
        # the spent code's refusal (a 401 page) is expected: not a console error of the portal
        assert all("/oauth2/authorize" in error for error in portal.console_errors())
    assert "/oauth2/" not in portal.driver.current_url, portal.text("body")
    portal.wait(lambda d: d.find_element(By.ID, "sign-out").is_displayed(), "signed in")


def assert_no_token_kept_in_storage(portal: Portal) -> None:
    stored = portal.script(
        "return JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage),"
        " document.cookie])"
    )
    assert "eyJ" not in stored, f"a token in the browser's storage: {stored[:200]}"
    assert portal.script("return sessionStorage.length") == 0, "the PKCE verifier was removed"


async def test_citizen_signs_in_sees_licences_asks_for_data_and_signs_out(
    portal: Portal, platform: Platform
) -> None:
    # given the citizen on "my licences", signed out
    portal.open("/#/licences")
    assert portal.find_all("#sign-in")

    # when they sign in through the authorization server
    sign_in_on_the_authorization_page(portal, "demo.citizen")
    portal.wait_rendered("licences")

    # then they are back on the same page, the URL cleaned, their licences shown as cards
    assert "code=" not in portal.driver.current_url and "state=" not in portal.driver.current_url
    assert portal.driver.current_url.endswith("#/licences")
    cards = portal.wait(lambda d: d.find_elements(By.CSS_SELECTOR, ".card h2"), "licence cards")
    assert "居民身份证" in [card.text for card in cards]
    assert portal.text("#who"), "the reader's name from userinfo"
    assert_no_token_kept_in_storage(portal)
    portal.screenshot("licences")
    portal.assert_accessible("my licences")

    # when their access token is about to expire (the page's clock moved 290 s on), the next
    # call first refreshes it through the token endpoint, and the page goes on working
    token_calls = "return performance.getEntriesByType('resource')" + (
        ".filter(e => e.name.endsWith('/oauth2/token')).length"
    )
    assert portal.script(token_calls) == 1
    portal.script("const now = Date.now; Date.now = () => now() + 290000;")
    portal.script("location.hash = '#/demands'")
    portal.wait_rendered("demands")
    portal.script("location.hash = '#/licences'")
    portal.wait_rendered("licences")
    assert portal.find_all(".card")
    assert portal.script(token_calls) == 2, "one refresh_token grant"

    # when they ask for data to be opened (in the page: a reload would sign them out)
    portal.script("location.hash = '#/demands'")
    portal.wait_rendered("demands")
    title = f"公交车实时位置 bus positions {time.time_ns()}"
    portal.find("#demand-title").send_keys(title)
    portal.find("#demand-description").send_keys("用于出行规划 for journey planning")
    portal.find("#demand-suggested_department option[value=psb]").click()
    portal.find("form button[type=submit]").click()
    sent = portal.wait(
        lambda d: d.find_element(By.CSS_SELECTOR, "#main .notice").text, "the demand sent"
    )
    assert "已提交" in sent
    portal.assert_accessible("the demand form")
    status, page, _ = await platform.request("GET", "/public/v1/catalog/demands")
    assert status == 200 and title in [d["title"] for d in page["demands"]]

    # when they sign out, they are signed out here and at the authorization server
    portal.find("#sign-out").click()
    portal.wait(lambda d: d.find_element(By.ID, "sign-in").is_displayed(), "signed out")
    portal.wait_rendered()
    portal.open("/#/licences")
    assert not portal.find_all(".card")
    assert not portal.console_errors()


async def test_office_console_shows_the_officers_menu_and_drafts(
    portal: Portal, platform: Platform
) -> None:
    # given a draft of the Public Security Bureau, registered through the API
    officer = await platform.login("psb.officer")
    name = f"草稿 draft {time.time_ns()}"
    draft = await create(platform, officer, resource_body("psb", name=name))
    portal.open("/office/")
    secret = demo.totp_secret(DEMO_PASSWORD, "psb.officer")
    sign_in_on_the_authorization_page(portal, "psb.officer", totp_secret=secret)
    portal.wait_rendered("home")
    menu = [a.text.split("\n")[0] for a in portal.find_all("nav.menu a")]
    # psb.officer: catalog_officer, share_approver, licence_issuer (not bdb_admin, not auditor)
    assert "目录草稿与退回" in menu and "共享申请审批" in menu and "证照签发与管理" in menu
    assert "目录审核与发布" not in menu and "审计链核验" not in menu
    portal.screenshot("office-menu")
    portal.assert_accessible("the office console, signed in")
    next(a for a in portal.find_all("nav.menu a") if "目录草稿" in a.text).click()
    portal.wait_rendered("drafts")
    queue = portal.text("#main table")
    assert draft["name"] in queue and draft["code"] in queue and "草稿" in queue
    portal.screenshot("office-drafts")
    portal.assert_accessible("the drafts queue")
    assert_no_token_kept_in_storage(portal)
    assert not portal.console_errors()
