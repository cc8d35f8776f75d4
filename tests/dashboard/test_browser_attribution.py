"""Attribution in the dashboard, in a real headless Chromium: clicking a character colours the text
before it by contribution within 300 ms, with the method, half-life and remainder; Unit details
shows the memory-span histogram and the circuit graph; the console stays clean.

    .venv/bin/pytest tests/dashboard/test_browser_attribution.py -q     # needs /usr/bin/chromium
"""

from __future__ import annotations

import pytest

pytest.importorskip("selenium", reason="browser tests need dash[testing] (selenium)")

from dash.testing.wait import until  # noqa: E402
from test_browser import SPAN_COLORS, start, status  # noqa: E402

pytestmark = pytest.mark.browser

CLICK = "document.querySelector(`#text span[data-i='${arguments[0]}']`).click()"
ELAPSED = "return window.charnnLastPaint.t - window.charnnAttributeClick"


def test_att001_click_colours_the_text_before_by_contribution(dash_duo, dash_runs):
    start(dash_duo, dash_runs, "?layer=1&kind=c&unit=3&pos=1000&win=1000")
    dash_duo.wait_for_contains_text("#text-status", "unit 1:c:3")
    before = dash_duo.driver.execute_script(SPAN_COLORS)
    dash_duo.driver.execute_script(CLICK, 300)
    dash_duo.wait_for_contains_text("#text-status", "contributions to 1:c:3", timeout=10)
    text = status(dash_duo)
    assert "write" in text and "half-life" in text and "remainder" in text and "at 1,300" in text
    elapsed = dash_duo.driver.execute_script(ELAPSED)
    assert 0 < elapsed <= 300, f"click to colours took {elapsed:.0f} ms"
    after = dash_duo.driver.execute_script(SPAN_COLORS)
    assert after[301:] == ["rgb(255, 255, 255)"] * len(after[301:])  # after the clicked character: nothing
    assert after[:301] != before[:301] and len(set(after[:301])) > 20
    dash_duo.driver.execute_script(CLICK, 120)  # a gate: integrated gradients, no decay of its own
    dash_duo.find_element("#tabs")
    dash_duo.wait_for_contains_text("#text-status", "at 1,120", timeout=10)
    assert dash_duo.get_logs() == []


def test_att002_unit_details_show_memory_span_and_circuit(dash_duo, dash_runs):
    start(dash_duo, dash_runs, "?layer=1&kind=c&unit=3")
    dash_duo.find_element("#tabs").find_element("xpath", ".//*[text()='Unit details']").click()
    dash_duo.wait_for_element("#details-memory .main-svg", timeout=20)
    until(lambda: "median half-life" in dash_duo.find_element("#details-memory").text, timeout=20)
    dash_duo.wait_for_contains_text("#circuit-status", "1:c:3 averaged over its 20 largest values", timeout=30)
    assert dash_duo.find_elements("#circuit-graph canvas")
    assert dash_duo.get_logs() == []
