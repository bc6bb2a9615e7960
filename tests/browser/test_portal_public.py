"""The public portal and the office console in Chromium: the open catalog found, read and
exported without signing in, the elder-friendly mode and the English switch remembered, full
keyboard use, a 360 px phone and 200% zoom, and axe-core finding no serious or critical
violation on any page."""

from __future__ import annotations

from urllib.parse import urlsplit

from portal_browser import Portal, chromium_fixture, portal_fixture  # noqa: F401
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import Platform

# in the demo data's open catalog (services/catalog/demo.py)
SOCIAL_SECURITY = "社会保障卡发放统计"


def search(portal: Portal, words: str) -> list[str]:
    """Type `words` in the search box, press Enter, and read the results' names."""
    box = portal.find("#filter-q")
    box.clear()
    box.send_keys(words, Keys.ENTER)
    portal.wait(
        lambda d: (
            "q=" in d.current_url
            and d.find_element(By.ID, "main").get_attribute("aria-busy") is None
        ),
        "the search ran",
    )
    portal.wait(lambda d: d.find_element(By.ID, "result-status").text, "the results counted")
    return [a.text for a in portal.find_all(".result h2 a")]


async def test_catalog_search_leads_to_a_dataset_page_with_its_exports(
    portal: Portal, platform: Platform
) -> None:
    # given the public portal, nobody signed in
    portal.open("/")
    assert portal.script("return document.documentElement.lang") == "zh-CN"
    assert portal.text("h1") == "开放数据目录"
    portal.screenshot("catalog")
    portal.assert_accessible("the open catalog")

    # when a reader searches for social security and opens the dataset found
    names = search(portal, "社保")
    assert any(SOCIAL_SECURITY in name for name in names), names
    next(a for a in portal.find_all(".result h2 a") if SOCIAL_SECURITY in a.text).click()
    portal.wait_rendered("dataset")

    # then its page shows the metadata, the data items and the exports
    assert SOCIAL_SECURITY in portal.text("h1")
    meta = portal.text("dl.meta")
    for label in ("资源代码", "提供部门", "更新周期", "每月", "开放类型"):
        assert label in meta, meta
    assert portal.find_all("table tbody tr"), "the data items are listed"
    portal.screenshot("dataset")
    portal.assert_accessible("a dataset page")
    links = {a.text: a.get_attribute("href") for a in portal.find_all("section a.button")}
    assert len(links) == 2 and all("下载" in text for text in links), links
    kinds = []
    for href in links.values():
        target = urlsplit(href)
        assert target.netloc == urlsplit(platform.settings.issuer).netloc, "no other origin"
        status, body, headers = await platform.request("GET", f"{target.path}?{target.query}")
        assert status == 200, body
        kinds.append(headers["Content-Type"].split(";")[0])
        assert "社会保障卡" in (body if isinstance(body, bytes) else str(body).encode()).decode()
    assert sorted(kinds) == ["application/ld+json", "text/csv"]
    assert not portal.console_errors()


def test_filters_narrow_the_search_and_more_results_load_on_request(portal: Portal) -> None:
    portal.open("/#/search?update_cycle=monthly")
    portal.find(".result")
    names = [a.text for a in portal.find_all(".result h2 a")]
    assert names and all(SOCIAL_SECURITY in n for n in names), names
    assert portal.find("#filter-update_cycle").get_attribute("value") == "monthly"
    portal.open("/#/search?q=zzzzqqq")
    assert "没有找到" in portal.text("#result-status")
    assert not portal.console_errors()


def test_elder_mode_and_english_are_remembered_and_nothing_else_is_stored(
    portal: Portal,
) -> None:
    # given the catalog in its default look
    portal.open("/")
    normal_size = portal.script(
        "return parseFloat(getComputedStyle(document.documentElement).fontSize)"
    )

    # when the reader turns the elder-friendly mode on and reloads
    portal.find("#elder-switch").click()
    portal.wait(
        lambda d: "elder" in d.find_element(By.TAG_NAME, "html").get_attribute("class"),
        "elder mode",
    )
    portal.open("/")

    # then it is still on: larger text, fewer results per page, the switch says so
    assert "elder" in portal.find("html").get_attribute("class")
    assert portal.find("#elder-switch").get_attribute("aria-pressed") == "true"
    elder_size = portal.script(
        "return parseFloat(getComputedStyle(document.documentElement).fontSize)"
    )
    assert elder_size >= normal_size * 1.3
    portal.screenshot("catalog-elder")
    portal.assert_accessible("the open catalog, elder-friendly")
    portal.find(".result h2 a").click()
    portal.wait_rendered("dataset")
    portal.screenshot("dataset-elder")
    portal.assert_accessible("a dataset page, elder-friendly")
    portal.open("/#/demands")
    portal.screenshot("demands-elder")
    portal.assert_accessible("the demands page, elder-friendly")
    portal.open("/")

    # when the reader switches to English and reloads
    portal.find("#lang-switch").click()
    portal.wait(lambda d: d.find_element(By.TAG_NAME, "h1").text == "Open data catalog", "English")
    portal.open("/")
    assert portal.script("return document.documentElement.lang") == "en"
    assert portal.text("h1") == "Open data catalog"
    assert portal.find("#lang-switch").text == "中文"
    portal.find("#elder-switch").click()  # elder mode off again, English stays
    portal.wait(
        lambda d: "elder" not in d.find_element(By.TAG_NAME, "html").get_attribute("class"),
        "elder off",
    )
    portal.screenshot("catalog-en")
    portal.assert_accessible("the open catalog in English")
    # only the two preferences are remembered: never a token
    assert portal.local_storage() == {"smartcity.lang": "en", "smartcity.elder": "off"}
    assert not portal.console_errors()


def test_keyboard_alone_skips_to_the_content_and_searches(portal: Portal) -> None:
    portal.open("/")
    body = portal.find("body")
    body.send_keys(Keys.TAB)
    skip = portal.driver.switch_to.active_element
    assert skip.get_attribute("class") == "skip-link"
    assert skip.is_displayed(), "the skip link shows when focused"
    skip.send_keys(Keys.ENTER)
    portal.wait(lambda d: d.switch_to.active_element.get_attribute("id") == "main", "focus in main")
    # tab to the search box, type, Enter: results, and a result's link opens with Enter
    active = portal.driver.switch_to.active_element
    for _ in range(10):
        active.send_keys(Keys.TAB)
        active = portal.driver.switch_to.active_element
        if active.get_attribute("id") == "filter-q":
            break
    assert active.get_attribute("id") == "filter-q", "the search box is reachable by Tab"
    active.send_keys("社保", Keys.ENTER)
    portal.wait(lambda d: "q=" in d.current_url, "the search in the URL")
    portal.wait_rendered("search")
    link = next(a for a in portal.find_all(".result h2 a") if SOCIAL_SECURITY in a.text)
    link.send_keys(Keys.ENTER)
    portal.wait_rendered("dataset")
    # the new page's heading has the focus, so a screen reader announces it
    assert portal.driver.switch_to.active_element.tag_name == "h1"


def test_the_pages_fit_a_360_px_phone_and_200_percent_zoom(portal: Portal) -> None:
    for width, scale, name in ((360, 2.0, "phone"), (640, 2.0, "zoom-200")):
        portal.viewport(width, 800, scale=scale)
        for path in ("/", "/#/demands", "/office/"):
            portal.open(path)
            assert portal.horizontal_overflow() <= 0, f"{path} scrolls sideways at {width} px"
        portal.open("/")
        portal.screenshot(f"catalog-{name}")
        portal.assert_accessible(f"the open catalog at {width} px")


def test_demands_page_lists_the_public_demands_and_asks_to_sign_in(portal: Portal) -> None:
    portal.open("/#/demands")
    assert portal.text("h1") == "数据开放需求"
    assert portal.find("#public-demands")
    portal.screenshot("demands")
    portal.assert_accessible("the demands page")
    portal.open("/#/licences")
    assert portal.text("h1") == "我的证照"
    portal.assert_accessible("my licences, signed out")
    assert not portal.console_errors()


def test_office_console_offers_sign_in(portal: Portal) -> None:
    portal.open("/office/")
    assert portal.text("h1") == "工作台"
    assert portal.find("#sign-in").is_displayed()
    portal.screenshot("office")
    portal.assert_accessible("the office console")
    assert not portal.console_errors()
