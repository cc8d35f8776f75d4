"""Where the headless Chromium and its chromedriver are, found one way by everything that drives a
browser (PNG export, the dashboard's browser tests, screenshots and benchmark): the first of the
names on PATH, else in Debian's /usr/bin (where `apt-get install chromium chromium-driver` puts
them, and which a service's PATH may lack).

    chromium()        # "/usr/bin/chromium", or None when there is none
    chromedriver()    # "/usr/bin/chromedriver", or None
"""

from __future__ import annotations

import shutil

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DRIVERS = ("chromedriver",)
SYSTEM_BIN = "/usr/bin"


def find(names) -> str | None:
    """The path of the first of `names` on PATH, else in /usr/bin; None when none is there."""
    for where in (None, SYSTEM_BIN):
        for name in names:
            path = shutil.which(name, path=where)
            if path:
                return path
    return None


def chromium() -> str | None:
    return find(BROWSERS)


def chromedriver() -> str | None:
    return find(DRIVERS)
