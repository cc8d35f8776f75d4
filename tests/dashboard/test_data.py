"""The dashboard's server side on a real (tiny) recording: the data store, path refusal, the
payloads sent to the browser, the callbacks' view logic and the CLI parser.
Run: .venv/bin/pytest tests/dashboard/test_data.py -q
"""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from dashboards import create_app
from dashboards.data import DataStore
from dashboards.paths import PathError
from dashboards.state import resolve
from dashboards.views.navbar import apply_trigger, unchanged
from dashboards.views.textpanel import paint_payload, window_payload


@pytest.fixture(scope="module")
def data(dash_runs):
    return DataStore(dash_runs)


def test_catalog_and_cache(data):
    assert data.runs() == ["tiny"] and data.recordings("tiny") == ["pride"]
    rec = data.recording("tiny", "pride")
    assert data.recording("tiny", "pride") is rec  # opened once
    info = data.info("tiny", "pride")
    assert info["layers"] == 2 and info["hidden"] == 16 and info["kinds"] == ["i", "f", "o", "c", "h"]
    col = data.unit_column("tiny", "pride", 1, "c", 3)
    assert col.shape == (rec.n_chars,) and col.dtype == np.float32
    assert data.unit_column("tiny", "pride", 1, "c", 3) is col
    np.testing.assert_array_equal(data.unit_window("tiny", "pride", 1, "c", 3, 100, 200), col[100:200])
    block = data.units_window("tiny", "pride", [(0, "h", 2), (1, "c", 3)], 100, 200)
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


def test_pickers_are_sent_only_when_they_show_something_else():
    assert unchanged("unit", 6, {"unit": 6}, same_rec=True)
    assert not unchanged("unit", 6, {"unit": 22}, same_rec=True)  # 22 of 16 units wrapped to 6: show it
    assert unchanged("win", 1000, {"win-size": 1000}, same_rec=True)
    assert unchanged("layer_options", [], {}, same_rec=True) and not unchanged("layer_options", [], {}, same_rec=False)


def test_app_factory_and_cli_defaults(dash_runs):
    from charnn.cli import dashboard

    app = create_app(dash_runs)
    assert app.server.config["CHARNN_RUNS_ROOT"] == str(dash_runs.resolve())
    parser = argparse.ArgumentParser()
    dashboard.add_parser(parser.add_subparsers())
    args = parser.parse_args(["dashboard"])
    assert (args.runs_dir, args.host, args.port) == ("runs", "127.0.0.1", 8050)


def test_search_job_reports_progress_and_can_be_cancelled(data):
    from dashboards.jobs import Job
    from dashboards.views.search import baseline_text, run_search, table_rows

    rec = data.recording("tiny", "pride")
    seen = []
    job = Job("a")
    job.report = lambda fraction, message=None: seen.append(fraction)
    df = run_search(rec, {"regex": '"[^"]*"', "target": "inside"}, job)
    assert len(df) == 2 * 5 * 16 and seen[0] == 0.0 and seen == sorted(seen)
    rows = table_rows(df)
    assert rows[0]["id"] == f"{rows[0]['layer']}:{rows[0]['kind']}:{rows[0]['unit']}"
    assert "chance level, 99th percentile over 160 sampled units" in baseline_text(df)  # 10 blocks of 16
    stopped = Job("b")
    stopped.cancel.set()
    with pytest.raises(Exception, match="cancelled"):
        run_search(rec, {"concept": "inside_quotes"}, stopped)


def test_a_crafted_request_cannot_leave_runs_dir(dash_runs):
    """A callback request naming '..' as the run gets no data back (the view store is the client's)."""
    app = create_app(dash_runs)
    client = app.server.test_client()
    output = next(k for k in app.callback_map if "paint.data" in k)
    view = {"run": "..", "rec": "tiny", "pos": 0, "win": 1000, "layer": 0, "kind": "c", "unit": 0, "scale": "tanh"}
    body = {"output": output, "changedPropIds": ["view.data"],
            "outputs": [{"id": i, "property": "data"} for i in ("win", "win-key", "paint")],
            "inputs": [{"id": "view", "property": "data", "value": view}],
            "state": [{"id": "win-key", "property": "data", "value": None}]}
    refused = client.post("/_dash-update-component", json=body)
    assert b'"chars"' not in refused.data  # no update: the outputs are left as they were
    body["inputs"][0]["value"] = {**view, "run": "tiny", "rec": "pride"}
    served = client.post("/_dash-update-component", json=body)
    assert served.status_code == 200 and b'"chars"' in served.data


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
