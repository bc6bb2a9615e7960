"""The public's demands for open data in the office console, in Chromium: a citizen asks
through the API; the Bureau routes the demand to a department with days to answer; that
department's catalog officer answers it, and the public list shows the answer."""

from __future__ import annotations

import time

from portal_browser import Portal, chromium_fixture, portal_fixture  # noqa: F401
from portal_office import open_view, press_in, said, sign_in_staff, sign_out
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from conftest import Platform


async def test_the_bureau_routes_a_demand_and_the_department_answers_it(
    portal: Portal, platform: Platform
) -> None:
    # given a citizen's demand for data
    citizen = await platform.login("demo.citizen", entry="public")
    title = f"各区养老机构床位 care home beds {time.time_ns()}"
    status, demand, _ = await platform.request(
        "POST",
        "/public/v1/catalog/demands",
        token=citizen,
        json={"title": title, "description": "用于选择养老机构 to choose a care home"},
    )
    assert status == 201, demand

    # when the Bureau's administrator routes it to the social security bureau, 10 days to answer
    portal.open("/office/")
    sign_in_staff(portal, "bdb.admin")
    open_view(portal, "demands")
    panel = portal.find(f"[data-demand='{demand['id']}']")
    assert title in panel.text
    form = panel.find_element(By.CSS_SELECTOR, "form[data-action=route]")
    Select(form.find_element(By.NAME, "department")).select_by_value("hrss")
    days = form.find_element(By.NAME, "due_days")
    days.clear()
    days.send_keys("10")
    portal.assert_accessible("the demands to route")
    press_in(portal, form, "route")
    assert "市人力资源和社会保障局" in said(portal)
    sign_out(portal)

    # then the department's officer finds it to answer, and answers it
    sign_in_staff(portal, "hrss.officer")
    open_view(portal, "demands")
    panel = portal.find(f"[data-demand='{demand['id']}']")
    assert "市人力资源和社会保障局" in panel.text
    form = panel.find_element(By.CSS_SELECTOR, "form[data-action=answer]")
    Select(form.find_element(By.NAME, "outcome")).select_by_value("planned")
    answer = "将于明年第一季度开放 to open in the first quarter"
    form.find_element(By.NAME, "answer").send_keys(answer)
    portal.screenshot("office-demand-answer")
    portal.assert_accessible("a demand to answer")
    press_in(portal, form, "answer")
    assert "已答复" in said(portal)

    # and the public list of demands shows the answer
    status, page, _ = await platform.request("GET", "/public/v1/catalog/demands")
    answered = next(d for d in page["demands"] if d["id"] == demand["id"])
    assert answered["state"] == "answered" and answered["answer"] == answer
    assert not portal.console_errors()
