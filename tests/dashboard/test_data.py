"""The dashboard's server side on a real (tiny) recording: the data store, path refusal, the
payloads sent to the browser, the callbacks' view logic, and callback requests as a crafted
client sends them (names that leave RUNS_DIR, windows and widths that would size work).
Run: .venv/bin/pytest tests/dashboard/test_data.py -q
"""

from __future__ import annotations

import shutil
import threading
import time

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from charnn.units import Unit
from dashboards import create_app
from dashboards.data import DataStore
from dashboards.jobs import Job
from dashboards.paths import PathError
from dashboards.state import resolve
from dashboards.views import heatmap, intervene
from dashboards.views.navbar import apply_trigger, unchanged
from dashboards.views.search import BINARY, run_search, search_query, table_rows
from dashboards.views.textpanel import paint_payload, window_payload

VIEW = {"run": "tiny", "rec": "pride", "pos": 0, "win": 1000, "layer": 0, "kind": "c", "unit": 0, "scale": "tanh",
        "tab": "neuron"}


@pytest.fixture(scope="module")
def data(dash_runs):
    return DataStore(dash_runs)


def test_catalog_and_cache(data):
    assert data.runs() == ["tiny"] and data.recordings("tiny") == ["pride"]
    rec = data.recording("tiny", "pride")
    assert data.recording("tiny", "pride") is rec  # opened once
    info = data.info("tiny", "pride")
    assert info["layers"] == 2 and info["kinds"] == ["i", "f", "g", "o", "c", "h"]  # g derived
    assert data.width("tiny", "pride", 1, "c") == 16
    col = data.unit_column("tiny", "pride", 1, "c", 3)
    assert col.shape == (rec.n_chars,) and col.dtype == np.float32
    assert data.unit_column("tiny", "pride", 1, "c", 3) is col
    np.testing.assert_array_equal(data.unit_window("tiny", "pride", 1, "c", 3, 100, 200), col[100:200])
    block = data.units_window("tiny", "pride", [Unit(0, "h", 2), Unit(1, "c", 3)], 100, 200)
    np.testing.assert_array_equal(block[1], col[100:200])
    assert data.metrics("tiny")["step"].iloc[-1] == 30


def test_opening_a_recording_prepares_its_search(dash_runs):
    from charnn.search import summaries
    store = DataStore(dash_runs)
    rec = store.recording("tiny", "pride")
    job = store.preparing("tiny", "pride")
    job.result(timeout=60)
    assert summaries.load(rec, 256)  # the cache a first search would build
    assert store.preparing("tiny", "pride") is job  # once per recording


@pytest.mark.parametrize("run, rec", [("..", "pride"), ("tiny", "../../tiny"), ("/etc", "x"), ("tiny/..", "pride")])
def test_names_that_escape_runs_dir_are_refused(data, run, rec):
    with pytest.raises(PathError):
        data.recording(run, rec)


def test_targets_and_catastrophic_regex(data, catastrophic):
    y = data.target("tiny", "pride", {"regex": '"[^"]*"', "target": "inside"})
    text = data.text("tiny", "pride")
    assert y.shape == (len(text),) and text[int(np.argmax(y))] == '"'
    assert data.target("tiny", "pride", None) is None
    quotes = data.target("tiny", "pride", {"concept": "inside_quotes"})
    assert quotes.shape == y.shape and 0 < quotes.mean() < 1
    with pytest.raises(ValueError, match="invalid regex"):
        data.target("tiny", "pride", {"regex": "("})
    with pytest.raises(ValueError, match="timed out"):
        data.target("tiny", "pride", {"regex": catastrophic})


def test_payloads(data):
    view = resolve({"unit": 3, "pos": 100, "win": 1000, "regex": '"[^"]*"', "focus": 150}, data)
    win = window_payload(data, view)
    assert (win["start"], win["stop"]) == (100, 1100) and len(win["chars"]) == len(win["loss_colors"]) == 1000
    assert all(len(t) == len(p) for t, p in zip(win["top"][:10], win["top_p"][:10]))
    paint = paint_payload(data, view)
    assert paint["key"] == win["key"] and len(paint["colors"]) == 1000 and paint["focus"] == 50
    text = data.text("tiny", "pride")
    assert paint["under"] and all(text[100 + a] == '"' for a, _ in paint["under"] if 100 + a > 100)
    bad = paint_payload(data, {**view, "regex": "("})
    assert "invalid regex" in bad["error"] and bad["under"] == []


def test_gate_saturation(data):
    sat = data.gate_saturation("tiny", "pride")
    assert set(sat["gate"]) == {"i", "f", "o"} and len(sat) == 2 * 3 * 16
    assert ((sat.left >= 0) & (sat.left + sat.right <= 1)).all()


def test_navigation_triggers(data):
    view = resolve({"unit": 15, "win": 1000}, data)
    nxt = resolve(apply_trigger("unit-next", view, {}, data), data)
    assert nxt["unit"] == 0  # wraps
    page = resolve(apply_trigger("page-next", view, {}, data), data)
    assert page["pos"] == 1000
    jump = resolve(apply_trigger("jump-go", view, {"jump-pos": 5000}, data), data)
    assert jump["focus"] == 5000 and jump["pos"] < 5000
    strong = resolve(apply_trigger("strong-next", view, {}, data), data)
    assert strong["focus"] is not None
    opened = resolve(apply_trigger("open", view, {"open": {"layer": 0, "kind": "h", "unit": 4}}, data), data)
    assert (opened["layer"], opened["kind"], opened["unit"]) == (0, "h", 4)
    focused = apply_trigger("open", view, {"open": {"focus": 5000, "tab": "neuron"}}, data)
    assert (focused["focus"], focused["pos"]) == (5000, 4700)  # the page that shows 300 characters before it


def test_pickers_are_sent_only_when_they_show_something_else():
    same = {"rec": True, "units": True}
    assert unchanged("unit", 6, {"unit": 6}, same)
    assert not unchanged("unit", 6, {"unit": 22}, same)  # 22 of 16 units wrapped to 6: show it
    assert unchanged("win", 1000, {"win-size": 1000}, same)
    assert unchanged("layer_options", [], {}, same) and not unchanged("layer_options", [], {}, {**same, "rec": False})
    assert not unchanged("unit_max", 15, {}, {"rec": True, "units": False})  # another kind may be wider


def test_app_factory(dash_runs):
    app = create_app(dash_runs)
    services = app.server.extensions["charnn"]
    assert services.data.root == dash_runs.resolve() and services.jobs.max_running > 0


def test_search_job_reports_progress_and_can_be_cancelled(data):
    from dashboards.views.search import baseline_text

    rec = data.recording("tiny", "pride")
    seen = []
    job = Job("a")
    job.report = lambda fraction, message=None: seen.append(fraction)
    df = run_search(rec, {"regex": '"[^"]*"', "target": "inside"}, job)
    assert len(df) == 2 * 5 * 16 and seen[0] == 0.0 and seen == sorted(seen)
    rows = table_rows(df)
    best = df.iloc[0]
    assert rows[0]["id"] == rows[0]["unit"] == str(Unit(int(best.layer), best.kind, int(best.unit)))
    x = rec.activations(int(best.layer), best.kind, [int(best.unit)])[:, 0]  # the unit, read again
    y = data.target("tiny", "pride", {"regex": '"[^"]*"', "target": "inside"}).astype(bool)
    auroc = roc_auc_score(y, x)  # scikit-learn's, not the engine's histograms
    assert rows[0]["separation"] == pytest.approx(max(auroc, 1 - auroc), abs=0.01) and rows[0]["separation"] > 0.6
    assert rows[0]["inside"] == ("high" if auroc > 0.5 else "low") and set(rows[0]) == {"id", *BINARY}
    assert "chance level, 99th percentile over 160 sampled units" in baseline_text(df)  # 10 blocks of 16
    stopped = Job("b")
    stopped.cancel.set()
    with pytest.raises(Exception, match="cancelled"):
        run_search(rec, {"concept": "inside_quotes"}, stopped)


def test_a_continuous_concept_gets_its_own_columns(data):
    df = run_search(data.recording("tiny", "pride"), {"concept": "line_position"}, Job("a"))
    assert set(table_rows(df)[0]) == {"id", "unit", "r"}


def test_search_queries_are_checked_in_the_request():
    assert search_query("regex", '"', None, None) == {"regex": '"', "target": "inside", "concept": None,
                                                      "explanation": None}
    assert search_query("concept", None, None, "digit") == {"concept": "digit", "regex": None, "explanation": None}
    text = 'inside `"`...`"` AND NOT after newline'
    assert search_query("explanation", None, None, None, f" {text} ") == {"explanation": text, "regex": None,
                                                                           "concept": None}
    with pytest.raises(ValueError, match="type a regex"):
        search_query("regex", "", "inside", None)
    with pytest.raises(ValueError, match="up to 2,000"):
        search_query("regex", "a" * 5000, "inside", None)
    with pytest.raises(ValueError, match="type an explanation"):
        search_query("explanation", None, None, None, "  ")
    with pytest.raises(ValueError, match=r"explanation 'inside `\(`': .* at character") as bad:
        search_query("explanation", None, None, None, "inside `(`")
    assert "\n" not in str(bad.value)  # one line in the panel


def test_a_crafted_request_cannot_leave_runs_dir(dash_runs, post_callback):
    """A callback request naming '..' as the run is answered as the URL route answers it: with
    the view resolved against RUNS_DIR (its first run), never with anything outside it."""
    app = create_app(dash_runs)
    status, out = post_callback(app, "paint.data", {"view.data": {**VIEW, "run": "..", "rec": "../../etc"}})
    assert status == 200 and out["win"]["data"]["key"] == "tiny/pride/0/1000"
    status, refused = post_callback(app, "hist-match-job.data", {"view.data": VIEW, "hist-other.value": "../.."})
    assert (status, refused) == (200, {})  # a name that leaves RUNS_DIR starts nothing and changes nothing


def test_a_crafted_window_is_bounded_on_the_server(dash_runs, post_callback):
    """The text window and the heatmap's width come from the browser: a request for 10^9
    characters gets the default window, not the whole recording."""
    app = create_app(dash_runs)
    _, out = post_callback(app, "paint.data", {"view.data": {**VIEW, "win": 10**9}})
    chars = out["win"]["data"]["chars"]
    assert len(chars) == 3000 and out["paint"]["data"]["key"].endswith("/3000")
    units = ["0:c:3", "9:c:1", "0:zz:1", "junk", "1:h:999"]
    _, out = post_callback(app, "heat-graph.figure", {"view.data": {**VIEW, "tab": "heatmap"}, "heat-width.value": 10**9,
                                                 "heat-units.value": units})
    figure = out["heat-graph"]["figure"]
    assert "chars 0–200" in figure["layout"]["title"]["text"] and figure["data"][0]["y"] == ["0:c:3"]
    assert out["heat-note"]["children"].startswith("4 chosen unit(s) are not in this recording")


def test_a_crafted_intervention_scores_one_window(data):
    work = intervene.prepare(data, {**VIEW, "pos": 1000, "win": 10**9}, "zero", None, None, None, None, 0)
    out = work(Job("a"))
    assert out["win"]["stop"] - out["win"]["start"] == 3000 and len(out["paint"]["values"]) == 3000
    for seed, prime, message in ((1.5, None, "whole number"), (2**40, None, "whole number"), (0, "x" * 5000, "up to 1,000")):
        with pytest.raises(ValueError, match=message):
            intervene.prepare(data, VIEW, "zero", None, None, None, prime, seed)


def test_heatmap_units_by_name(data):
    view = resolve({**VIEW, "layer": 1, "kind": "h", "unit": 3}, data)
    assert heatmap.unit_options(data, view, None, [])[:2] == ["1:h:0", "1:h:1"]
    found = heatmap.unit_options(data, view, "0:f:1", ["1:c:2"])
    assert found == ["1:c:2", "0:f:1", "0:f:10", "0:f:11", "0:f:12", "0:f:13", "0:f:14", "0:f:15"]
    units, missing = heatmap.chosen_units(data, view, ["1:c:2", "1:c:99"])
    assert units == [Unit(1, "c", 2)] and missing == 1
    units, missing = heatmap.chosen_units(data, view, None)
    assert units == [Unit(1, "h", u) for u in range(16)] and missing == 0


def test_span_finder_checks_the_span(data):
    view = resolve(VIEW, data)
    rows = heatmap.find_span(data, view, 100, 140, 0.3)
    assert 0 < len(rows) <= heatmap.SPAN_ROWS and Unit.parse(rows[0]["id"]).kind == "c"
    assert rows == sorted(rows, key=lambda r: -r["score"])
    for start, stop, threshold, message in ((None, 10, 0.3, "choose a span"), (50, 10, 0.3, "choose a span"),
                                            (0, 10**9, 0.3, "choose a span"), (0, 5000, 0.3, "up to 2,000"),
                                            (0, 10, None, "threshold")):
        with pytest.raises(ValueError, match=message):
            heatmap.find_span(data, view, start, stop, threshold)


def test_closing_the_store_stops_a_running_preparation(dash_runs, monkeypatch):
    """Ctrl-C must not wait for a preparation to finish: close() makes its cancel() true."""
    started, stopped = threading.Event(), threading.Event()

    def slow_prepare(rec, progress, cancel):
        started.set()
        while not cancel():
            time.sleep(0.01)
        stopped.set()

    monkeypatch.setattr("dashboards.data.prepare", slow_prepare)
    store = DataStore(dash_runs)
    store.recording("tiny", "pride")
    assert started.wait(10)
    t0 = time.perf_counter()
    store.close()
    assert stopped.is_set() and time.perf_counter() - t0 < 5


def test_a_search_cancels_a_queued_preparation_and_waits_for_a_running_one(data):
    import threading
    from concurrent.futures import Future

    from dashboards.jobs import Job
    from dashboards.views.search import run_search
    rec = data.recording("tiny", "pride")
    query = {"regex": '"[^"]*"', "target": "inside"}
    queued = Future()  # behind another recording's preparation
    assert len(run_search(rec, query, Job("a"), queued)) == 2 * 5 * 16 and queued.cancelled()
    running, job, messages = Future(), Job("b"), []
    running.set_running_or_notify_cancel()
    job.report = lambda fraction, message=None: messages.append(message)
    threading.Timer(0.3, running.set_result, [True]).start()
    assert len(run_search(rec, query, job, running)) == 2 * 5 * 16
    assert messages[0] == "preparing this recording for search (once)" and running.done()


def test_an_empty_runs_dir_and_a_damaged_recording_say_what_to_do(dash_runs, tmp_path, post_callback):
    app = create_app(tmp_path)
    _, out = post_callback(app, "nav-error.children", {"url.search": ""})
    assert out["nav-error"]["children"].startswith(f"no runs in {tmp_path.resolve()}: train one with `charnn train")
    runs = tmp_path / "runs"
    shutil.copytree(dash_runs / "tiny", runs / "tiny")
    broken = runs / "tiny" / "recordings" / "a-broken"
    shutil.copytree(runs / "tiny" / "recordings" / "pride", broken)
    (broken / "meta.json").write_text("{")
    app = create_app(runs)
    _, out = post_callback(app, "nav-error.children", {"url.search": "?run=tiny&rec=a-broken"})
    assert out["nav-error"]["children"].startswith("cannot open the recording 'a-broken' of tiny (")
    assert out["view"]["data"]["rec"] is None and out["rec"]["options"] == ["a-broken", "pride"]  # another can be picked
    _, out = post_callback(app, "nav-error.children", {"url.search": "?run=tiny&rec=pride"})
    assert out["nav-error"]["children"] == "" and out["view"]["data"]["rec"] == "pride"
