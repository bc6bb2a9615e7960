"""Share requests in the office console, in Chromium: the providing department's approver
finds the requests another department and a partner system made through the API, each with
its deadline, grants one with fewer data items and fewer days than asked, and refuses the
other with a reason; a request past its deadline wears an overdue badge."""

from __future__ import annotations

import time
from typing import Any

from portal_browser import Portal, chromium_fixture, portal_fixture  # noqa: F401
from portal_office import action_form, follow, open_view, press, said, sign_in_staff
from selenium.webdriver.common.by import By

from conftest import DEMO_PASSWORD, Platform, publish, resource_body

REQUESTS = "/office/v1/exchange/share-requests"


async def ask(platform: Platform, *, entry: str, token: str, body: dict[str, Any]) -> Any:
    status, made, _ = await platform.request(
        "POST", f"/{entry}/v1/exchange/share-requests", token=token, json=body
    )
    assert status == 201, made
    return made


def body_of(request: dict[str, Any]) -> dict[str, Any]:
    keep = ("resource_id", "purpose", "legal_basis", "fields", "duration_days")
    return {name: request[name] for name in keep}


async def test_an_approver_grants_and_refuses_share_requests_with_their_deadlines(
    portal: Portal, platform: Platform
) -> None:
    # given a resource of the Public Security Bureau in the share catalog
    word = f"share{time.time_ns()}"
    resource = await publish(platform, resource_body("psb", name=f"机动车 {word}"), open_=False)
    fields = [item["name"] for item in resource["data_items"]]
    # and a request for it from the Human Resources and Social Security Bureau
    hrss = await platform.login("hrss.officer")
    by_department = await ask(
        platform,
        entry="office",
        token=hrss,
        body={
            "resource_id": resource["id"],
            "purpose": f"核对参保人车辆 {word}",
            "legal_basis": "《海口市智慧城市促进条例》第十四条",
            "fields": fields,
            "duration_days": 90,
        },
    )
    # and one from a partner system
    status, partner, _ = await platform.request(
        "POST",
        "/partner/v1/login",
        json={"username": "demo.partner", "password": DEMO_PASSWORD},
    )
    assert status == 200, partner
    by_partner = await ask(
        platform,
        entry="partner",
        token=partner["access_token"],
        body={
            "resource_id": resource["id"],
            "purpose": f"路网规划 {word}",
            "legal_basis": "合作协议第三条",
            "fields": fields[:1],
            "duration_days": 30,
        },
    )

    # when the bureau's approver signs in and opens the share requests
    portal.open("/office/")
    sign_in_staff(portal, "psb.officer")
    open_view(portal, "share-requests")

    # then both wait for the department's decision, each with its deadline and days left
    to_decide = portal.text("[data-queue='to-decide'] table")
    assert to_decide.count(resource["name"]) >= 2
    assert "市人力资源和社会保障局" in to_decide and "合作方 demo.partner" in to_decide
    assert "剩 4 天" in to_decide or "剩 5 天" in to_decide
    assert "已超期" not in to_decide
    portal.screenshot("office-share-requests")
    portal.assert_accessible("the share requests")

    # when the approver opens the department's request and grants one item for 30 days
    portal.script(f"location.hash = '#/share-requests/{by_department['id']}'")
    portal.wait_rendered("share-requests")
    assert by_department["purpose"] in portal.text("#main dl")
    form = action_form(portal, "decide")
    for box in form.find_elements(By.CSS_SELECTOR, "input[type=checkbox]")[1:]:
        box.click()  # keep only the first data item
    days = form.find_element(By.NAME, "duration_days")
    days.clear()
    days.send_keys("30")
    portal.assert_accessible("the decision form")
    press(portal, "decide", "grant")
    assert "已同意" in said(portal)

    # then the exchange holds the grant as decided
    bureau = await platform.login("bdb.admin")
    status, decided, _ = await platform.request(
        "GET", f"{REQUESTS}/{by_department['id']}", token=bureau
    )
    assert status == 200 and decided["state"] == "granted"
    assert decided["grant"]["fields"] == fields[:1]
    portal.screenshot("office-share-request-granted")

    # when the approver refuses the partner's request: a reason is required, then it is refused
    portal.script(f"location.hash = '#/share-requests/{by_partner['id']}'")
    portal.wait_rendered("share-requests")
    press(portal, "decide", "refuse")
    reason = portal.find("form[data-action=decide] textarea")
    assert reason.get_attribute("aria-invalid") == "true"
    reason.send_keys("合作协议未覆盖此数据 the agreement does not cover it")
    press(portal, "decide", "refuse")
    assert "不予共享" in said(portal)
    status, refused, _ = await platform.request(
        "GET", f"{REQUESTS}/{by_partner['id']}", token=bureau
    )
    assert refused["state"] == "refused" and "合作协议" in refused["reason"]
    assert not portal.find_all("form[data-action=decide]")
    follow(portal, "返回列表")

    # given a third request still pending
    msa = await platform.login("msa.officer")
    await ask(
        platform,
        entry="office",
        token=msa,
        body={**body_of(by_department), "purpose": f"市场监管 {word}"},
    )
    # when a week passes (the page's clock), a request still pending is shown overdue
    portal.script("const now = Date.now; Date.now = () => now() + 7 * 86400000;")
    portal.script("location.hash = '#/scorecards'")
    portal.wait_rendered("scorecards")
    portal.script("location.hash = '#/share-requests'")
    portal.wait_rendered("share-requests")
    overdue = portal.find_all("[data-queue='to-decide'] .badge.overdue")
    assert overdue and overdue[0].text == "已超期"
    portal.screenshot("office-share-requests-overdue")

    assert not portal.console_errors()
