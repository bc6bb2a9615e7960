"""What the office console's browser journeys share: staff signing in with their TOTP code and
out again, the menu, the queues' links and the action forms (`form[data-action=...]`)."""

from __future__ import annotations

import time

from portal_browser import Portal
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from conftest import DEMO_PASSWORD
from services.identity import demo, totp


def _submit_sign_in(portal: Portal, username: str, code: str) -> bool:
    """Fill and send the authorization server's form; True when it sent the reader back."""
    portal.find("#username").clear()
    portal.find("#username").send_keys(username)
    portal.find("#password").send_keys(DEMO_PASSWORD)
    if code:
        portal.find("#totp_code").send_keys(code)
    portal.find("form button[type=submit]").click()
    portal.wait(
        lambda d: "/oauth2/" not in d.current_url or d.find_elements(By.CSS_SELECTOR, ".alert"),
        "back from the sign-in page, or its refusal",
    )
    if "/oauth2/" not in portal.driver.current_url:
        return True
    # the spent code's refusal (a 401 page) is expected: not a console error of the portal
    assert all("/oauth2/authorize" in error for error in portal.console_errors())
    return False


def sign_in_staff(portal: Portal, username: str, *, totp_secret: str | None = "") -> None:
    """Sign in at the console's sign-in button with the account's TOTP code (its demo secret
    unless `totp_secret` says; None: the password alone). A code is good once, and never one
    older than the last used: when this step's and the next step's were both spent (by the API
    logins of the same test), the sign-in waits for the next step."""
    secret = demo.totp_secret(DEMO_PASSWORD, username) if totp_secret == "" else totp_secret
    portal.find("#sign-in").click()
    portal.wait(lambda d: "/oauth2/authorize" in d.current_url, "the sign-in page")
    if secret is None:
        assert _submit_sign_in(portal, username, ""), portal.text("body")
    else:
        signed_in = False
        for attempt in range(4):
            if attempt == 2:  # both spent: wait for the next step to begin
                time.sleep(totp.STEP_SECONDS - time.time() % totp.STEP_SECONDS + 1)
            ahead = totp.STEP_SECONDS * (attempt % 2)
            signed_in = _submit_sign_in(portal, username, totp.code_at(secret, time.time() + ahead))
            if signed_in:
                break
        assert signed_in, portal.text("body")
    portal.wait(lambda d: d.find_element(By.ID, "sign-out").is_displayed(), "signed in")
    portal.wait_rendered()


def sign_out(portal: Portal) -> None:
    """Sign out here and at the authorization server, which sends the reader back to a new
    page (the old one's marker gone)."""
    portal.script("window.beforeSignOut = true")
    portal.find("#sign-out").click()
    portal.wait(
        lambda d: d.execute_script(
            "return window.beforeSignOut === undefined && document.body.dataset.ready === 'true'"
        ),
        "back from the authorization server's sign-out",
    )
    portal.wait(lambda d: d.find_element(By.ID, "sign-in").is_displayed(), "signed out")
    portal.wait_rendered()


def menu(portal: Portal) -> list[str]:
    """The menu's entries as the officer reads them (without the roles line)."""
    return [a.text.split("\n")[0] for a in portal.find_all("nav.menu a")]


def open_view(portal: Portal, view: str) -> None:
    """Follow the menu's link to a view, as a keyboard user would (focus, then Enter)."""
    link = portal.find(f'nav.menu a[href="#/{view}"]')
    link.send_keys("\n")
    portal.wait_rendered(view)


def follow(portal: Portal, text: str, *, within: str = "#main") -> None:
    """Click the link whose words contain `text`, and wait for the view it opens."""
    link = portal.wait(
        lambda d: next(
            (a for a in d.find_elements(By.CSS_SELECTOR, f"{within} a") if text in a.text), None
        ),
        f"a link {text!r}",
    )
    link.click()
    portal.wait_rendered()


def action_form(portal: Portal, action: str) -> WebElement:
    return portal.find(f'form[data-action="{action}"]')


def press(portal: Portal, action: str, button: str = "") -> None:
    """Press a form's button (`button`: the action of one of several, e.g. return)."""
    form = action_form(portal, action)
    which = f'button[data-do="{button or action}"]'
    # the last action's notice goes first, so that `said` waits for this one's
    portal.script("document.querySelectorAll('#main .notice').forEach(n => n.remove())")
    form.find_element(By.CSS_SELECTOR, which).click()


def press_in(portal: Portal, form: WebElement, button: str) -> None:
    """`press` for one form among several of the same action (a row's, a panel's)."""
    portal.script("document.querySelectorAll('#main .notice').forEach(n => n.remove())")
    form.find_element(By.CSS_SELECTOR, f'button[data-do="{button}"]').click()


def said(portal: Portal) -> str:
    """What the last action said: its notice (at the top of the work area, or in its form)."""
    return str(
        portal.wait(
            lambda d: d.find_element(By.CSS_SELECTOR, "#main .notice[role=status]").text,
            "the action's notice",
        )
    )


def refusal(portal: Portal, action: str) -> str:
    """The refusal shown inside a form (role=alert)."""
    form = action_form(portal, action)
    return str(
        portal.wait(
            lambda d: form.find_element(By.CSS_SELECTOR, ".notice.error").text,
            f"the refusal in the {action} form",
        )
    )


def unexpected_console_errors(portal: Portal, *expected: str) -> list[str]:
    """The console's errors but for the refusals a test provoked (Chromium logs every answer
    of 4xx, e.g. `.../office/v1/licences - Failed to load resource: ... 422`)."""
    return [e for e in portal.console_errors() if not any(x in e for x in expected)]
