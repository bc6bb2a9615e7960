"""People in the portal's browser tests: signing in on the authorization server's page as a
citizen (optionally acting for an enterprise), and identity numbers that pass their checks."""

from __future__ import annotations

import secrets

from portal_browser import Portal
from selenium.webdriver.common.by import By

from conftest import DEMO_PASSWORD
from runtime import identifiers

_CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def fill_sign_in_page(
    portal: Portal, username: str, *, password: str = DEMO_PASSWORD, enterprise_id: str = ""
) -> None:
    """On the authorization server's sign-in page (already on its way there): sign in, and wait
    until the portal is back and signed in."""
    portal.wait(lambda d: "/oauth2/authorize" in d.current_url, "the sign-in page")
    box = portal.find("#username")
    box.clear()
    box.send_keys(username)
    portal.find("#password").send_keys(password)
    if enterprise_id:
        portal.find("#enterprise_id").send_keys(enterprise_id)
    portal.find("form button[type=submit]").click()
    portal.wait(
        lambda d: "/oauth2/" not in d.current_url or d.find_elements(By.CSS_SELECTOR, ".alert"),
        "back from the sign-in page, or its refusal",
    )
    assert "/oauth2/" not in portal.driver.current_url, portal.text("body")
    portal.wait(lambda d: d.find_element(By.ID, "sign-out").is_displayed(), "signed in")
    portal.wait_rendered()


def sign_in(portal: Portal, username: str, *, password: str = DEMO_PASSWORD) -> None:
    """Click the header's sign-in button and sign in."""
    portal.find("#sign-in").click()
    fill_sign_in_page(portal, username, password=password)


def new_resident_id() -> str:
    """A resident ID number nobody registered yet (Haikou's Longhua district, born in 1990s)."""
    month, day = 1 + secrets.randbelow(12), 1 + secrets.randbelow(28)
    birth = f"199{secrets.randbelow(10)}{month:02d}{day:02d}"
    first17 = f"460106{birth}{100 + secrets.randbelow(900)}"
    return first17 + identifiers.resident_id_check_char(first17)


def new_credit_code() -> str:
    """A unified social credit code of a company registered in Haikou, nobody's yet."""
    organisation8 = "".join(secrets.choice(_CREDIT_ALPHABET) for _ in range(8))
    organisation = organisation8 + identifiers.organisation_code_check_char(organisation8)
    first17 = "91460100" + organisation
    return first17 + identifiers.credit_code_check_char(first17)


def with_wrong_check_character(number: str) -> str:
    """The same number with its last (check) character changed: a typo the check catches."""
    return number[:17] + ("1" if number[17] != "1" else "2")
