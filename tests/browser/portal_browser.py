"""The portal in a real browser: Debian's Chromium, driven by Selenium through Debian's
chromedriver (never a downloaded browser), with axe-core checking every page.

A test module takes the fixtures by importing them (a second conftest.py would shadow the
`conftest` module the other tests import from):

    from portal_browser import Portal, chromium_fixture, portal_fixture  # noqa: F401

`make browser` installs Chromium, chromedriver, a Chinese font and axe-core (from
tests/browser/package-lock.json); without them these tests skip and say which is missing.
Screenshots go to artefacts/browser/ (or $SMARTCITY_BROWSER_ARTEFACTS), which git ignores.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import Platform

try:
    from selenium import webdriver
    from selenium.common.exceptions import (
        StaleElementReferenceException,
        TimeoutException,
        WebDriverException,
    )
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webelement import WebElement
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - the dev extras bring it
    webdriver = None

HERE = Path(__file__).parent
REPO = HERE.parent.parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
ARTEFACTS = Path(os.environ.get("SMARTCITY_BROWSER_ARTEFACTS", REPO / "artefacts" / "browser"))
# Every wait is bounded: a page that never gets there fails the test, it does not hang it.
WAIT_SECONDS = 15.0
# axe's impacts that fail a page (WCAG 2.1 AA): serious and critical.
FAILING_IMPACTS = frozenset({"serious", "critical"})
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def _missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if webdriver is None:
        return "selenium is not installed (make install)"
    for program, package in (("chromium", "chromium"), ("chromedriver", "chromium-driver")):
        if shutil.which(program) is None:
            return f"{program} is not installed: run `make browser` (Debian's {package})"
    if not AXE.is_file():
        return "axe-core is not installed: run `make browser` (npm ci in tests/browser)"
    return None


@dataclass
class Portal:
    """A Chromium tab on a running platform's gateway, and what the tests ask of it."""

    driver: Any
    base_url: str

    def open(self, path: str) -> None:
        self.driver.get(f"{self.base_url}{path}")
        self.wait_rendered()

    def wait(
        self, condition: Callable[[Any], Any], what: str, timeout: float = WAIT_SECONDS
    ) -> Any:
        try:
            # a view re-rendering replaces its elements: look again
            wait = WebDriverWait(
                self.driver, timeout, ignored_exceptions=(StaleElementReferenceException,)
            )
            return wait.until(condition)
        except TimeoutException:
            raise AssertionError(f"not within {timeout}s: {what}") from None

    def wait_rendered(self, view: str | None = None) -> None:
        """The view of the page's current URL is on screen (the shell clears aria-busy and
        names the route it rendered when it is done)."""

        def rendered(driver: Any) -> bool:
            main = driver.find_elements(By.ID, "main")
            if not main or main[0].get_attribute("aria-busy") is not None:
                return False
            if view is not None and main[0].get_attribute("data-view") != view:
                return False
            # the view shown is the one of the current URL, not the one before a hash change
            return bool(
                driver.execute_script(
                    "return document.body.dataset.ready === 'true' && "
                    "document.getElementById('main').dataset.route === location.hash"
                )
            )

        self.wait(rendered, f"the view {view or ''} rendered")

    def find(self, css: str) -> WebElement:
        return self.wait(lambda d: d.find_element(By.CSS_SELECTOR, css), f"an element {css!r}")

    def find_all(self, css: str) -> list[WebElement]:
        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def text(self, css: str) -> str:
        return str(self.find(css).text)

    def script(self, source: str, *args: Any) -> Any:
        return self.driver.execute_script(source, *args)

    def viewport(self, width: int, height: int = 900, *, scale: float = 1.0) -> None:
        """Render as a screen `width` CSS pixels wide (scale 2 at width 640 is a 1280 px
        window at 200% zoom)."""
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": width < 600},
        )

    def reset_viewport(self) -> None:
        self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    def horizontal_overflow(self) -> int:
        """How many CSS pixels the page is wider than the screen (0: no sideways scrolling)."""
        return int(
            self.script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
        )

    def accessibility_violations(self) -> list[dict[str, Any]]:
        """axe-core's serious and critical WCAG 2.1 A/AA violations on the page as it is."""
        if not self.script("return typeof window.axe === 'object'"):
            self.script(AXE.read_text())
        violations = self.driver.execute_async_script(
            """
            const done = arguments[arguments.length - 1];
            axe.run(document, {runOnly: {type: 'tag', values: arguments[0]},
                               resultTypes: ['violations']})
              .then(r => done(r.violations.map(v => ({
                 id: v.id, impact: v.impact, help: v.help,
                 nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))))
              .catch(e => done([{id: 'axe-failed', impact: 'critical', help: String(e)}]));
            """,
            AXE_TAGS,
        )
        return [v for v in violations if v["impact"] in FAILING_IMPACTS]

    def assert_accessible(self, page: str) -> None:
        violations = self.accessibility_violations()
        assert not violations, f"{page}: " + json.dumps(violations, ensure_ascii=False, indent=1)

    def console_errors(self) -> list[str]:
        """The browser console's errors since the last call (CSP refusals show up here)."""
        return [
            entry["message"]
            for entry in self.driver.get_log("browser")
            if entry["level"] == "SEVERE" and "favicon" not in entry["message"]
        ]

    def screenshot(self, name: str, *, max_height: int = 2400) -> Path:
        """The whole page (up to `max_height` CSS pixels), as artefacts/browser/NAME.png."""
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTEFACTS / f"{name}.png"
        size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], max_height)}
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True, "clip": {**clip, "scale": 1}},
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def local_storage(self) -> dict[str, str]:
        return dict(
            self.script(
                "return Object.fromEntries(Object.keys(localStorage)"
                ".map(k => [k, localStorage.getItem(k)]))"
            )
        )

    def forget_preferences(self) -> None:
        self.script("localStorage.clear(); sessionStorage.clear();")


@pytest.fixture(scope="session", name="chromium")
def chromium_fixture() -> Iterator[Any]:
    """One headless Chromium for the session (Debian's, through Debian's chromedriver)."""
    reason = _missing()
    if reason:
        pytest.skip(f"browser tests skipped: {reason}")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--lang=zh-CN",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=shutil.which("chromedriver"))
    try:
        driver = webdriver.Chrome(service=service, options=options)
    except WebDriverException as exc:
        pytest.fail(f"Chromium did not start: {exc.msg}")
    driver.set_page_load_timeout(WAIT_SECONDS)
    driver.set_script_timeout(60)  # axe on a full page
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(name="portal")
def portal_fixture(chromium: Any, platform: Platform) -> Iterator[Portal]:
    """The browser on the platform's portal, with no remembered preferences."""
    # the issuer's origin: the sign-in sends the reader back there (redirect_uri = issuer + /)
    page = Portal(chromium, platform.settings.issuer)
    page.open("/")
    page.forget_preferences()
    page.console_errors()  # start each test with an empty console
    yield page
    page.reset_viewport()
    page.forget_preferences()
