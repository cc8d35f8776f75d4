"""Pure functions of the dashboard: coloring (charnn.colors, shared with `charnn export`), URL
state, view resolution, path safety, unit statistics, jobs, grid rows.
Run: .venv/bin/pytest tests/dashboard/test_pure.py -q
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from dash.exceptions import PreventUpdate

from charnn import colors
from charnn.units import Unit
from dashboards import paths
from dashboards.jobs import Busy, Jobs
from dashboards.state import DEFAULT_WINDOW, WINDOWS, resolve, served, window_bounds
from dashboards.unitstats import (
    histograms,
    mask_runs,
    next_strong,
    position_profile,
    quantile_samples,
    span_units,
    strong_threshold,
    top_positions,
)
from dashboards.urlstate import build_query, parse_query
from dashboards.views import grid
from dashboards.views.jobpanel import running_text


# ------------------------------------------------------------------ colors
def test_diverging_ends_and_middle():
    assert colors.diverging([0.0, 1.0, -1.0, 5.0]) == ["#ffffff", "#b2182b", "#2166ac", "#b2182b"]
    half = colors.diverging([0.5])[0]
    assert half not in ("#ffffff", "#b2182b") and int(half[1:3], 16) > int(half[3:5], 16)  # reddish


def test_normalize_by_kind():
    v = np.array([-3.0, 0.0, 2.0], np.float32)
    np.testing.assert_allclose(colors.normalize(v, "c", "tanh"), np.tanh(v), rtol=1e-6)
    np.testing.assert_allclose(colors.normalize(v, "c", "raw", lo=-4.0, hi=2.0), [-0.75, 0, 0.5])
    np.testing.assert_allclose(colors.normalize(np.array([0.0, 0.5, 1.0]), "f"), [-1, 0, 1])  # gates: 0.5 is white
    np.testing.assert_allclose(colors.normalize(np.array([-0.2, 0.7]), "h"), [-0.2, 0.7], rtol=1e-6)
    block = colors.normalize(np.array([[1.0, 1.0], [-2.0, 4.0]]), "c", "raw", lo=[-2, 0], hi=[1, 4])  # per column
    np.testing.assert_allclose(block, [[0.5, 0.25], [-1, 1]])
    with pytest.raises(ValueError, match="scale"):
        colors.normalize(v, "c", "log")


def test_loss_colors_and_strong_positions():
    assert colors.loss_colors([0.0, 100.0]) == ["#ffffff", "#e6550d"]
    norm = np.array([0, 0.95, 0.96, 0, 0, -0.99, 0, 0.97], np.float32)
    assert next_strong(norm, -1, 0.9) == 1
    assert next_strong(norm, 1, 0.9) == 5  # the start of the next run, not the middle of this one
    assert next_strong(norm, 7, 0.9) == 1  # wraps around
    assert next_strong(np.zeros(5), 0, 0.9) is None
    assert strong_threshold(np.zeros(100)) == 0.5


# ------------------------------------------------------------------ URL and view
def test_query_roundtrip_with_a_regex():
    view = {"run": "austen", "rec": "val", "layer": 1, "kind": "c", "unit": 37, "pos": 12000,
            "regex": '"[^"]*" & (a|b)+?', "target": "inside", "focus": None}
    assert parse_query(build_query(view)) == {k: v for k, v in view.items() if v is not None}


def test_parse_query_drops_bad_values():
    assert parse_query("?unit=abc&layer=-1&pos=5&bogus=1&run=x") == {"pos": 5, "run": "x"}
    assert parse_query("") == {} and parse_query(None) == {}
    assert "regex" not in parse_query("?regex=" + "a" * 5000)


class Catalog:
    def runs(self):
        return ["a", "b"]

    def recordings(self, run):
        return {"a": ["val"], "b": []}[run]

    def info(self, run, rec):
        return {"n_chars": 1000, "layers": 2, "kinds": ["c", "h"]}

    def width(self, run, rec, layer, kind):
        return 8


def test_resolve_fills_and_clamps():
    v = resolve({"run": "nope", "unit": 9, "layer": 7, "kind": "zz", "pos": 5000, "win": 123, "tab": "x"}, Catalog())
    assert (v["run"], v["rec"], v["layer"], v["kind"], v["unit"], v["pos"]) == ("a", "val", 1, "c", 1, 0)
    assert resolve({"pos": 900, "win": 1000, "focus": 5000}, Catalog())["focus"] == 999
    long = Catalog()
    long.info = lambda run, rec: {**Catalog().info(run, rec), "n_chars": 5000}
    assert resolve({"pos": 4500, "win": 1000}, long)["pos"] == 4000  # the last page is a full one
    assert v["win"] == DEFAULT_WINDOW and v["tab"] == "neuron" and v["scale"] == "tanh"
    assert resolve({"unit": -1}, Catalog())["unit"] == 7  # previous of unit 0 wraps to the last
    empty = resolve({"run": "b"}, Catalog())
    assert empty["rec"] is None and empty["unit"] is None
    assert window_bounds({"pos": 900, "win": 1000}, 1000) == (900, 1000)
    assert window_bounds({"pos": 10, "win": 10**9}, 10**8) == (10, 10 + max(WINDOWS))  # never more than the largest


def test_served_resolves_what_the_browser_sent():
    v = served({"run": "a", "win": 10**9, "unit": 11, "tab": "model", "regex": "a" * 5000, "concept": ["x"]}, Catalog())
    assert (v["win"], v["unit"], v["regex"], v["concept"]) == (DEFAULT_WINDOW, 3, None, None)
    assert resolve({"regex": "(a)b", "target": "group:1"}, Catalog())["target"] == "group:1"  # a capture group stays
    assert resolve({"concept": "digit", "target": "group:x"}, Catalog())["target"] == "inside"
    assert resolve({"concept": "no_such_concept"}, Catalog())["concept"] is None
    for view, tab in ((None, None), ({}, "details"), ({"tab": "neuron"}, "details"), ({"run": "b"}, None)):
        with pytest.raises(PreventUpdate):  # nothing to show, another tab, or a run with no recording
            served(view, Catalog(), tab)


# ------------------------------------------------------------------ paths
def test_safe_join_refuses_escapes(tmp_path):
    root = tmp_path / "runs"
    (root / "r1" / "recordings" / "val").mkdir(parents=True)
    (root / "r1" / "config.json").write_text("{}")
    (root / "r1" / "recordings" / "val" / "meta.json").write_text("{}")
    assert paths.recording_path(root, "r1", "val") == (root / "r1" / "recordings" / "val").resolve()
    for bad in ["..", ".", "", "../x", "a/b", "/etc", "x\\y", "x\0y", None, 3]:
        with pytest.raises(paths.PathError):
            paths.safe_join(root, bad)
    outside = tmp_path / "outside"
    (outside / "recordings").mkdir(parents=True)
    (outside / "config.json").write_text("{}")
    os.symlink(outside, root / "link")  # a symlink that leads out of RUNS_DIR
    with pytest.raises(paths.PathError, match="outside"):
        paths.run_path(root, "link")
    assert paths.list_runs(root) == ["r1"]
    (root / "r1" / "recordings" / ".val2.partial").mkdir()  # a recording being written: its manifest is
    (root / "r1" / "recordings" / ".val2.partial" / "meta.json").write_text("{}")  # there just before the rename
    assert paths.list_recordings(root, "r1") == ["val"]


# ------------------------------------------------------------------ unit statistics
def test_histograms_and_top_positions():
    rng = np.random.default_rng(0)
    values = rng.normal(size=1000).astype(np.float32)
    mask = np.zeros(1000, bool)
    mask[100:300] = True
    values[mask] += 3
    h = histograms(values, mask, bins=20)
    width = np.diff(h["edges"])
    for key in ("all", "inside", "outside"):
        assert abs((h[key] * width).sum() - 1) < 1e-6
    top = top_positions(values, 5, sign=1, min_gap=20)
    assert len(top) == 5 and all(100 <= p < 300 for p in top)
    assert all(abs(a - b) >= 20 for i, a in enumerate(top) for b in top[i + 1:])
    assert values[top_positions(values, 1, sign=-1)[0]] == values.min()


def test_quantile_samples_cover_every_bin():
    picks = quantile_samples(np.arange(100, dtype=np.float32), n_bins=10, per_bin=2)
    assert sorted({b for b, _ in picks}) == list(range(10))
    assert all(10 * b <= p < 10 * (b + 1) for b, p in picks)


def test_mask_runs_and_position_profile():
    mask = np.zeros(30, bool)
    mask[[2, 3, 4, 10, 11, 20, 21, 22, 23]] = True
    assert mask_runs(mask) == [[2, 5], [10, 12], [20, 24]]
    values = np.zeros(30, np.float32)
    for start, stop in mask_runs(mask):
        values[start:stop] = np.arange(1, stop - start + 1)  # 1, 2, 3 ... along each match
    prof = position_profile(values, mask, before=2, max_len=5)
    start = dict(zip(prof["start"]["offset"].tolist(), prof["start"]["mean"].tolist()))
    assert prof["matches"] == 3 and start[-1] == 0 and start[0] == 1 and start[1] == 2 and start[3] == 4
    assert dict(zip(prof["start"]["offset"].tolist(), prof["start"]["count"].tolist()))[3] == 1  # only the long match


def test_span_units_finds_the_planted_unit():
    rng = np.random.default_rng(1)
    norm = rng.uniform(-0.2, 0.2, size=(60, 5)).astype(np.float32)
    norm[20:40, 3] = 0.9  # unit 3 is on inside the span only
    norm[20:40, 1] = -0.9  # unit 1 is strongly negative inside
    found = span_units(norm, slice(20, 40), threshold=0.5, top=2)
    assert {(r["index"], r["sign"]) for r in found} == {(3, "+"), (1, "−")}
    assert found[0]["inside"] == 1.0 and found[0]["around"] == 0.0


# ------------------------------------------------------------------ jobs
def test_jobs_report_progress_errors_and_cancel():
    jobs = Jobs()

    def work(job):
        for i in range(100):
            if job.cancelled:
                raise ValueError("stopped")
            job.report(i / 100)
            time.sleep(0.005)
        return "done"

    ok = jobs.start(work)
    failing = jobs.start(lambda job: 1 / 0)
    stopped = jobs.start(work)
    jobs.cancel(stopped)
    deadline = time.time() + 10
    while not all(jobs.get(j).done for j in (ok, failing, stopped)) and time.time() < deadline:
        time.sleep(0.01)
    assert jobs.get(ok).result == "done" and jobs.get(ok).error is None
    assert jobs.get(failing).error == "ZeroDivisionError: division by zero"  # a bug names its type
    assert jobs.get(stopped).error == "stopped"
    assert jobs.get("missing") is None and jobs.get(["not", "an", "id"]) is None


def test_jobs_are_bounded_and_closed():
    jobs = Jobs(max_running=2)
    running = [jobs.start(lambda job: job.cancel.wait(10)) for _ in range(2)]
    with pytest.raises(Busy, match="running 2 jobs already"):
        jobs.start(lambda job: None)
    jobs.close()  # what the server does on Ctrl-C
    deadline = time.time() + 10
    while not all(jobs.get(j).done for j in running) and time.time() < deadline:
        time.sleep(0.01)
    assert all(jobs.get(j).cancelled and jobs.get(j).done for j in running)
    assert jobs.get(jobs.start(lambda job: "again")) is not None  # room again once they stopped
    job = jobs.get(running[0])
    job.progress, job.message = 0.45, "scoring every unit"
    assert running_text(job, progress=True).startswith("scoring every unit · 45% · ")
    assert running_text(job, progress=False).startswith("scoring every unit · ")


# ------------------------------------------------------------------ grid
def test_grid_rows_and_clicks():
    import pandas as pd

    df = pd.DataFrame({"step": np.array([10, 20], np.int64), "r": [0.12345, np.nan], "kind": ["c", "h"]})
    rows = grid.rows(df, ["step", "r", "kind"], row_id=lambda r: f"step-{r['step']}/0:{r['kind']}:1")
    assert rows == [{"step": 10, "r": 0.123, "kind": "c", "id": "step-10/0:c:1"},
                    {"step": 20, "r": None, "kind": "h", "id": "step-20/0:h:1"}]
    assert type(rows[0]["step"]) is int
    assert grid.clicked_unit({"rowId": "1:c:37", "colId": "r"}) == (None, Unit(1, "c", 37))
    assert grid.clicked_unit({"rowId": "step-0000020/1:c:7"}) == ("step-0000020", Unit(1, "c", 7))
    for cell in (None, {}, {"rowId": 3}, {"rowId": "1:c"}, {"rowId": "x/1:c:-1"}, "1:c:37"):
        assert grid.clicked_unit(cell) is None
    assert grid.column("r", "tip", "+.3f")["valueFormatter"]["function"].endswith("d3.format('+.3f')(params.value)")
