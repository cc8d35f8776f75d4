"""Helpers to drive the dashboard from a real headless Chromium, shared by
scripts/screenshots.py and `python -m dashboards.benchmark` (tests use dash[testing]'s dash_duo).

    server = serve(create_app("runs"))          # werkzeug in a daemon thread, a free port
    driver = chromium(1400, 1000)               # Debian's /usr/bin/chromium + chromedriver
    driver.get(server.url + "?run=austen&unit=3")
    ...
    driver.quit(); server.stop()

Needs selenium (from dash[testing]) and Debian's `chromium` and `chromium-driver` packages.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROME_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage")


@dataclass
class Server:
    url: str
    stop: callable


def serve(app, host: str = "127.0.0.1", port: int = 0) -> Server:
    """Serve a Dash app from a background thread; port 0 picks a free one."""
    import logging

    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    httpd = make_server(host, port, app.server, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, name="dashboard", daemon=True)
    thread.start()
    return Server(f"http://{host}:{httpd.server_port}/", lambda: (httpd.shutdown(), thread.join(5)))


def chrome_options(width: int = 1400, height: int = 1000):
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in CHROME_ARGS:
        options.add_argument(arg)
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "SEVERE"})
    return options


def chromium(width: int = 1400, height: int = 1000):
    """A headless Chromium webdriver (selenium 4, the system chromedriver)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=chrome_options(width, height))


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
