"""Showing a licence by QR code and verifying it, in Chromium: a citizen signs in, chooses the
claims of their ID card to reveal, and the portal shows the presentation as a QR code with a
countdown; an independent decoder (zxing-cpp) reads the QR code off the page, and the verifier's
page, with nobody signed in, verifies what it read: valid, with exactly the chosen claims."""

from __future__ import annotations

import base64
import time

import pytest
from portal_browser import ARTEFACTS, Portal, chromium_fixture, portal_fixture  # noqa: F401
from portal_people import sign_in
from portal_qr import read_qr
from selenium.webdriver.common.by import By

from conftest import Platform

pytestmark = pytest.mark.timeout(300)

# A phone reads a QR code off another phone's screen at arm's length up to about version 25.
COMFORTABLE_VERSION = 25


def make_presentation(portal: Portal, claims: list[str]) -> str:
    for name in claims:
        portal.find(f"input[name=disclose][value={name}]").click()
    portal.find("#present-make").click()
    portal.wait(lambda d: d.find_elements(By.ID, "presentation-qr"), "the QR code")
    return str(portal.find("#presentation-text").get_attribute("value"))


def panel_screenshot(portal: Portal, css: str, name: str) -> None:
    """One element, whole, on a 420 px wide screen, as artefacts/browser/NAME.png."""
    portal.viewport(420, 900)
    x, y, width, height = portal.script(
        "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return [r.x + scrollX, r.y + scrollY, r.width, r.height]",
        css,
    )
    clip = {"x": x, "y": y, "width": width, "height": height, "scale": 1}
    shot = portal.driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    (ARTEFACTS / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))
    portal.reset_viewport()


def seconds_left(portal: Portal) -> int:
    return int(portal.find("#presentation-countdown").get_attribute("data-seconds"))


async def test_a_citizen_shows_their_id_card_by_qr_code_and_the_verifier_page_verifies_it(
    portal: Portal, platform: Platform
) -> None:
    # given the citizen signed in, on their licences
    portal.open("/#/licences")
    sign_in(portal, "demo.citizen")
    portal.wait_rendered("licences")

    # when they show their ID card, revealing their name and that they are over 18
    portal.find("a[data-licence=id_card]").click()
    portal.wait_rendered("present")
    portal.screenshot("present-choose")
    portal.assert_accessible("choosing what to show")
    text = make_presentation(portal, ["name", "age_over_18"])

    # then the QR code on the page scans to the presentation's text, at a comfortable size
    scanned = read_qr(portal, "#presentation-qr")
    assert scanned.text == text
    version = int(portal.find("#presentation-qr").get_attribute("data-version"))
    print(f"presentation: {len(text)} bytes, QR version {version}, level {scanned.ec_level}")
    assert version <= COMFORTABLE_VERSION or scanned.ec_level == "L", (len(text), version)
    claims = portal.text("#presentation-claims")
    assert "姓名" in claims and "年满 18 周岁" in claims and "公民身份号码" not in claims
    # ... and its countdown runs
    first = seconds_left(portal)
    assert 100 <= first <= 120
    portal.wait(lambda d: seconds_left(portal) < first, "the countdown ticks", timeout=5)
    portal.screenshot("present-qr")
    panel_screenshot(portal, "section.presentation", "present-qr-panel")  # the README's
    portal.assert_accessible("a presentation's QR code")

    # the same in the elder-friendly mode, on a 360 px phone (a new presentation: the view
    # is drawn again)
    portal.find("#elder-switch").click()
    portal.wait(lambda d: d.find_elements(By.ID, "present-make"), "the form again")
    portal.viewport(360, 800, scale=2.0)
    elder_text = make_presentation(portal, ["name"])
    assert read_qr(portal, "#presentation-qr").text == elder_text
    assert portal.horizontal_overflow() <= 0, "the QR page scrolls sideways at 360 px"
    portal.screenshot("present-qr-elder-phone")
    portal.assert_accessible("a presentation's QR code, elder-friendly, 360 px")
    portal.reset_viewport()
    portal.find("#elder-switch").click()
    assert not portal.console_errors()

    # when someone with no account verifies what they scanned, on the verifier's page
    portal.driver.get("about:blank")  # a new page: nobody signed in
    portal.open("/#/verify")
    assert portal.find_all("#sign-in") and portal.find("#sign-in").is_displayed()
    has_camera_scan = portal.script(
        "return 'BarcodeDetector' in window && !!navigator.mediaDevices?.getUserMedia"
    )
    assert bool(portal.find_all("#verify-scan")) == bool(has_camera_scan)
    portal.find("#verify-text").send_keys(scanned.text)
    portal.find("#verify-submit").click()
    result = portal.find("#verdict-result")

    # then it is valid, and they see exactly what the holder chose
    assert result.get_attribute("data-result") == "valid", portal.text("#verdict")
    revealed = {
        dt.get_attribute("data-claim"): dt.find_element(By.XPATH, "following-sibling::dd[1]").text
        for dt in portal.find_all("#revealed dt")
    }
    assert set(revealed) == {"name", "age_over_18"}, revealed
    assert revealed["age_over_18"] == "是"
    assert "居民身份证" in portal.text("#verdict")
    portal.screenshot("verify-valid")
    portal.assert_accessible("the verifier's page with a valid licence")

    # and what is not a presentation is explained as unreadable
    box = portal.find("#verify-text")
    box.clear()
    box.send_keys(f"not a licence {time.time_ns()}")
    portal.find("#verify-submit").click()
    portal.wait(
        lambda d: (
            d.find_element(By.ID, "verdict-result").get_attribute("data-result") == "malformed"
        ),
        "malformed",
    )
    assert portal.text("#verdict-explain")
    meanings = portal.find("details.meanings")
    meanings.click()
    assert "已被他人验证过" in meanings.text and "已吊销" in meanings.text
    portal.screenshot("verify-malformed")
    portal.assert_accessible("the verifier's page with an unreadable text")
    assert not portal.console_errors()
