"""Registering in the public portal, in Chromium: a citizen's refused resident ID numbers are
each explained beside the field in the reader's language, by the rule they break; the account
is made, the citizen signs in with it, registers an enterprise (its refused credit codes
explained the same way) and acts for it by signing in again with the enterprise's ID."""

from __future__ import annotations

import json
import time

import pytest
from portal_browser import REPO, Portal, chromium_fixture, portal_fixture  # noqa: F401
from portal_people import (
    fill_sign_in_page,
    new_credit_code,
    new_resident_id,
    with_wrong_check_character,
)
from selenium.webdriver.common.by import By

from conftest import DEMO_PASSWORD, Platform

# a whole journey through several pages and two sign-ins, on a machine that may be busy
pytestmark = pytest.mark.timeout(300)

MESSAGES = {
    lang: json.loads((REPO / "gateway" / "portal" / "i18n" / f"{lang}.json").read_text("utf-8"))
    for lang in ("zh-CN", "en")
}


def submit(portal: Portal, form: str, fields: dict[str, str]) -> None:
    for name, value in fields.items():
        box = portal.find(f"#{form}-{name}")
        box.clear()
        box.send_keys(value)
    portal.find(f"#{form}-{next(iter(fields))}").submit()


def error_under(portal: Portal, form: str, name: str) -> str:
    return str(
        portal.wait(
            lambda d: d.find_element(By.ID, f"{form}-{name}-error").text,
            f"the error under {form}-{name}",
        )
    )


async def test_a_citizen_registers_despite_typos_then_registers_and_acts_for_an_enterprise(
    portal: Portal, platform: Platform
) -> None:
    # given the registration page, nobody signed in
    portal.open("/#/register")
    assert portal.text("h1") == "注册账户"
    portal.screenshot("register")
    portal.assert_accessible("the registration page")
    username = f"citizen{time.time_ns() % 10**12}"
    resident_id = new_resident_id()
    person = {
        "username": username,
        "password": DEMO_PASSWORD,
        "display_name": "王小明",
        "phone": "0898-66668888",
    }

    # when the ID number is refused, for each rule its own sentence shows beside the field
    for wrong, rule in (
        (resident_id[:17], "resident-id-length"),
        (resident_id[:16] + "AB", "resident-id-shape"),
        (with_wrong_check_character(resident_id), "resident-id-check"),
    ):
        submit(portal, "register", {**person, "resident_id_number": wrong})
        said = error_under(portal, "register", "resident_id_number")
        assert said == MESSAGES["zh-CN"][f"public.rule.{rule}"], (rule, said)
        box = portal.find("#register-resident_id_number")
        assert box.get_attribute("aria-invalid") == "true"
        assert portal.driver.switch_to.active_element == box, "the focus is on what to fix"
        assert "1 项需要修改" in portal.text("#register-outcome [role=alert]")
    portal.screenshot("register-refused")
    portal.assert_accessible("the registration page with a refused ID number")

    # ... and in English when the reader reads English
    portal.find("#lang-switch").click()
    portal.wait(lambda d: d.find_element(By.TAG_NAME, "h1").text == "Create an account", "English")
    submit(portal, "register", {**person, "resident_id_number": resident_id[:17]})
    said = error_under(portal, "register", "resident_id_number")
    assert said == MESSAGES["en"]["public.rule.resident-id-length"], said
    portal.find("#lang-switch").click()
    portal.wait(lambda d: d.find_element(By.TAG_NAME, "h1").text == "注册账户", "Chinese again")

    # when the number is right, the account is made and the citizen signs in with it
    submit(portal, "register", {**person, "resident_id_number": resident_id})
    portal.wait(lambda d: d.find_element(By.ID, "register-sign-in").is_displayed(), "registered")
    assert username in portal.text("#register-outcome")
    portal.find("#register-sign-in").click()
    portal.wait(lambda d: "/oauth2/authorize" in d.current_url, "the sign-in page")
    assert portal.find("#username").get_attribute("value") == username, "the username filled in"
    fill_sign_in_page(portal, username)
    portal.wait_rendered("account")
    profile = portal.text("#main")
    masked = resident_id[0] + "*" * 16 + resident_id[-1]
    assert username in profile and masked in profile and resident_id not in profile
    portal.assert_accessible("my account")

    # when they register an enterprise, a typo in its credit code is explained, then it is made
    credit_code = new_credit_code()
    company = f"海口椰风科技有限公司 {time.time_ns() % 10**6}"
    for wrong, rule in (
        (credit_code[:10], "credit-code-length"),
        (with_wrong_check_character(credit_code), "credit-code-check"),
    ):
        submit(portal, "enterprise", {"credit_code": wrong, "name": company})
        said = error_under(portal, "enterprise", "credit_code")
        assert said == MESSAGES["zh-CN"][f"public.rule.{rule}"], (rule, said)
    portal.assert_accessible("my account with a refused credit code")
    submit(portal, "enterprise", {"credit_code": credit_code, "name": company})
    portal.wait(lambda d: company in d.find_element(By.ID, "main").text, "the enterprise")
    portal.script("location.hash = '#/licences'")  # a reload would sign them out
    portal.wait_rendered("licences")
    portal.script("location.hash = '#/account'")
    portal.wait_rendered("account")
    item = next(li for li in portal.find_all("#main li.result") if company in li.text)
    assert "法定代表人" in item.text and credit_code in item.text
    portal.screenshot("account")

    # when they act for it: sign in again, with the enterprise's ID on the sign-in page
    button = item.find_element(By.CSS_SELECTOR, ".act-for-button")
    enterprise_id = button.get_attribute("data-enterprise")
    button.click()
    fill_sign_in_page(portal, username, enterprise_id=enterprise_id)
    portal.wait_rendered("account")

    # then the portal says so, and the API answers for the enterprise
    assert company in portal.text("#acting-for")
    claims = portal.script("return import('/portal/common/auth.js').then(a => a.accessClaims())")
    assert claims["ent"] == enterprise_id
    portal.screenshot("account-acting-for")
    portal.assert_accessible("my account, acting for an enterprise")
    # the refusals asked for above are logged by Chromium as failed loads; nothing else is
    refusals = ("/public/v1/accounts - ", "/public/v1/enterprises - ")
    unexpected = [
        e for e in portal.console_errors() if not (any(r in e for r in refusals) and " 422 " in e)
    ]
    assert not unexpected, unexpected
