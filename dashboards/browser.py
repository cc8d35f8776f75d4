"""Helpers to drive the dashboard from a real headless Chromium, shared by
scripts/screenshots.py and `python -m dashboards.benchmark` (tests use dash[testing]'s dash_duo).

    server = dashboards.server.start(create_app("runs"))   # the CLI's server, in a thread, a free port
    driver = chromium(1400, 1000)                          # Chromium + chromedriver, as charnn.chromium finds them
    driver.get(server.url + "?run=austen&unit=3")
    ...
    driver.quit(); server.stop()

Needs selenium (from dash[testing]) and a Chromium with its chromedriver (Debian's `chromium` and
`chromium-driver` packages).
"""

from __future__ import annotations

import time

from charnn import chromium as find

CHROME_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage")


def chrome_options(width: int = 1400, height: int = 1000):
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = _found(find.chromium(), "a Chromium", "chromium")
    for arg in CHROME_ARGS:
        options.add_argument(arg)
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "SEVERE"})
    return options


def chromium(width: int = 1400, height: int = 1000):
    """A headless Chromium webdriver (selenium 4, the system chromedriver)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    driver = _found(find.chromedriver(), "a chromedriver", "chromium-driver")
    return webdriver.Chrome(service=Service(driver), options=chrome_options(width, height))


def _found(path: str | None, what: str, package: str) -> str:
    if path is None:
        raise FileNotFoundError(f"{what} is needed and none is on PATH or in {find.SYSTEM_BIN}: "
                                f"apt-get install {package}")
    return path


def wait_for(condition, timeout: float = 20.0, interval: float = 0.02, what: str = "condition"):
    """Poll condition() until it returns something truthy; that value is returned."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def text_of(driver, element_id: str) -> str:
    return driver.execute_script(f"const e = document.getElementById({element_id!r}); return e ? e.textContent : '';")


def settled(driver) -> bool:
    """True when Dash has no callback pending (the check dash[testing] uses)."""
    return bool(driver.execute_script("""
        if (!window.store) return false;
        const s = Object.assign({}, window.store.getState().callbacks);
        delete s.stored; delete s.completed;
        return [].concat.apply([], Object.values(s)).length === 0;"""))
