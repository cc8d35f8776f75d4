"""Explanations in the dashboard without a browser: what the views make of explanations.parquet
(dashboards/explained.py), the data store picking a new file up, and the Explain tab's job and
clicks as callback requests over HTTP, on the conftest's tiny run (`explained_runs`: explained
for kinds c and h; `unexplained_runs`: a fresh copy with no explanations).
Run: .venv/bin/pytest tests/dashboard/test_explained.py -q
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

import charnn
from charnn.explanations import CURVE, load_explanations
from charnn.units import Unit
from dashboards import create_app, explained
from dashboards.data import DataStore
from dashboards.state import query, resolve
from dashboards.urlstate import build_query, parse_query

VIEW = {"run": "tiny", "rec": "pride", "pos": 0, "win": 1000, "layer": 0, "kind": "h", "unit": 0, "scale": "tanh",
        "tab": "explain"}
EXPLANATION = 'inside `"`...`"` AND NOT after newline'


@pytest.fixture(scope="module")
def table(explained_runs):
    return load_explanations(explained_runs / "tiny" / "recordings" / "pride")


def best_unit(table) -> tuple[Unit, dict]:
    row = table[(table["rank"] == 1) & (table["status"] == "ok")].sort_values("score", ascending=False).iloc[0]
    return Unit(int(row["layer"]), row["kind"], int(row["unit"])), row


# ------------------------------------------------------------------ pure
def test_a_units_explanations_scores_and_what_is_missing(table):
    unit, row = best_unit(table)
    rows = explained.ranked(table, unit)
    assert list(rows["rank"]) == sorted(rows["rank"]) and rows.iloc[0]["explanation"] == row["explanation"]
    line = explained.scores(rows.iloc[0])
    assert line.startswith(f"held-out r {row['r_heldout']:+.3f} (chance {abs(row['r_chance']):.3f})")
    assert ("separation" in line) == bool(np.isfinite(row["auroc"]))
    assert explained.separated(0.01, 0.49) == "separation 0.990, low where it holds (chance 0.510)"
    assert explained.missing(None, unit, "pride") == "pride has no explanations yet: compute them on the Explain tab"
    gate = explained.missing(table, Unit(0, "f", 1), "pride")
    assert "cover kinds c, h" in gate and "explain kind f" in gate
    constant = table.iloc[[0]].assign(status="constant", explanation="")
    assert "unexplainable" in explained.missing(constant, Unit(int(constant["layer"].iloc[0]), constant["kind"].iloc[0],
                                                                int(constant["unit"].iloc[0])), "pride")
    assert explained.ranked(None, unit).empty and explained.explained(explained.ranked(table, Unit(0, "f", 1))).empty


def test_the_curve_figure_shows_the_unit_beside_its_layer_and_kinds_shares(table):
    unit, row = best_unit(table)
    fig = explained.curve_figure(table, unit)
    mine, *shares = fig.data
    assert list(mine.x) == list(CURVE) and list(mine.y) == pytest.approx([row[f"curve_{k}"] for k in CURVE])
    same = table[(table["rank"] == 1) & (table["layer"] == unit.layer) & (table["kind"] == unit.kind)]
    assert [s.name for s in shares] == ["r ≥ 0.5", "r ≥ 0.7", "r ≥ 0.8"]
    assert list(shares[0].y) == pytest.approx([(same[f"curve_{k}"] >= 0.5).mean() for k in CURVE])
    assert not explained.curve_figure(None, unit).data  # not explained: an annotation, no traces


def test_the_explain_pages_table_filters_and_sorts(table):
    rows, passing, total = explained.best(table)
    assert total == passing == len(rows) == 2 * 16 * 2  # every c and h unit of the 2x16 model
    assert list(rows["score"]) == sorted(rows["score"], reverse=True)
    assert rows["unit"].iloc[0] == str(best_unit(table)[0])
    only = explained.best(table, explained.Filters(layers=[1], kinds=["c"], min_score=0.3))[0]
    assert len(only) and all(u.startswith("1:c:") for u in only["unit"]) and (only["score"] >= 0.3).all()
    text = rows["explanation"].iloc[0]
    found = explained.best(table, explained.Filters(contains=text.upper()))[0]
    assert text in set(found["explanation"]) and all(text.lower() in e.lower() for e in found["explanation"])
    shares = explained.share_table(table)
    assert list(shares.columns) == ["layer", "kind", "units", "r50", "r70", "r80"] and shares["units"].sum() == total
    assert "64 units of pride explained (kinds c, h)" in explained.summary(table, "pride")


def test_the_explain_pages_table_has_each_units_half_life_sortable(explained_runs, post_callback):
    """The table's callback sends each unit's median half-life (memory_spans'; none for h, which no gate
    decays), in a column the grid sorts by value."""
    from dashboards.views.explain import COLUMNS
    rec = charnn.open_recording(explained_runs / "tiny" / "recordings" / "pride")
    spans = charnn.memory_spans(rec).set_index(["layer", "unit"])
    _, out = post_callback(create_app(explained_runs), "explain-note.children", {"view.data": VIEW})
    rows = out["explain-table"]["rowData"]
    assert len(rows) == 64
    for row in rows:
        unit = Unit.parse(row["id"])
        want = spans.loc[(unit.layer, unit.index), "half_life"] if unit.kind == "c" else None
        assert row["half_life"] == want, row["id"]
    column = next(c for c in COLUMNS if c["field"] == "half_life")
    assert column["type"] == "rightAligned" and column.get("sortable", True)  # sorted by value, as a number
    by_span = sorted((r for r in rows if r["half_life"] is not None), key=lambda r: r["half_life"])
    assert by_span[0]["half_life"] == spans["half_life"].min() and by_span[-1]["half_life"] == spans["half_life"].max()


def test_an_explanation_is_a_view_query_and_survives_the_url(dash_runs):
    store = DataStore(dash_runs)
    view = resolve({**VIEW, "explanation": EXPLANATION}, store)
    assert query(view) == {"explanation": EXPLANATION}
    assert parse_query(build_query(view))["explanation"] == EXPLANATION
    assert resolve({**VIEW, "explanation": "x" * 5000}, store)["explanation"] is None
    target = store.target("tiny", "pride", query(view))
    assert set(np.unique(target)) == {0.0, 1.0}  # a 0/1 program underlines its matches
    with pytest.raises(ValueError, match="at character"):
        store.target("tiny", "pride", {"explanation": "inside `(`"})


# ------------------------------------------------------------------ the data store
def test_the_store_picks_up_new_explanations_and_refuses_stale_or_damaged_ones(unexplained_runs):
    store = DataStore(unexplained_runs)
    assert store.explanations("tiny", "pride") is None
    rec = store.recording("tiny", "pride")
    charnn.explain(rec, kinds=["h"], progress=False)
    first = store.explanations("tiny", "pride")
    assert set(first["kind"]) == {"h"} and store.explanations("tiny", "pride") is first  # read once
    path = charnn.explanations.explanations_path(rec)
    df = charnn.explain(rec, kinds=["c"], progress=False, save=False)
    df.attrs["recording_id"] = "another recording"
    charnn.explanations.table.save_explanations(df, path, "another recording")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert store.explanations("tiny", "pride") is None  # an earlier recording's, in the same folder
    store.explained("tiny", "pride", first)
    assert store.explanations("tiny", "pride") is None  # the saved file wins over the memory
    path.write_bytes(b"not parquet")
    with pytest.raises(ValueError, match="cannot read explanations.parquet of tiny/pride .* again on the Explain tab"):
        store.explanations("tiny", "pride")
    path.unlink()
    assert store.explanations("tiny", "pride") is first  # computed here, not saved: kept in memory


# ------------------------------------------------------------------ callbacks over HTTP
def poll(post, app, job_id, timeout: float = 60):
    deadline = time.time() + timeout
    while True:
        _, out = post(app, "explain-version.data", {"explain-poll.n_intervals": 1, "explain-job.data": job_id})
        if "explain-version" in out or out.get("explain-error", {}).get("children") or time.time() > deadline:
            return out
        time.sleep(0.05)


def test_the_explain_job_writes_the_file_and_the_page_shows_it(unexplained_runs, post_callback):
    app = create_app(unexplained_runs)
    _, out = post_callback(app, "explain-note.children", {"view.data": VIEW})
    assert "has no explanations yet" in out["explain-note"]["children"] and out["explain-table"]["rowData"] == []
    _, out = post_callback(app, "explain-job.data", {"explain-go.n_clicks": 1, "view.data": VIEW,
                                                     "explain-kinds.value": []})
    assert out["explain-error"]["children"].startswith("pick the kinds to explain (this recording has i, f, g, o, c, h)")
    _, out = post_callback(app, "explain-job.data", {"explain-go.n_clicks": 1, "view.data": VIEW,
                                                     "explain-kinds.value": ["h", "bogus"]})
    out = poll(post_callback, app, out["explain-job"]["data"])
    assert out["explain-status"]["children"].startswith("32 units explained in") and "saved" in out["explain-status"]["children"]
    version = out["explain-version"]["data"]
    saved = load_explanations(unexplained_runs / "tiny" / "recordings" / "pride")
    assert set(saved["kind"]) == {"h"}
    _, out = post_callback(app, "explain-note.children", {"view.data": VIEW, "explain-version.data": version,
                                                          "explain-kind-filter.value": ["h"]})
    rows = out["explain-table"]["rowData"]
    assert len(rows) == 32 and rows[0]["id"] == rows[0]["unit"] and rows[0]["score"] >= rows[-1]["score"]
    assert "32 units of pride explained (kinds h)" in out["explain-note"]["children"]
    assert [r["id"] for r in out["explain-shares"]["rowData"]] == ["0:h", "1:h"]


def test_clicking_an_explanation_searches_it_and_clicking_a_unit_opens_it(explained_runs, table, post_callback):
    app = create_app(explained_runs)
    unit, row = best_unit(table)
    click = "explain-table.cellClicked"  # the callback named by its input: its outputs are shared with others
    _, out = post_callback(app, click, {click: {"colId": "unit", "rowId": str(unit)}, "view.data": VIEW})
    assert out["open"]["data"]["unit"] == unit.index and out["open"]["data"]["tab"] == "neuron" and "explain-use" not in out
    _, out = post_callback(app, click, {click: {"colId": "explanation", "rowId": "0:f:1"}, "view.data": VIEW})
    assert out["open"]["data"]["kind"] == "f" and "explain-use" not in out  # no explanation: the unit opens
    _, out = post_callback(app, click, {click: {"colId": "explanation", "rowId": str(unit)}, "view.data": VIEW})
    request = out["explain-use"]["data"]
    assert (request["unit"], request["rank"]) == (str(unit), 1)
    _, out = post_callback(app, "search-request.data", {"explain-use.data": request, "view.data": VIEW})
    assert out["search-mode"]["value"] == "explanation" and out["search-explanation"]["value"] == row["explanation"]
    started = out["search-request"]["data"]
    _, out = post_callback(app, "search-job.data", {"search-request.data": started, "search-mode.value": "explanation",
                                                    "search-explanation.value": row["explanation"], "view.data": VIEW})
    opened = out["open"]["data"]  # one view change: the unit, the neuron tab and the query
    assert (opened["kind"], opened["unit"], opened["tab"]) == (unit.kind, unit.index, "neuron")
    assert opened["explanation"] == row["explanation"] and opened["regex"] is None and out["search-job"]["data"]
    for crafted in ({"unit": "../x", "rank": 1}, {"unit": str(unit), "rank": 99}, {"unit": 5, "rank": 1}):
        status, out = post_callback(app, "search-request.data", {"explain-use.data": crafted, "view.data": VIEW})
        assert (status, out) == (204, {})  # nothing to search: nothing changes
