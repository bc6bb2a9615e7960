# ruff: noqa: RUF001 - Chinese text is written with Chinese (full-width) punctuation
"""Oversight in the office console, in Chromium: the Bureau's administrator (also a security
officer) grants a partner system an event type and removes it, checks the audit chain, takes a
security incident from its report through containment to the report for the authority, and
reads the registered applications and the scorecards. What the page shows is what the API
holds afterwards."""

from __future__ import annotations

import time

from portal_browser import Portal, chromium_fixture, portal_fixture  # noqa: F401
from portal_office import (
    action_form,
    follow,
    menu,
    open_view,
    press,
    press_in,
    said,
    sign_in_staff,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from conftest import Platform

PARTNER = "demo.partner"


async def entitled(platform: Platform, token: str) -> list[str]:
    status, page, _ = await platform.request(
        "GET", f"/office/v1/partners/{PARTNER}/entitlements", token=token
    )
    assert status == 200, page
    return [e["event_type"] for e in page["entitlements"]]


async def test_the_bureau_oversees_partners_audit_incidents_applications_and_scores(
    portal: Portal, platform: Platform
) -> None:
    bureau = await platform.login("bdb.admin")
    status, catalogue, _ = await platform.request(
        "GET", "/office/v1/partners/event-types", token=bureau
    )
    assert status == 200, catalogue
    held = await entitled(platform, bureau)
    event = next(e["event_type"] for e in catalogue["event_types"] if e["event_type"] not in held)
    portal.open("/office/")
    sign_in_staff(portal, "bdb.admin")
    for entry in ("合作方授权", "审计链核验", "安全事件", "注册应用", "共享评价"):
        assert entry in menu(portal)

    # partner entitlements: grant one event type, then remove it
    open_view(portal, "partners")
    Select(action_form(portal, "grant").find_element(By.NAME, "event_type")).select_by_value(event)
    press(portal, "grant")
    assert event in said(portal)
    assert event in await entitled(platform, bureau)
    assert event in portal.text("#main table")
    portal.screenshot("office-partners")
    portal.assert_accessible("the partner entitlements")
    row = next(r for r in portal.find_all("#main tbody tr") if event in r.text)
    press_in(portal, row.find_element(By.CSS_SELECTOR, "form"), "remove")
    assert event in said(portal)
    assert event not in await entitled(platform, bureau)

    # the audit chain: checked whole, its records listed
    open_view(portal, "audit")
    press(portal, "verify")
    assert "审计链完整" in said(portal)
    status, verified, _ = await platform.request(
        "POST", "/office/v1/audit/verify", token=bureau, json={}
    )
    assert status == 200 and verified["intact"]
    assert "keys.key.created" in portal.text("#main table")
    portal.screenshot("office-audit")
    portal.assert_accessible("the audit chain")

    # an incident: reported, contained, reported to the authority, its report made
    open_view(portal, "incidents")
    title = f"演练：证照签名密钥疑似泄露 drill {time.time_ns()}"
    form = action_form(portal, "report-incident")
    form.find_element(By.NAME, "title").send_keys(title)
    form.find_element(By.NAME, "description").send_keys("演练 a rehearsal")
    Select(form.find_element(By.NAME, "severity")).select_by_value("high")
    press(portal, "report-incident")
    portal.wait(lambda d: "/incidents/" in d.current_url, "the incident's page")
    portal.wait_rendered("incidents")
    assert portal.text(".incident-title") == title
    assert portal.text(".incident-stage") == "已报告"
    for stage, words in (
        ("contained", "已吊销密钥并轮换 key rotated"),
        ("authority_reported", "已报告网信部门 reported"),
    ):
        form = action_form(portal, "advance")
        Select(form.find_element(By.NAME, "stage")).select_by_value(stage)
        form.find_element(By.NAME, "note").send_keys(words)
        press(portal, "advance")
        said(portal)
        assert words in portal.text("#main table")
    assert portal.text(".incident-stage") == "已向主管部门报告"
    press(portal, "incident-report")
    said(portal)
    assert title in portal.text("pre.report")
    assert len(portal.text(".digest")) == 64
    portal.screenshot("office-incident")
    portal.assert_accessible("an incident")
    status, page, _ = await platform.request("GET", "/office/v1/incidents", token=bureau)
    mine = next(i for i in page["incidents"] if i["title"] == title)
    assert mine["stage"] == "authority_reported"
    follow(portal, "返回列表")

    # the registered applications and the scorecards
    open_view(portal, "applications")
    assert "smartcity-office" in portal.text("#main table")
    portal.assert_accessible("the applications")
    open_view(portal, "scorecards")
    assert "市公安局" in portal.text("#main table")
    portal.screenshot("office-scorecards")
    portal.assert_accessible("the scorecards")
    assert not portal.console_errors()


async def test_an_auditor_reads_but_sees_no_work_of_other_roles(
    portal: Portal, platform: Platform
) -> None:
    portal.open("/office/")
    sign_in_staff(portal, "bdb.auditor")
    entries = menu(portal)
    assert "审计链核验" in entries and "注册应用" in entries
    assert not {"安全事件", "合作方授权", "目录审核与发布", "证照签发与管理"} & set(entries)
    # a view of another role, reached by its address, says so and calls nothing
    portal.script("location.hash = '#/incidents'")
    portal.wait_rendered("incidents")
    assert "不包含这项工作" in portal.text("#main .notice.error")
    assert not portal.find_all("form[data-action=report-incident]")

    # in English, at 200% zoom (a 1280 px window is 640 CSS pixels wide), in the elder mode
    portal.script("location.hash = '#/audit'")
    portal.wait_rendered("audit")
    portal.find("#lang-switch").click()
    portal.wait(lambda d: "Audit chain check" in menu(portal), "the menu in English")
    portal.viewport(640, scale=2)
    portal.find("#elder-switch").click()
    portal.wait_rendered("audit")
    assert portal.horizontal_overflow() == 0, "the tables scroll inside their regions"
    press(portal, "verify")
    assert "The chain is intact" in said(portal)
    portal.screenshot("office-audit-en-elder-zoom")
    portal.assert_accessible("the audit chain, in English, elder mode, 200% zoom")
    assert not portal.console_errors()
