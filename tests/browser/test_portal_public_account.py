"""My account and my demands in Chromium: a citizen reads the answer to their demand for open
data, changes their phone number and their password (a wrong current password explained), sees
where they are signed in, and signs out everywhere: this page and their other session alike."""

from __future__ import annotations

import time

import pytest
from portal_browser import Portal, chromium_fixture, portal_fixture  # noqa: F401
from portal_people import new_resident_id, sign_in
from selenium.webdriver.common.by import By
from selenium.webdriver.support.expected_conditions import staleness_of

from conftest import DEMO_PASSWORD, Platform, eventually

pytestmark = pytest.mark.timeout(300)

NEW_PASSWORD = "a-new-password-2026"


def go(portal: Portal, view: str) -> None:
    """Another view in the same page (a reload would sign the reader out)."""
    portal.script(f"location.hash = '#/{view}'")
    portal.wait_rendered(view)


def switch_mode(portal: Portal) -> None:
    """Turn the elder-friendly mode on or off, and wait for the view drawn anew."""
    before = portal.find("#sign-out-everywhere")
    portal.find("#elder-switch").click()
    portal.wait(staleness_of(before), "the view drawn again")
    portal.wait_rendered("account")
    portal.find("#sign-out-everywhere")


async def test_a_citizen_reads_answers_edits_the_profile_and_signs_out_everywhere(
    portal: Portal, platform: Platform
) -> None:
    # given a citizen whose demand for open data the Bureau routed and a department answered
    username = f"account{time.time_ns() % 10**12}"
    status, body, _ = await platform.request(
        "POST",
        "/public/v1/accounts",
        json={
            "username": username,
            "password": DEMO_PASSWORD,
            "resident_id_number": new_resident_id(),
            "display_name": "陈小红",
        },
    )
    assert status == 201, body
    login = {"username": username, "password": DEMO_PASSWORD}
    status, api_session, _ = await platform.request("POST", "/public/v1/login", json=login)
    assert status == 200, api_session
    title = f"海口公交线路站点 bus stops {time.time_ns()}"
    status, demand, _ = await platform.request(
        "POST",
        "/public/v1/catalog/demands",
        token=api_session["access_token"],
        json={"title": title, "description": "出行规划", "suggested_department": "hrss"},
    )
    assert status == 201, demand
    bureau, officer = await platform.login("bdb.admin"), await platform.login("hrss.officer")
    status, body, _ = await platform.request(
        "POST",
        f"/office/v1/catalog/demands/{demand['id']}/route",
        token=bureau,
        json={"department": "hrss", "due_days": 10},
    )
    assert status == 200, body
    reply = "将于下季度开放 to be opened next quarter"
    status, body, _ = await platform.request(
        "POST",
        f"/office/v1/catalog/demands/{demand['id']}/answer",
        token=officer,
        json={"outcome": "planned", "answer": reply},
    )
    assert status == 200, body

    # when they sign in and look at their demands
    portal.open("/#/demands")
    sign_in(portal, username)
    portal.wait_rendered("demands")

    # then their demand is there with its answer
    mine = portal.find("#my-demands").text
    assert title in mine and reply in mine and "计划开放" in mine and "已答复" in mine
    portal.screenshot("my-demands")
    portal.assert_accessible("my demands")

    # when they change their phone number
    go(portal, "account")
    phone = portal.find("#profile-phone")
    phone.clear()
    phone.send_keys("13800138000")
    phone.submit()
    portal.wait(lambda d: "已保存" in d.find_element(By.ID, "main").text, "saved")
    status, me, _ = await platform.request(
        "GET", "/public/v1/me", token=api_session["access_token"]
    )
    assert status == 200 and me["phone"] == "13800138000"

    # when they mistype their current password, it is explained beside it
    portal.find("#password-current_password").send_keys("not-my-password")
    portal.find("#password-new_password").send_keys(NEW_PASSWORD)
    portal.find("#password-new_password").submit()
    said = portal.wait(
        lambda d: d.find_element(By.ID, "password-current_password-error").text, "refusal"
    )
    assert said == "与账户的密码不符"
    # and with the right one, the password changes, and their other session ends
    box = portal.find("#password-current_password")
    box.clear()
    box.send_keys(DEMO_PASSWORD)
    portal.find("#password-new_password").clear()
    portal.find("#password-new_password").send_keys(NEW_PASSWORD)
    portal.find("#password-new_password").submit()
    portal.wait(lambda d: "密码已修改" in d.find_element(By.ID, "main").text, "changed")

    async def api_session_ended() -> bool:
        token = api_session["access_token"]
        return (await platform.request("GET", "/public/v1/me", token=token))[0] == 401

    await eventually(api_session_ended, timeout=5)

    # when they sign in once more elsewhere and look where they are signed in
    status, elsewhere, _ = await platform.request(
        "POST", "/public/v1/login", json={**login, "password": NEW_PASSWORD}
    )
    assert status == 200, elsewhere
    go(portal, "licences")
    go(portal, "account")
    sessions = portal.find_all("#main li.result")
    listed = [s for s in sessions if "登录于" in s.text]
    assert len(listed) == 2, [s.text for s in sessions]
    assert sum("本设备" in s.text for s in listed) == 1
    portal.screenshot("account-sessions")
    portal.assert_accessible("my account with my sessions")
    switch_mode(portal)
    portal.viewport(360, 800, scale=2.0)
    assert portal.horizontal_overflow() <= 0, "my account scrolls sideways at 360 px"
    portal.screenshot("account-elder-phone")
    portal.assert_accessible("my account, elder-friendly, 360 px")
    portal.reset_viewport()
    switch_mode(portal)

    # when they sign out everywhere
    portal.find("#sign-out-everywhere").click()

    # then this page is signed out, and so is the other session
    portal.wait(lambda d: d.find_element(By.ID, "sign-in").is_displayed(), "signed out")

    async def elsewhere_ended() -> bool:
        token = elsewhere["access_token"]
        return (await platform.request("GET", "/public/v1/me", token=token))[0] == 401

    await eventually(elsewhere_ended, timeout=5)
    errors = portal.console_errors()
    assert not [e for e in errors if not ("/me/password - " in e and " 422 " in e)], errors
