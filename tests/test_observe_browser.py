"""The status page in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``), driven by selenium through ``/usr/bin/chromedriver``.

The test opens the URL ``oservices ui`` prints, as a user would, reads the
component table from the DOM, saves a screenshot (under the test's directory,
and in ``OSERVICES_TEST_ARTIFACTS`` when that is set: the docs' picture is one),
shows a component's log, and clicks its restart button: the component restarts.
Without the token, the same click is refused. A missing browser or driver fails
the test: ``.ci/run`` installs them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _engines import needed
from _processes import wait_for
from test_observe import COMPONENTS, Served

# Read at collection: the tests' ``home`` clears every OSERVICES_* variable.
ARTIFACTS = os.environ.get("OSERVICES_TEST_ARTIFACTS")
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1200,720",
)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A headless Chromium with a fresh profile, driven by selenium."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        needed(path, "apt-get install chromium chromium-driver; .ci/run does")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    service = Service(CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _table(driver: Any) -> dict[str, dict[str, str]]:
    """The component table as the page shows it: name -> column -> text."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        rows = driver.find_elements(By.CSS_SELECTOR, "#components tbody tr")
        return {
            row.get_attribute("data-component"): {
                cell.get_attribute("data-column"): cell.text
                for cell in row.find_elements(By.TAG_NAME, "td")
            }
            for row in rows
        }
    except StaleElementReferenceException:  # redrawn meanwhile: look again
        return {}


def _click(driver: Any, name: str, action: str) -> None:
    from selenium.webdriver.common.by import By

    selector = f'button[data-component="{name}"][data-action="{action}"]'
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, selector), 30, selector)
    driver.execute_script("document.querySelector(arguments[0]).click()", selector)


def _text(driver: Any, selector: str) -> str:
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, selector)
    text: str = found[0].text if found else ""
    return text


def _save(driver: Any, path: Path) -> None:
    assert driver.save_screenshot(str(path)), "no screenshot"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if ARTIFACTS:
        Path(ARTIFACTS).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(ARTIFACTS) / path.name)


def test_the_status_page_in_chromium(home: Path, browser: Any, tmp_path: Path) -> None:
    running = Served(home, COMPONENTS)
    try:
        before = running.wait_healthy()
        http = running.http()
        browser.get(f"{http.url}?token={http.token}")  # what 'oservices ui' printed

        def shown() -> dict[str, dict[str, str]] | None:
            table = _table(browser)
            healthy = set(table) == set(COMPONENTS) and all(
                row["state"] == "RUNNING" for row in table.values()
            )
            return table if healthy and "live" in _text(browser, "#live") else None

        table = wait_for(shown, 60, lambda: f"the table: {_table(browser)}")
        assert list(table) == COMPONENTS  # in start order
        for name in COMPONENTS:
            row = table[name]
            assert row["ready"] == "yes"
            assert row["pid"] == str(before[name]["pid"])
            assert row["restarts"] == "0"
            assert row["memory"].endswith("MiB")
            assert row["uptime"].endswith("s")
        assert "token" not in browser.current_url  # taken out of the address bar
        assert "2 of 2 components running and ready" in _text(browser, "#summary")

        # A component's last log lines, on a click.
        browser.execute_script(
            "document.querySelector('tr[data-component=\"obedient\"] td').click()"
        )
        wait_for(lambda: "obedient: hello" in _text(browser, "#log-lines"), 30, "the log lines")

        # Restart with the token: the component restarts, and the page shows it.
        _click(browser, "obedient", "restart")
        wait_for(
            lambda: "obedient: restart done" in _text(browser, "#message"),
            60,
            lambda: f"the restart: {_text(browser, '#message')}",
        )
        after = running.wait_healthy()
        assert after["obedient"]["pid"] != before["obedient"]["pid"]
        assert after["forker"]["pid"] == before["forker"]["pid"]
        new_pid = str(after["obedient"]["pid"])
        wait_for(
            lambda: _table(browser).get("obedient", {}).get("pid") == new_pid,
            30,
            "the new pid on the page",
        )
        wait_for(
            lambda: "obedient: restart requested" in _text(browser, "#events"), 30, "the event"
        )
        _save(browser, tmp_path / "status-page.png")

        # Another tab, without the token: the click is refused, nothing restarts.
        browser.switch_to.new_window("tab")
        browser.get(http.url)
        wait_for(lambda: set(_table(browser)) == set(COMPONENTS), 60, "the table, again")
        _click(browser, "obedient", "restart")
        wait_for(lambda: "refused" in _text(browser, "#message"), 30, "the refusal on the page")
        assert "needs the token" in _text(browser, "#message")
        assert running.statuses()["obedient"]["pid"] == after["obedient"]["pid"]
    finally:
        running.finish()
