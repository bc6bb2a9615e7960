"""Use grants (用证授权) in Chromium: a holder grants the Public Security Bureau two claims of
their ID card for a purpose, an officer of the Bureau reads them through the API, the holder sees
that use in "who used my licences", then withdraws the grant, and the officer is refused."""

from __future__ import annotations

import json
import time

import pytest
from portal_browser import REPO, Portal, chromium_fixture, portal_fixture  # noqa: F401
from portal_people import sign_in
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from conftest import Platform

pytestmark = pytest.mark.timeout(300)

ZH = json.loads((REPO / "gateway" / "portal" / "i18n" / "zh-CN.json").read_text("utf-8"))


def go(portal: Portal, view: str) -> None:
    """Another view in the same page (a reload would sign the reader out)."""
    portal.script(f"location.hash = '#/{view}'")
    portal.wait_rendered(view.split("?")[0])


def grant_item(portal: Portal, purpose: str) -> WebElement:
    return portal.wait(
        lambda d: next(
            (li for li in d.find_elements(By.CSS_SELECTOR, "li.grant") if purpose in li.text), None
        ),
        f"the grant for {purpose!r}",
    )


async def test_a_holder_grants_sees_the_use_and_withdraws(
    portal: Portal, platform: Platform
) -> None:
    # given the citizen signed in, on their licences
    portal.open("/#/licences")
    sign_in(portal, "demo.citizen")
    portal.wait_rendered("licences")
    card = next(c for c in portal.find_all(".card") if "居民身份证" in c.text)

    # when they choose to let someone use their ID card, and forget to say what for
    card.find_element(By.PARTIAL_LINK_TEXT, "授权使用").click()
    portal.wait_rendered("grants")
    portal.screenshot("grants-new")
    portal.assert_accessible("the use grants page")
    portal.find("#grant-submit").click()
    said = portal.wait(lambda d: d.find_element(By.ID, "grant-purpose-error").text, "refusal")
    assert said == ZH["public.rule.purpose-required"]

    # when they grant the Public Security Bureau their name and "over 18" for a purpose
    purpose = f"办理居住证 residence permit {time.time_ns()}"
    portal.find("#grant-department option[value=psb]").click()
    portal.find("#grant-purpose").send_keys(purpose)
    for claim in ("name", "age_over_18"):
        portal.find(f"#grant-claims input[value={claim}]").click()
    portal.find("#grant-submit").click()

    # then the grant is listed, active
    item = grant_item(portal, purpose)
    assert item.get_attribute("data-state") == "active"
    assert "市公安局" in item.text
    grant_id = item.get_attribute("data-grant")

    # when an officer of the Bureau reads the licence under the grant (through the API)
    officer = await platform.login("psb.officer")
    path = f"/office/v1/licences/grants/{grant_id}/licence"
    status, read, _ = await platform.request("GET", path, token=officer)
    assert status == 200, read
    assert set(read["claims"]) == {"name", "age_over_18"}

    # then the holder sees that use: who, what for, what they saw
    go(portal, "licences")
    go(portal, "grants")
    use = portal.wait(
        lambda d: next(
            (u for u in d.find_elements(By.CSS_SELECTOR, "li.use") if purpose in u.text), None
        ),
        "the use in the log",
    )
    assert use.get_attribute("data-kind") == "retrieved"
    assert use.get_attribute("data-user") == "department:psb"
    assert "市公安局" in use.text and "姓名" in use.text and "年满 18 周岁" in use.text
    portal.screenshot("grants")
    portal.assert_accessible("my grants and who used my licences")

    # when they withdraw the grant (asked once more)
    grant_item(portal, purpose).find_element(By.CSS_SELECTOR, "button.withdraw").click()
    portal.find("button.confirm-withdraw").click()
    portal.wait(
        lambda d: grant_item(portal, purpose).get_attribute("data-state") == "withdrawn",
        "withdrawn",
    )

    # then the officer can no longer read it
    status, body, _ = await platform.request("GET", path, token=officer)
    assert status in (403, 404, 409), (status, body)

    # and the page reads well in the elder-friendly mode too
    portal.find("#elder-switch").click()
    portal.wait_rendered("grants")
    portal.find("li.use")
    portal.screenshot("grants-elder")
    portal.assert_accessible("the use grants page, elder-friendly")
    portal.find("#elder-switch").click()
    # the refusal asked for above is logged by Chromium as a failed load; nothing else is
    errors = portal.console_errors()
    assert not [e for e in errors if not ("/licences/grants - " in e and " 422 " in e)], errors
