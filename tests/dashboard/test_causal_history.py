"""The intervention and history panels: their pure functions, and their jobs on tiny real runs
(the conftest's `dash_runs`, and `probe_runs` with probe recordings at steps 10 and 20).
Run: .venv/bin/pytest tests/dashboard/test_causal_history.py -q
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

from charnn import colors
from charnn.causal import Mode
from charnn.units import Unit
from dashboards.data import DataStore
from dashboards.interventions import BURN_IN, Request, delta_colors, run_intervention, samples, scored_span, summary_lines
from dashboards.jobs import Job, Jobs
from dashboards.state import resolve
from dashboards.views import history
from dashboards.views.intervene import prepare


# ------------------------------------------------------------------ pure: interventions
def test_modes_parse_once_and_refuse_non_finite_values():
    assert Mode.of("zero", "junk") == Mode.parse("zero") and str(Mode.of("mean", None)) == "mean"
    assert str(Mode.of("clamp", " 1.5 ")) == "clamp=1.5" and Mode.parse("clamp=-2") == Mode.of("clamp", -2)
    for value, message in (("abc", "not a number"), ("", "missing"), (None, "missing"), ("nan", "finite"), ("inf", "finite")):
        with pytest.raises(ValueError, match=message):
            Mode.of("clamp", value)
    for spec in ("scale", "clamp=nan", "clamp=", "clamp=x"):
        with pytest.raises(ValueError):
            Mode.parse(spec)
    with pytest.raises(ValueError, match="zero, mean, remove or clamp"):
        Mode.of("scale", None)
    assert Mode.parse("remove") == Mode.of("remove") == Mode.parse("zero")  # a latent's zero removes its direction


def test_held_value_and_scored_span():
    assert Mode.parse("zero").held_value(0.7) == 0.0 and Mode.parse("mean").held_value(0.7) == pytest.approx(0.7)
    assert Mode.parse("clamp=-1.5").held_value(0.7) == -1.5
    assert scored_span(1000, 4000) == (1000 - BURN_IN, 4000) and scored_span(100, 900) == (0, 900)


def test_delta_colors_red_up_blue_down_white_unknown():
    fills, scale = delta_colors([np.nan, 0.0, 0.5, -0.5, 0.25])
    assert fills[0] == fills[1] == "#ffffff"
    assert fills[2] == colors.diverging([1.0])[0] and fills[3] == colors.diverging([-1.0])[0]
    assert scale == pytest.approx(np.quantile([0, 0, 0.5, 0.5, 0.25], 0.99))
    assert delta_colors(np.zeros(3)) == (["#ffffff"] * 3, 1e-9)


def test_summary_lines_name_what_was_measured():
    s = {"unit": "layer 0 c unit 3", "mode": "clamp=2", "start": 744, "stop": 4000, "n_selected": 40, "where": '"',
         "inside": None, "random_units": [1, 5], "base_selected": 3.0, "base_other": 2.0, "delta_selected": 0.4,
         "delta_other": 0.001, "random_median": 0.002, "effect_ratio": 200.0}
    lines = summary_lines(s, 0.05)
    assert lines[0].startswith("layer 0 c unit 3 clamped to 2") and "+0.0500" in lines[0]
    assert "40 characters" in lines[1] and "+0.4000" in lines[1] and "744–4,000" in lines[1]
    assert "200.0×" in lines[2] and "(1, 5)" in lines[2]
    plain = summary_lines({**s, "mode": "zero", "where": None, "delta_other": None}, float("nan"))
    assert "held at 0" in plain[0] and "–" in plain[0] and "matches" not in plain[1]


# ------------------------------------------------------------------ pure: history
def test_concept_series_uses_either_sign():
    df = pd.DataFrame({"step": [10, 20], "layer": [0, 1], "kind": ["c", "h"], "unit": [3, 4], "auroc": [0.3, 0.9],
                       "r": [-0.2, 0.5], "chance_auroc_p99": [0.55, None], "chance_r_p99": [0.07, 0.06]})
    s = history.concept_series(df)
    assert s["separation"] == pytest.approx([0.7, 0.9]) and s["abs_r"] == pytest.approx([0.2, 0.5])
    assert s["label"] == ["unit 0:c:3", "unit 1:h:4"] and np.isnan(s["chance_separation"][1])
    assert len(history.concept_figure(df, "quotes").data) == 4
    rows = history.concept_rows(df, {10: "step-0000010", 20: "step-0000020"})
    assert rows[0] == {"step": 10, "unit": "0:c:3", "separation": 0.7, "inside": "low", "r": -0.2,
                       "chance_separation": 0.55, "chance_r": 0.07, "id": "step-0000010/0:c:3"}
    assert rows[1]["chance_separation"] is None and rows[1]["inside"] == "high"
    json.dumps(rows)


def test_match_rows_put_the_current_unit_first():
    df = pd.DataFrame({"layer": [0, 0, 1], "kind": ["c"] * 3, "unit": [1, 2, 2], "match_layer": [0, 1, 1],
                       "match_kind": ["c"] * 3, "match_unit": [5, 6, 7], "corr": [0.9, -0.5, 0.1]})
    rows, mine = history.match_rows(df, Unit(1, "c", 2))
    assert mine == rows[0] == {"unit": "1:c:2", "match": "1:c:7", "corr": 0.1, "id": "1:c:2"} and len(rows) == 3
    assert history.match_rows(df, Unit(3, "c", 0))[1] is None


def test_open_request_and_reference():
    assert history.open_request("step-0000020", Unit(1, "c", 7)) == {
        "rec": "step-0000020", "layer": 1, "kind": "c", "unit": 7, "pos": 0, "focus": None, "tab": "neuron"}
    assert history.open_request(None, Unit(1, "c", 7)) == {"layer": 1, "kind": "c", "unit": 7, "focus": None, "tab": "neuron"}
    steps = {10: "step-0000010", 20: "step-0000020"}
    assert history.reference({"rec": "step-0000010"}, steps)[0] == 10
    step, note = history.reference({"rec": "val"}, steps)
    assert step == 20 and "last" in note


# ------------------------------------------------------------------ on tiny runs
def test_intervention_payload_on_the_window(dash_runs):
    data = DataStore(dash_runs)
    view = resolve({"layer": 1, "kind": "c", "unit": 2, "pos": 1000, "win": 1000}, data)
    out = run_intervention(data, view, Request("zero", where='"'), Job("t"))
    win, paint = out["win"], out["paint"]
    assert (win["start"], win["stop"]) == (1000, 2000) and len(paint["colors"]) == len(paint["values"]) == 1000
    assert None not in paint["values"] and paint["key"] == win["key"]  # the burn-in gives every character a loss
    s = out["summary"]
    assert (s["start"], s["stop"]) == (1000 - BURN_IN, 2000) and s["n_selected"] > 0 and len(s["random_units"]) == 5
    text = data.text("tiny", "pride")
    assert paint["under"] and all(text[1000 + a] == '"' for a, _ in paint["under"])
    assert out["prime"] == text[1000:1040] and out["value"] == 0.0
    json.dumps(out)


def test_clamped_sample_is_deterministic_and_differs(dash_runs):
    run = DataStore(dash_runs).run("tiny")
    first = samples(run, (Unit(1, "c", 2), 5.0), "Elizabeth", seed=3)
    assert first == samples(run, (Unit(1, "c", 2), 5.0), "Elizabeth", seed=3)
    assert first[0] != first[1]


def test_bad_inputs_are_answered_clearly(dash_runs):
    data = DataStore(dash_runs)
    view = resolve({"win": 1000}, data)
    with pytest.raises(ValueError, match="not a number"):
        prepare(data, view, "clamp", "abc", None, None, None, 0)
    with pytest.raises(ValueError, match="no recording"):
        prepare(data, {}, "zero", None, None, None, None, 0)
    jobs = Jobs()
    job_id = jobs.start(prepare(data, view, "zero", None, "(", None, None, 0))
    deadline = time.time() + 20
    while not jobs.get(job_id).done and time.time() < deadline:
        time.sleep(0.05)
    assert "invalid regex" in jobs.get(job_id).error


def test_history_jobs_on_probe_recordings(probe_runs):
    data = DataStore(probe_runs)
    assert data.probe_steps("seed1") == {10: "step-0000010", 20: "step-0000020"}
    view = resolve({"run": "seed1", "rec": "step-0000020", "layer": 1, "kind": "c", "unit": 3}, data)
    figure, rows = history.render_concept(history.prepare_concept(data, view, "concept", "inside_quotes", None)(Job("a")))
    assert [r["step"] for r in rows] == [10, 20] and rows[1]["id"].startswith("step-0000020/")
    assert len(figure.data) == 4
    figure, rows = history.render_unit(history.prepare_unit(data, view)(Job("b")))
    assert rows[-1]["corr"] == pytest.approx(1.0) and rows[-1]["match"] == "1:c:3"  # itself at its own step
    assert rows[-1]["id"] == "step-0000020/1:c:3"
    table, best = history.render_match(history.prepare_match(data, view, "seed2")(Job("c")))
    assert table[0]["unit"] == "1:c:3" and "seed2's unit" in best and len(table) == 2 * 8
    with pytest.raises(ValueError, match="pick a run"):
        history.prepare_match(data, view, None)


def test_history_without_probe_recordings_says_how_to_make_them(dash_runs):
    data = DataStore(dash_runs)
    view = resolve({}, data)
    with pytest.raises(ValueError, match="--record-every N --probe-text FILE"):
        history.prepare_concept(data, view, "concept", "inside_quotes", None)
