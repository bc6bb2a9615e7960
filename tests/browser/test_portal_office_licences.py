# ruff: noqa: RUF001 - Chinese text is written with Chinese (full-width) punctuation
"""Licences in the office console, in Chromium: a licence issuer of the Public Security Bureau
issues a driving licence from the form the licence type's fields make (a wrong ID number is
refused and marked on its field), then suspends, resumes and revokes it, each with a reason;
the status each step leaves is what the licences service says."""

from __future__ import annotations

from portal_browser import Portal, chromium_fixture, portal_fixture  # noqa: F401
from portal_office import (
    action_form,
    menu,
    open_view,
    press,
    refusal,
    said,
    sign_in_staff,
    unexpected_console_errors,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from conftest import Platform, remember_secret, revoke_held_licences
from services.identity import demo as people
from services.licences.demo import sample_fields


def fill(portal: Portal, values: dict[str, str]) -> None:
    form = action_form(portal, "issue")
    for name, value in values.items():
        field = form.find_element(By.NAME, name)
        if field.tag_name == "select":
            Select(field).select_by_value(value)
        else:
            field.clear()
            field.send_keys(value)


async def test_an_issuer_issues_suspends_resumes_and_revokes_a_licence(
    portal: Portal, platform: Platform
) -> None:
    fields = sample_fields("driving_licence", people.CITIZEN.resident_id)
    remember_secret(fields["name"], fields["id_number"], fields["address"])
    # a holder has one driving licence at a time: the citizen's earlier ones are revoked first
    await revoke_held_licences(
        platform,
        "driving_licence",
        holder=await platform.login("demo.citizen", entry="public"),
        issuer=await platform.login("psb.officer"),
    )

    # given the Public Security Bureau's licence issuer, signed in
    portal.open("/office/")
    sign_in_staff(portal, "psb.officer")
    assert "证照签发与管理" in menu(portal)
    open_view(portal, "licences")

    # when they choose the driving licence and fill its form with a wrong ID number
    Select(portal.find("#licence-type")).select_by_value("driving_licence")
    portal.find("form[data-action=choose-type] button").click()
    portal.wait_rendered("licences")
    fill(portal, {**fields, "id_number": fields["id_number"][:-1] + "0"})
    press(portal, "issue")

    # then the service's refusal is shown, and marked on the ID number's field
    refused = refusal(portal, "issue")
    assert "请求无效" in refused and "fields.id_number" in refused, refused
    id_number = action_form(portal, "issue").find_element(By.NAME, "id_number")
    assert id_number.get_attribute("aria-invalid") == "true"
    portal.screenshot("office-licence-issue-refused")
    portal.assert_accessible("the licence form, refused")

    # when the number is corrected, the licence is issued and its page opens
    fill(portal, {"id_number": fields["id_number"]})
    press(portal, "issue")
    portal.wait(lambda d: "/licences/" in d.current_url, "the new licence's page")
    portal.wait_rendered("licences")
    assert "证照已签发" in portal.text("#main .notice")
    assert "有效" in portal.text(".licence-status")
    licence_id = portal.text("#main dl code")
    issuer = await platform.login("psb.officer")

    async def status() -> str:
        code, licence, _ = await platform.request(
            "GET", f"/office/v1/licences/{licence_id}", token=issuer
        )
        assert code == 200, licence
        return str(licence["status"])

    assert await status() == "valid"

    # a change without its reason is stopped in the page
    press(portal, "licence-status", "suspend")
    reason = action_form(portal, "licence-status").find_element(By.NAME, "reason")
    assert reason.get_attribute("aria-invalid") == "true"

    # when suspended, resumed and revoked, each with its reason
    for action, words, expected in (
        ("suspend", "证件遗失，待核实 reported lost", "suspended"),
        ("resume", "已找回 found again", "valid"),
        ("revoke", "驾驶证被依法吊销 revoked by a ruling", "revoked"),
    ):
        form = action_form(portal, "licence-status")
        form.find_element(By.NAME, "reason").send_keys(words)
        press(portal, "licence-status", action)
        said(portal)
        # then the service holds the status the page shows
        assert await status() == expected
        portal.screenshot(f"office-licence-{expected}")
    assert "已吊销" in portal.text(".licence-status")
    assert not portal.find_all("form[data-action=licence-status]"), "nothing follows a revocation"
    portal.assert_accessible("a revoked licence")
    assert not unexpected_console_errors(portal, "/office/v1/licences - ")
