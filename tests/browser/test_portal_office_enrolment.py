"""First-time TOTP enrolment in the office console, in Chromium: a new member of staff signs in
with their password only, the console opens the enrolment (their token is good for nothing
else), the QR code on the page holds the otpauth:// URI of the secret (read by an independent
decoder, zxing-cpp), a code from that secret confirms it, and the next sign-in with a code
brings the work menu of their roles."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, unquote, urlparse

from portal_browser import Portal, chromium_fixture, portal_fixture  # noqa: F401
from portal_office import action_form, menu, press, refusal, said, sign_in_staff, sign_out
from portal_qr import read_qr
from selenium.webdriver.common.by import By

from conftest import DEMO_PASSWORD, Platform
from services.identity import totp


async def test_a_new_officer_enrols_totp_from_the_qr_code_and_signs_in_with_it(
    portal: Portal, platform: Platform
) -> None:
    # given a new catalog officer's account, made by the Bureau's administrator, no TOTP yet
    username = f"new.officer{time.time_ns() % 10**9}"
    bureau = await platform.login("bdb.admin")
    status, account, _ = await platform.request(
        "POST",
        "/office/v1/accounts",
        token=bureau,
        json={
            "username": username,
            "password": DEMO_PASSWORD,
            "department": "msa",
            "roles": ["catalog_officer"],
            "display_name": "新同事",
        },
    )
    assert status == 201 and not account["totp_enrolled"], account

    # when they sign in with their password alone
    portal.open("/office/#/drafts")
    sign_in_staff(portal, username, totp_secret=None)

    # then the console opens the enrolment, and offers nothing else
    assert menu(portal) == ["账号安全与动态口令"]
    assert "请先绑定动态口令" in portal.text("#main .work")
    assert not portal.find_all("canvas.qr")

    # when they start, the page shows the secret as a QR code and as text
    press(portal, "begin-totp")
    said(portal)
    scanned = read_qr(portal, "canvas.qr")
    uri = urlparse(scanned.text)
    assert uri.scheme == "otpauth" and uri.netloc == "totp"
    assert unquote(uri.path).endswith(f":{username}")
    secret = parse_qs(uri.query)["secret"][0]
    assert portal.text(".totp-secret").replace(" ", "") == secret
    assert portal.find("canvas.qr").get_attribute("aria-label")
    portal.screenshot("office-totp-enrolment")
    portal.assert_accessible("the TOTP enrolment")

    # a wrong code is refused, in the reader's language, on its field
    code = action_form(portal, "confirm-totp").find_element(By.NAME, "totp_code")
    right = totp.code_at(secret, time.time())
    code.send_keys(f"{(int(right) + 1) % 10**6:06d}")
    press(portal, "confirm-totp")
    assert "请求无效" in refusal(portal, "confirm-totp")
    assert code.get_attribute("aria-invalid") == "true"

    # when they type the authenticator's code (made from the QR code's secret)
    code.clear()
    code.send_keys(totp.code_at(secret, time.time()))
    press(portal, "confirm-totp")

    # then the second factor is on, and the next sign-in needs it and brings their menu
    assert "动态口令已绑定" in said(portal)
    status, found, _ = await platform.request(
        "GET", f"/office/v1/accounts/{account['id']}", token=bureau
    )
    assert status == 200 and found["totp_enrolled"]
    portal.find("#sign-in-again")  # the enrolment's token opens nothing else
    errors = portal.console_errors()
    assert all("/totp/confirm - " in e for e in errors), errors  # the wrong code's 422
    sign_out(portal)
    # the code just used is spent: the sign-in takes the next step's
    sign_in_staff(portal, username, totp_secret=secret)
    assert "目录草稿与退回" in menu(portal)
    assert not portal.console_errors()
