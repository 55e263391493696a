"""The incident page in a real browser: Debian's headless Chromium signs in with the form, loads the page,
takes screenshots (light and dark), and finds the incident's title and its alerts on screen."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.clock import Clock
from tests.support.incident_page import API_TOKEN, INSTANCES, checkout_incident, page_site
from tests.support.requirements import missing

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _browser_parts() -> tuple[str, str]:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    parts = {"chromium": chromium, "chromedriver": driver}
    absent = [name for name, path in parts.items() if not Path(path).exists()]
    if absent:
        missing(f"{' and '.join(absent)} not installed (Debian: apt-get install chromium chromium-driver)")
    return chromium, driver


@pytest.fixture
def browser() -> Iterator[Any]:
    chromium, driver_path = _browser_parts()
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing("selenium is not installed (pip install -e '.[dev]')")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.add_argument("--window-size=1280,2000")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(60)
    driver.implicitly_wait(10)  # an element looked for is waited for, up to 10 s, not missed on a slow load
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: Any, path: Path) -> bytes:
    assert driver.save_screenshot(str(path))
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000  # a rendered page, not an empty image
    return data


def test_the_incident_page_reads_in_a_real_browser(
    browser: Any, tmp_path: Path, sqlite_url: str, clock: Clock
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    with page_site(tmp_path, sqlite_url, clock) as site:
        incident_id = checkout_incident(site, clock)
        # A browser from a Slack link sends no token: it gets the form, signs in, comes back to the page.
        browser.get(f"{site.url}/incidents/{incident_id}")
        assert browser.find_element(By.TAG_NAME, "h1").text == "Sign in to sevbot"
        assert "CheckoutHighErrorRate" not in browser.page_source
        browser.find_element(By.NAME, "token").send_keys(API_TOKEN)
        browser.find_element(By.CSS_SELECTOR, "form.signin button").click()
        # The click submits the form; the incident page loads after it returns (slowly on a loaded runner).
        WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".headline .badge"))

        assert browser.current_url == f"{site.url}/incidents/{incident_id}"
        title = browser.find_element(By.TAG_NAME, "h1")
        assert title.is_displayed() and "CheckoutHighErrorRate" in title.text
        severity = browser.find_element(By.CSS_SELECTOR, ".headline .badge")
        assert severity.is_displayed() and severity.text == "SEV1 · page now"
        cards = browser.find_elements(By.CSS_SELECTOR, "#alerts article.card")
        assert len(cards) == len(INSTANCES) and all(card.is_displayed() for card in cards)
        assert [i for i in INSTANCES if any(i in card.text for card in cards)] == list(INSTANCES)
        # The stylesheet ran under the CSP nonce (a blocked one would leave the badge unstyled).
        assert severity.value_of_css_property("color") in ("rgba(255, 255, 255, 1)", "rgb(255, 255, 255)")
        assert int(float(title.value_of_css_property("font-size").removesuffix("px"))) >= 28
        screenshot(browser, tmp_path / "incident-light.png")

        browser.execute_cdp_cmd(
            "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}
        )
        browser.refresh()
        body = browser.find_element(By.TAG_NAME, "body")
        assert body.value_of_css_property("background-color") == "rgba(18, 20, 24, 1)"
        assert browser.find_element(By.TAG_NAME, "h1").is_displayed()
        screenshot(browser, tmp_path / "incident-dark.png")
