# ruff: noqa: RUF001 - Chinese text is written with Chinese (full-width) punctuation
"""The catalog's work in the office console, in Chromium: a department's officer signs in with
their TOTP code and submits a draft; the Big Data Bureau reviews it, confirms and publishes it
to the open catalog, which the public search then finds; a revision of a published resource
shows the Bureau its version diff, and a return reaches the department with its comment. A step
the resource no longer allows is refused with the gateway's words in Chinese."""

from __future__ import annotations

import time

from portal_browser import Portal, chromium_fixture, portal_fixture  # noqa: F401
from portal_office import (
    action_form,
    follow,
    menu,
    open_view,
    press,
    refusal,
    said,
    sign_in_staff,
    sign_out,
    unexpected_console_errors,
)
from selenium.webdriver.common.by import By

from conftest import Platform, act, create, open_body, publish


async def test_staff_take_a_draft_to_the_open_catalog_and_the_public_finds_it(
    portal: Portal, platform: Platform
) -> None:
    # given an open-data draft of the Human Resources and Social Security Bureau
    word = f"console{time.time_ns()}"
    officer = await platform.login("hrss.officer")
    draft = await create(platform, officer, open_body("hrss", word))

    # when its catalog officer signs in with their TOTP code and opens it from the drafts queue
    portal.open("/office/")
    sign_in_staff(portal, "hrss.officer")
    assert "目录草稿与退回" in menu(portal) and "目录审核与发布" not in menu(portal)
    open_view(portal, "drafts")
    assert draft["code"] in portal.text("[data-queue='draft returned'] table")
    follow(portal, word)
    assert portal.text(".resource-name") == draft["name"]
    assert "第一版" in portal.text(".diff")
    portal.screenshot("office-resource-draft")
    portal.assert_accessible("a draft's page")

    # and submits it for review
    press(portal, "submit")
    assert "待审核" in said(portal)
    assert "待审核" in portal.text(".resource-state")
    sign_out(portal)

    # then the Bureau's administrator finds it in the review queue, confirms and publishes it
    sign_in_staff(portal, "bdb.admin")
    open_view(portal, "review")
    assert draft["code"] in portal.text("[data-queue='submitted'] table")
    follow(portal, word)
    press(portal, "decide", "confirm")
    assert "已确认" in said(portal)
    form = action_form(portal, "publish")
    assert form.find_element(By.NAME, "open_catalog").is_selected(), "open data: listed by default"
    portal.screenshot("office-review-publish")
    portal.assert_accessible("the review page, confirmed")
    press(portal, "publish")
    assert "已发布" in said(portal)
    state = portal.text(".resource-state")
    assert "在开放目录" in state and "在共享目录" in state

    # and the public search of the open catalog finds it
    status, found, _ = await platform.request("GET", "/public/v1/catalog/open", params={"q": word})
    assert status == 200 and [r["id"] for r in found["resources"]] == [draft["id"]]
    portal.open(f"/#/search?q={word}")
    results = portal.wait(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".result h2 a"), "the search results"
    )
    assert [r.text for r in results] == [draft["name"]]
    assert not portal.console_errors()


async def test_the_bureau_reads_a_revisions_diff_and_returns_it_with_a_comment(
    portal: Portal, platform: Platform
) -> None:
    # given a published resource whose department revised its summary and submitted it again
    word = f"revised{time.time_ns()}"
    published = await publish(platform, open_body("hrss", word))
    officer = await platform.login("hrss.officer")
    status, revised, _ = await platform.request(
        "PATCH",
        f"/office/v1/catalog/resources/{published['id']}",
        token=officer,
        json={"summary": "每小时更新的停车场泊位 Spaces, updated every hour"},
    )
    assert status == 200 and revised["version"] == 2, revised
    assert (await act(platform, officer, published["id"], "submit"))[0] == 200

    # when the Bureau opens it for review
    portal.open("/office/")
    sign_in_staff(portal, "bdb.admin")
    open_view(portal, "review")
    follow(portal, word)

    # then the page shows what changed from version 1 to version 2
    diff = portal.text(".diff")
    assert "第 1 版到第 2 版" in diff
    assert "summary" in diff and "每小时更新的停车场泊位" in diff
    assert portal.find(".diff del").text == published["summary"]
    portal.screenshot("office-review-diff")
    portal.assert_accessible("the review page with a diff")

    # a return without a comment is stopped in the page, naming the field
    press(portal, "decide", "return")
    comment = portal.find("form[data-action=decide] textarea")
    assert comment.get_attribute("aria-invalid") == "true"
    assert portal.driver.switch_to.active_element == comment

    # when a colleague returns it meanwhile, confirming it is refused in the reader's language
    bureau = await platform.login("bdb.admin")
    why = f"请说明更新频率 say how often it is updated {word}"
    assert (await act(platform, bureau, published["id"], "return", {"comment": why}))[0] == 200
    press(portal, "decide", "confirm")
    refused = refusal(portal, "decide")
    assert "与当前状态冲突" in refused and "资源当前为已退回，不能确认" in refused, refused
    portal.screenshot("office-refusal")
    portal.assert_accessible("a refused step")
    assert not unexpected_console_errors(portal, "/confirm - ")
    sign_out(portal)

    # then the department's officer finds it among their returns, with the Bureau's comment
    sign_in_staff(portal, "hrss.officer")
    open_view(portal, "drafts")
    assert published["code"] in portal.text("[data-queue='draft returned'] table")
    follow(portal, word)
    assert "已退回" in portal.text(".resource-state")
    assert why in portal.text(".steps")
    assert action_form(portal, "submit").is_displayed()
    assert not portal.console_errors()
