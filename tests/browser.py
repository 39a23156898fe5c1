"""Headless Chromium for browser tests (selenium driving Debian's ``chromium`` + ``chromium-driver``).

Fixtures (registered for every test through ``tests/conftest.py``):

* ``browser`` — a factory: each ``browser()`` starts its own headless
  Chromium (own cookies: two users, two browsers); all are quit after the test.
* ``chromium`` — one browser for the test (``browser()`` once).

Every browser has the DevTools performance and console logs on:
``requested_urls(driver)`` lists every URL the page fetched,
``console_errors(driver)`` the page's severe console messages.
``login(driver, base_url, user)`` signs in through the real login form.

When ``chromium`` or ``chromedriver`` is missing, the set-up installs them
(``apt-get update`` then ``apt-get install -y chromium chromium-driver``,
once, under a file lock shared by the xdist workers) when it can — running
as root with ``apt-get`` on the PATH, and ``COLONY_BROWSER_INSTALL`` not set
to ``0``; otherwise, or if the install fails, the browser tests are skipped
with the reason. Mark browser tests ``@pytest.mark.timeout(900)``: the first
one may pay for the install.

Usage::

    @pytest.mark.live
    @pytest.mark.timeout(900)
    def test_page_renders(chromium, live_asgi):
        chromium.get(live_asgi.url + "/some/page/")
        wait_for_css(chromium, ".thing")
        assert all(u.startswith(live_asgi.url) for u in requested_urls(chromium))
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

PACKAGES = ("chromium", "chromium-driver")
_LOCK = Path(tempfile.gettempdir()) / "colony-browser-install.lock"


def _binaries() -> tuple[str | None, str | None]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    return browser, shutil.which("chromedriver")


def _install() -> str | None:
    """Install Chromium and its driver with apt-get; return why not, or None when done."""
    if os.environ.get("COLONY_BROWSER_INSTALL", "1") == "0":
        return "COLONY_BROWSER_INSTALL=0"
    if not shutil.which("apt-get"):
        return "no apt-get to install chromium and chromium-driver"
    if os.geteuid() != 0:
        return "not root: install them with `sudo apt-get install -y chromium chromium-driver`"
    import fcntl

    with _LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one worker installs, the others wait for it
        if all(_binaries()):
            return None
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update"], ["apt-get", "install", "-y", *PACKAGES]):
            result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=840)  # noqa: S603
            if result.returncode != 0:
                return f"`{' '.join(command)}` failed: {result.stderr.strip()[-300:]}"
    return None if all(_binaries()) else "chromium or chromedriver still missing after apt-get"


def ensure_chromium() -> tuple[str, str]:
    """The browser and driver paths, installing them if needed (skips the test when impossible)."""
    browser, driver = _binaries()
    if not (browser and driver):
        reason = _install()
        browser, driver = _binaries()
        if reason or not (browser and driver):
            pytest.skip(f"headless Chromium unavailable: {reason or 'not installed'}")
    return browser, driver


def new_driver():
    """A new headless Chromium (installing it first if needed; skips the test when impossible)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:  # pragma: no cover — selenium is a pinned dev dependency
        pytest.skip("selenium is not installed")
    browser, driver_path = ensure_chromium()
    options = Options()
    options.binary_location = browser
    for argument in (
        "--headless=new",
        "--no-sandbox",  # containers run as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1024",
        "--no-first-run",
        "--disable-background-networking",  # only what the page asks for shows in the log
        "--disable-component-update",
        "--disable-sync",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(120)
    return driver


@pytest.fixture
def browser():
    """``browser()`` → a new headless Chromium; every one is quit when the test ends."""
    drivers = []

    def make():
        driver = new_driver()
        drivers.append(driver)
        return driver

    yield make
    for driver in drivers:
        with contextlib.suppress(Exception):  # a crashed browser is already gone
            driver.quit()


@pytest.fixture
def chromium(browser):
    return browser()


def login(driver, base_url: str, user, *, password: str | None = None) -> None:
    """Sign ``user`` in through the login form (a real session with its ``UserSession`` row)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.accounts.factories import PASSWORD

    driver.get(f"{base_url}/accounts/login/")
    driver.find_element(By.NAME, "login").send_keys(user.email)
    field = driver.find_element(By.NAME, "password")
    field.send_keys(password or PASSWORD)
    field.submit()
    WebDriverWait(driver, 30, poll_frequency=0.05).until(
        lambda d: "/accounts/login/" not in d.current_url and d.get_cookie("sessionid"),
        message=f"{user.email} did not get past the login form",
    )


def console_errors(driver) -> list[str]:
    """The page's severe console messages since the last call (a missing favicon is not one)."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry.get("level") == "SEVERE" and "favicon.ico" not in entry.get("message", "")
    ]


def requested_urls(driver, *, blocked: bool = False) -> list[str]:
    """Every URL the browser fetched since the last call (DevTools ``Network.requestWillBeSent``).

    Requests the browser refused to send (Content-Security-Policy, mixed
    content…) are left out, or are the only ones listed with ``blocked=True``.
    """
    sent: dict[str, str] = {}
    refused: set[str] = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message.get("method") == "Network.requestWillBeSent":
            sent[params["requestId"]] = params["request"]["url"]
        elif message.get("method") == "Network.loadingFailed" and params.get("blockedReason"):
            refused.add(params["requestId"])
    return [url for request_id, url in sent.items() if (request_id in refused) == blocked]


def wait_for_css(driver, selector: str, *, timeout: float = 60, count: int = 1):
    """Wait until at least ``count`` elements match ``selector``; return them."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def enough(d):
        found = d.find_elements(By.CSS_SELECTOR, selector)
        return found if len(found) >= count else False

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        enough, message=f"no {count}× {selector!r} within {timeout}s"
    )
