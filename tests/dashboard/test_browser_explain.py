"""Explanations in a real headless Chromium (dash_duo): compute them from the Explain tab with
progress and Cancel, sort, filter and open units from its table, see a unit's explanation in the
neuron view and in unit details, and search every unit against an explanation (clicked, or typed:
a bad one is a one-line error). The browser console must stay free of errors.

    .venv/bin/pytest tests/dashboard/test_browser_explain.py -q     # needs /usr/bin/chromium
"""

from __future__ import annotations

import time

import pytest

pytest.importorskip("selenium", reason="browser tests need dash[testing] (selenium)")

from dash.testing.wait import until  # noqa: E402
from test_browser import cell, start, tab, type_into, url  # noqa: E402

import charnn  # noqa: E402
from charnn.explanations import explanations_path, load_explanations  # noqa: E402
from charnn.units import Unit  # noqa: E402

pytestmark = pytest.mark.browser

ROW_R = "return dash_ag_grid.getApi(arguments[0]).getRowNode(arguments[1]).data.r"


def recording(runs):
    return runs / "tiny" / "recordings" / "pride"


def number(text: str) -> float:
    """A number as the grid shows it (d3 writes a minus sign as U+2212)."""
    return float(text.replace("\u2212", "-"))


def best(runs) -> tuple[Unit, object, object]:
    """(the best-explained unit, its rank-1 row, all its rows with an explanation)."""
    df = load_explanations(recording(runs))
    ok = df[df["status"] == "ok"]
    row = ok[ok["rank"] == 1].sort_values("score", ascending=False).iloc[0]
    unit = Unit(int(row["layer"]), row["kind"], int(row["unit"]))
    mine = ok[(ok["layer"] == unit.layer) & (ok["kind"] == unit.kind) & (ok["unit"] == unit.index)]
    return unit, row, mine.sort_values("rank")


def test_dsh010_explain_a_recording_from_the_page_with_progress_and_cancel(dash_duo, unexplained_runs, monkeypatch):
    real = charnn.explain

    def slow(rec, progress, **kwargs):  # each work step pauses, so the page sees the job run
        def report(done, total):
            time.sleep(0.3)
            progress(done, total)
        return real(rec, progress=report, **kwargs)
    monkeypatch.setattr(charnn, "explain", slow)

    start(dash_duo, unexplained_runs, "?layer=1&kind=h&unit=3&win=1000")
    dash_duo.wait_for_contains_text("#neuron-explained", "pride has no explanations yet")
    tab(dash_duo, "Explain")
    dash_duo.wait_for_contains_text("#explain-note", "pride has no explanations yet", timeout=10)
    checked = [b.get_attribute("value") for b in dash_duo.find_elements("#explain-kinds input:checked")]
    assert checked == ["c", "h"]  # the states, not the gates, unless asked
    dash_duo.find_element("#explain-go").click()
    dash_duo.wait_for_contains_text("#explain-status", "explaining every unit of kinds c, h", timeout=20)
    dash_duo.find_element("#explain-cancel").click()
    dash_duo.wait_for_contains_text("#explain-error", "explain cancelled", timeout=20)
    assert not explanations_path(recording(unexplained_runs)).exists()  # nothing half-written

    dash_duo.find_element("#explain-go").click()
    progress = dash_duo.find_element("#explain-progress")
    until(lambda: 0 < float(progress.get_attribute("value") or 0) < 1, timeout=20)
    dash_duo.wait_for_contains_text("#explain-status", "64 units explained in", timeout=60)
    unit, row, _ = best(unexplained_runs)
    until(lambda: cell(dash_duo, "explain-table", 0, "unit").text == str(unit), timeout=10)
    assert cell(dash_duo, "explain-table", 0, "explanation").text == row["explanation"]
    assert cell(dash_duo, "explain-shares", 3, "kind").text == "h"  # 0:c, 0:h, 1:c, 1:h
    dash_duo.wait_for_contains_text("#explain-note", "64 units of pride explained (kinds c, h)")
    tab(dash_duo, "Neuron")  # the neuron view picks the new file up
    dash_duo.wait_for_contains_text("#neuron-explained", "1:h:3 explained:", timeout=10)
    assert dash_duo.get_logs() == []


def test_dsh011_the_explain_table_filters_sorts_and_opens_a_unit(dash_duo, explained_runs):
    start(dash_duo, explained_runs, "?win=1000")
    tab(dash_duo, "Explain")
    unit, row, _ = best(explained_runs)
    until(lambda: cell(dash_duo, "explain-table", 0, "unit").text == str(unit), timeout=10)
    assert float(cell(dash_duo, "explain-table", 0, "score").text) == pytest.approx(row["score"], abs=1e-3)
    assert cell(dash_duo, "explain-table", 0, "class").text == row["class"]  # the two-part explanation beside it
    assert number(cell(dash_duo, "explain-table", 0, "r2_local").text) == pytest.approx(row["r2_local"], abs=1e-3)
    assert number(cell(dash_duo, "explain-table", 0, "r2_memory").text) == pytest.approx(row["r2_memory"], abs=1e-3)
    assert cell(dash_duo, "explain-table", 0, "lookup").text == row["lookup"]
    assert cell(dash_duo, "explain-table", 0, "readable").text == row["readable"]
    dash_duo.wait_for_contains_text("#explain-shown", "64 of 64 units")
    first = load_explanations(recording(explained_runs)).query("rank == 1")
    dash_duo.find_element('#explain-table .ag-header-cell[col-id="r2_local"]').click()  # sortable by the parts
    until(lambda: number(cell(dash_duo, "explain-table", 0, "r2_local").text) ==
          pytest.approx(first["r2_local"].min(), abs=1e-3), timeout=10)
    dash_duo.select_dcc_dropdown("#explain-kind-filter", value="c")
    dash_duo.wait_for_contains_text("#explain-shown", "32 of 64 units")
    spans = charnn.memory_spans(charnn.open_recording(recording(explained_runs)))
    dash_duo.find_element('#explain-table .ag-header-cell[col-id="half_life"]').click()  # sortable by memory span
    until(lambda: number(cell(dash_duo, "explain-table", 0, "half_life").text) == spans["half_life"].min(), timeout=10)
    dash_duo.find_element('#explain-table .ag-header-cell[col-id="half_life"]').click()
    until(lambda: number(cell(dash_duo, "explain-table", 0, "half_life").text) == spans["half_life"].max(), timeout=10)
    dash_duo.find_element('#explain-table .ag-header-cell[col-id="unit"]').click()  # sort by layer, kind, number
    until(lambda: cell(dash_duo, "explain-table", 0, "unit").text == "0:c:0", timeout=10)
    assert [cell(dash_duo, "explain-table", i, "unit").text for i in (1, 2)] == ["0:c:1", "0:c:2"]
    cell(dash_duo, "explain-table", 2, "unit").click()
    dash_duo.wait_for_contains_text("#text-status", "unit 0:c:2", timeout=10)
    assert "tab=neuron" in url(dash_duo)
    assert dash_duo.get_logs() == []


def test_dsh012_a_units_explanation_in_the_neuron_view_and_unit_details(dash_duo, explained_runs):
    unit, row, mine = best(explained_runs)
    start(dash_duo, explained_runs, f"?layer={unit.layer}&kind={unit.kind}&unit={unit.index}&win=1000")
    dash_duo.wait_for_contains_text("#neuron-explained", f"{unit} explained:", timeout=10)
    shown = dash_duo.find_element("#neuron-explained button.explanation").text
    scores = f"held-out r {row['r_heldout']:+.3f} (chance {abs(row['r_chance']):.3f})"
    assert shown == row["explanation"] and scores in dash_duo.find_element("#neuron-explained").text
    tab(dash_duo, "Unit details")
    dash_duo.wait_for_element("#details-explained table.ranked", timeout=15)
    buttons = [b.text for b in dash_duo.find_elements("#details-explained button.explanation")]
    assert buttons == list(mine["explanation"]) and len(buttons) >= 2  # every rank, best first
    cells = [td.text for td in dash_duo.find_elements("#details-explained tbody tr:first-child td")]
    assert cells[2] == f"{row['r_heldout']:+.3f} ({abs(row['r_chance']):.3f})"
    until(lambda: len(dash_duo.find_elements("#details-curve .scatterlayer .trace")) == 4, timeout=10)  # the unit, 3 shares
    dash_duo.driver.get(dash_duo.server_url + "/?layer=0&kind=f&unit=0&tab=details")  # a gate: not explained
    dash_duo.wait_for_contains_text("#details-explained", "cover kinds c, h; explain kind f", timeout=20)
    assert dash_duo.get_logs() == []


def test_dsh013_search_every_unit_against_an_explanation(dash_duo, explained_runs):
    unit, row, _ = best(explained_runs)
    start(dash_duo, explained_runs, f"?layer={unit.layer}&kind={unit.kind}&unit={unit.index}&win=1000")
    tab(dash_duo, "Unit details")
    button = dash_duo.wait_for_element("#details-explained button.explanation", timeout=15)
    button.click()  # one click: into the search box, the neuron view, and the search runs
    # the search may first wait for the recording's search summary, built in the background since the
    # page opened it, on cores that the browser and the earlier views' work share
    dash_duo.wait_for_contains_text("#search-status", "units ranked", timeout=60)
    assert "tab=neuron" in url(dash_duo) and "explanation=" in url(dash_duo)
    assert dash_duo.find_element("#search-mode input[value='explanation']").is_selected()
    assert dash_duo.find_element("#search-explanation").get_attribute("value") == row["explanation"]
    # the search scores the unit as explain did on every character (r_all), to the table's 3 places
    r = until(lambda: dash_duo.driver.execute_script(ROW_R, "search-table", str(unit)), timeout=10)
    assert r == pytest.approx(row["r_all"], abs=1e-3)
    type_into(dash_duo, "#search-explanation", "inside `(`")
    dash_duo.wait_for_contains_text("#search-error", "explanation 'inside `(`': expected '...' at character", timeout=10)
    assert "\n" not in dash_duo.find_element("#search-error").text
    type_into(dash_duo, "#search-explanation", 'inside `"`...`"`')
    dash_duo.wait_for_contains_text("#search-status", "units ranked", timeout=20)
    assert cell(dash_duo, "search-table", 0, "separation").text  # a 0/1 program: a binary target
    dash_duo.wait_for_contains_text("#text-status", "matches underlined", timeout=10)
    assert dash_duo.get_logs() == []
