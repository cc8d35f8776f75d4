"""The dashboard in a real headless Chromium (dash[testing]'s dash_duo): pick a unit and see the
colors change, page and jump through the text, search, sort the results and open one, survive a
bad regex, open every tab, share a view by URL, clamp a unit and see the loss change, follow a
concept and a unit across training, and all of it on the server `charnn dashboard` runs
(waitress); the browser console must stay free of errors.

    .venv/bin/pytest tests/dashboard/test_browser.py -q     # needs /usr/bin/chromium
"""

from __future__ import annotations

import socket

import pytest

pytest.importorskip("selenium", reason="browser tests need dash[testing] (selenium)")

from dash.testing.wait import until  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

from dashboards import create_app
from dashboards.server import start as serve

pytestmark = pytest.mark.browser

SELECT_CHARS = """
const [a, b] = [arguments[0], arguments[1]].map(i => document.querySelector(`#text span[data-i="${i}"]`));
const range = document.createRange();
range.setStart(a.firstChild, 0);
range.setEnd(b.firstChild, 1);
window.getSelection().removeAllRanges();
window.getSelection().addRange(range);
document.getElementById("text").dispatchEvent(new MouseEvent("mouseup", {bubbles: true}));
"""
SPAN_COLORS = "return Array.from(document.querySelectorAll('#text span')).slice(0, 400).map(s => s.style.background)"
DELTA_COLORS = "return Array.from(document.querySelectorAll('#ivn-text span')).map(s => s.style.background)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(dash_duo, runs, query: str = "") -> None:
    # debug: Dash checks every prop's type in the browser, so a wrong one lands in the console logs
    dash_duo.start_server(create_app(runs), port=free_port(), debug=True, use_reloader=False,
                          dev_tools_hot_reload=False, dev_tools_disable_version_check=True)
    if query:
        dash_duo.driver.get(dash_duo.server_url + "/" + query)
    dash_duo.wait_for_contains_text("#text-status", "chars", timeout=20)


def status(dash_duo) -> str:
    return dash_duo.find_element("#text-status").text


def url(dash_duo) -> str:
    return dash_duo.driver.execute_script("return decodeURIComponent(location.search)")


def cell(dash_duo, grid: str, row: int, column: str):
    """The cell of a grid's row (in the order shown) and column, once the grid has drawn it."""
    return dash_duo.wait_for_element(f'#{grid} .ag-center-cols-container .ag-row[row-index="{row}"] .ag-cell[col-id="{column}"]',
                                     timeout=20)


def type_into(dash_duo, selector: str, text: str, enter: bool = True) -> None:
    box = dash_duo.find_element(selector)
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACKSPACE)
    box.send_keys(text + (Keys.ENTER if enter else ""))


def test_dsh001_pick_unit_changes_colors(dash_duo, dash_runs):
    start(dash_duo, dash_runs, "?layer=1&kind=c&unit=0&win=1000")
    dash_duo.wait_for_contains_text("#text-status", "unit 1:c:0")
    before = dash_duo.driver.execute_script(SPAN_COLORS)
    assert len(before) == 400 and len(set(before)) > 1
    type_into(dash_duo, "#unit", "5")
    dash_duo.wait_for_contains_text("#text-status", "unit 1:c:5")
    assert dash_duo.driver.execute_script(SPAN_COLORS) != before
    dash_duo.find_element("#unit-next").click()
    dash_duo.wait_for_contains_text("#text-status", "unit 1:c:6")
    dash_duo.find_element("#text").click()  # focus out of the input: keys go to the page
    dash_duo.find_element("body").send_keys("j")
    dash_duo.wait_for_contains_text("#text-status", "unit 1:c:7")
    assert "unit=7" in url(dash_duo)
    assert dash_duo.get_logs() == []


def test_dsh002_page_and_jump(dash_duo, dash_runs):
    start(dash_duo, dash_runs, "?win=1000")
    assert status(dash_duo).startswith("chars 0–1,000 of")
    dash_duo.find_element("#page-next").click()
    dash_duo.wait_for_contains_text("#text-status", "chars 1,000–2,000")
    dash_duo.find_element("#page-next").click()
    dash_duo.wait_for_contains_text("#text-status", "chars 2,000–3,000")
    dash_duo.find_element("#page-prev").click()
    dash_duo.wait_for_contains_text("#text-status", "chars 1,000–2,000")
    type_into(dash_duo, "#jump-pos", "5000")
    dash_duo.wait_for_contains_text("#text-status", "chars 4,700–5,700")
    assert dash_duo.find_element("#text span.focus").get_attribute("data-i") == "300"
    dash_duo.find_element("#strong-next").click()
    until(lambda: "focus=" in url(dash_duo) and "focus=5000" not in url(dash_duo), timeout=10)
    assert dash_duo.find_elements("#text span.focus")
    assert dash_duo.get_logs() == []


def test_dsh003_search_sort_and_open_a_result(dash_duo, dash_runs):
    start(dash_duo, dash_runs, "?win=2000")
    type_into(dash_duo, "#search-regex", '"[^"]*"', enter=False)
    dash_duo.find_element("#search-go").click()
    dash_duo.wait_for_contains_text("#search-status", "units ranked", timeout=20)
    separations = [float(cell(dash_duo, "search-table", i, "separation").text) for i in range(3)]
    assert separations == sorted(separations, reverse=True) and separations[0] > 0.5
    dash_duo.find_element('#search-table .ag-header-cell[col-id="unit"]').click()  # sort by unit: layer, kind, number
    until(lambda: cell(dash_duo, "search-table", 0, "unit").text == "0:c:0", timeout=10)
    assert [cell(dash_duo, "search-table", i, "unit").text for i in (1, 2)] == ["0:c:1", "0:c:2"]
    best = cell(dash_duo, "search-table", 2, "unit")
    best.click()
    dash_duo.wait_for_contains_text("#text-status", "unit 0:c:2")
    dash_duo.wait_for_contains_text("#text-status", "matches underlined")
    assert dash_duo.find_elements("#text span.m")
    assert 'regex="[^"]*"' in url(dash_duo)
    assert dash_duo.get_logs() == []


def test_dsh004_bad_regex_is_reported_and_server_keeps_serving(dash_duo, dash_runs, catastrophic):
    start(dash_duo, dash_runs, "?unit=0&win=1000")
    type_into(dash_duo, "#search-regex", "(")
    dash_duo.wait_for_contains_text("#search-error", "invalid regex", timeout=10)
    type_into(dash_duo, "#search-regex", catastrophic, enter=False)
    dash_duo.find_element("#search-go").click()
    dash_duo.find_element("#unit-next").click()  # answered while the regex backtracks in a thread
    dash_duo.wait_for_contains_text("#text-status", "unit 1", timeout=10)
    dash_duo.wait_for_contains_text("#search-error", "timed out", timeout=30)
    assert dash_duo.get_logs() == []


def test_dsh005_every_tab_renders(dash_duo, dash_runs):
    start(dash_duo, dash_runs, "?layer=1&kind=c&unit=2&regex=%22%5B%5E%22%5D*%22")
    dash_duo.find_element("#tabs").find_element("xpath", ".//*[text()='Unit details']").click()
    dash_duo.wait_for_contains_text("#details-title", "unit 1:c:2", timeout=15)
    dash_duo.wait_for_element("#details-hist .main-svg")
    assert len(dash_duo.find_elements("#details-top-pos .ctx")) > 3
    dash_duo.find_element("#tabs").find_element("xpath", ".//*[text()='Neuron']").click()
    dash_duo.driver.execute_script(SELECT_CHARS, 10, 30)  # a text selection becomes the heatmap's span
    until(lambda: dash_duo.find_element("#span-stop").get_attribute("value") == "31", timeout=10)
    dash_duo.find_element("#tabs").find_element("xpath", ".//*[text()='Many neurons']").click()
    dash_duo.wait_for_element("#heat-graph .heatmaplayer", timeout=15)
    dash_duo.find_element("#span-go").click()
    found = cell(dash_duo, "span-table", 0, "unit").text
    assert found.startswith(("0:c:", "1:c:"))  # units of the view's kind
    dash_duo.find_element("#tabs").find_element("xpath", ".//*[text()='Model']").click()
    dash_duo.wait_for_element("#model-gates .scatterlayer", timeout=15)
    dash_duo.wait_for_contains_text("#loss-text-status", "model loss")
    assert "tab=model" in url(dash_duo)
    assert dash_duo.get_logs() == []


def test_dsh006_shared_url_restores_the_view(dash_duo, dash_runs):
    start(dash_duo, dash_runs, "?run=tiny&rec=pride&layer=0&kind=h&unit=4&pos=2000&win=1000&regex=Elizabeth")
    dash_duo.wait_for_contains_text("#text-status", "chars 2,000–3,000")
    assert "unit 0:h:4" in status(dash_duo)
    assert dash_duo.find_element("#search-regex").get_attribute("value") == "Elizabeth"
    dash_duo.driver.get(dash_duo.server_url + "/?run=..&rec=..%2F..%2Fetc&unit=3")  # names escaping RUNS_DIR
    dash_duo.wait_for_contains_text("#text-status", "unit 1:c:3", timeout=20)
    assert "run=tiny&rec=pride" in url(dash_duo)
    assert dash_duo.get_logs() == []


def tab(dash_duo, label: str) -> None:
    dash_duo.find_element("#tabs").find_element("xpath", f".//*[text()='{label}']").click()


def test_dsh007_intervene_paints_the_loss_change(dash_duo, dash_runs):
    start(dash_duo, dash_runs, "?layer=1&kind=c&unit=2&win=1000")
    dash_duo.find_element("#neuron-intervene").click()  # from the neuron view
    dash_duo.wait_for_contains_text("#ivn-title", "unit 1:c:2", timeout=10)
    assert "tab=intervene" in url(dash_duo)
    dash_duo.find_element("#ivn-mode input[value='clamp']").click()
    type_into(dash_duo, "#ivn-value", "abc", enter=False)
    dash_duo.find_element("#ivn-go").click()
    dash_duo.wait_for_contains_text("#ivn-error", "not a number", timeout=10)
    type_into(dash_duo, "#ivn-value", "2", enter=False)
    dash_duo.find_element("#ivn-go").click()
    dash_duo.wait_for_contains_text("#ivn-text-status", "loss change", timeout=30)
    fills = dash_duo.driver.execute_script(DELTA_COLORS)
    assert len(fills) == 1000 and len(set(fills)) > 10
    assert "effect ratio" in dash_duo.find_element("#ivn-summary").text
    held, plain = (dash_duo.find_element(s).text for s in ("#ivn-held", "#ivn-plain"))
    assert len(held) > 100 and held != plain
    assert "held at 2" in dash_duo.find_element("#ivn-held-title").text
    tab(dash_duo, "History")  # this run has no probe recordings: the tab says how to make them
    dash_duo.wait_for_contains_text("#hist-note", "--record-every N --probe-text FILE", timeout=10)
    assert dash_duo.get_logs() == []


def test_dsh008_history_of_a_concept_a_unit_and_a_second_seed(dash_duo, probe_runs):
    start(dash_duo, probe_runs, "?run=seed1&rec=step-0000020&layer=1&kind=c&unit=3")
    tab(dash_duo, "History")
    dash_duo.wait_for_contains_text("#hist-note", "2 probe recordings, steps 10–20", timeout=10)
    dash_duo.find_element("#hist-concept-go").click()
    dash_duo.wait_for_element("#hist-concept-graph .scatterlayer .trace", timeout=20)
    assert cell(dash_duo, "hist-concept-table", 0, "step").text == "10"
    dash_duo.find_element("#hist-unit-go").click()
    assert cell(dash_duo, "hist-unit-table", 1, "corr").text == "+1.000"  # the unit itself at its own step
    dash_duo.find_element("#hist-match-go").click()  # the other seed is picked already
    dash_duo.wait_for_contains_text("#hist-match-best", "unit 1:c:3 ↔ seed2's unit", timeout=20)
    step10 = cell(dash_duo, "hist-concept-table", 0, "unit").text
    cell(dash_duo, "hist-concept-table", 0, "unit").click()  # opens that unit in the step-10 recording
    until(lambda: "rec=step-0000010" in url(dash_duo) and "tab=neuron" in url(dash_duo), timeout=10)
    dash_duo.wait_for_contains_text("#text-status", f"unit {step10}")
    assert dash_duo.get_logs() == []


def test_dsh009_served_as_charnn_dashboard_serves_it(dash_duo, dash_runs):
    """The same page on waitress (dashboards.server), as `charnn dashboard` runs it."""
    server = serve(create_app(dash_runs))
    try:
        dash_duo.driver.get(server.url + "?layer=0&kind=h&unit=1&win=1000&concept=inside_quotes")
        dash_duo.wait_for_contains_text("#text-status", "unit 0:h:1", timeout=30)
        dash_duo.find_element("#search-go").click()
        dash_duo.wait_for_contains_text("#search-status", "units ranked", timeout=30)
        name = cell(dash_duo, "search-table", 0, "unit").text
        cell(dash_duo, "search-table", 0, "unit").click()
        dash_duo.wait_for_contains_text("#text-status", f"unit {name}", timeout=10)
        dash_duo.find_element("#page-next").click()
        dash_duo.wait_for_contains_text("#text-status", "chars 1,000–2,000", timeout=10)
        assert dash_duo.get_logs() == []
    finally:
        server.stop()
