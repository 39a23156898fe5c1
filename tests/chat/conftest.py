"""Chat test fixtures: a second headless Chromium (its own profile and cookies) for two-user tests.

The first browser is the shared ``chromium`` fixture of ``tests/browser.py``;
this one is per test and uses the same install-or-skip set-up.
"""

from __future__ import annotations

import tempfile

import pytest

from tests.browser import ensure_chromium


@pytest.fixture
def other_chromium():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = ensure_chromium()
    with tempfile.TemporaryDirectory(prefix="colony-chromium-") as profile:
        options = Options()
        options.binary_location = browser
        for argument in (
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--window-size=1280,1024",
            "--no-first-run",
            f"--user-data-dir={profile}",
        ):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
        driver.set_page_load_timeout(60)
        try:
            yield driver
        finally:
            driver.quit()
