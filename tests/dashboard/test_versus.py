"""Units against latents in the dashboard (the Explain tab's section): the table builder, the kinds
it compares, its summary and hint, and the comparison job on the tiny recording with latents.

    pytest -q tests/dashboard/test_versus.py
"""

from __future__ import annotations

import pytest

import charnn
from charnn.search import atlas
from charnn.units import Unit
from dashboards import versus
from dashboards.data import DataStore
from dashboards.jobs import Job
from dashboards.views import versus as view

ROWS = [
    {"concept": "whitespace", "metric": "separation", "unit": "0:h:15", "unit_score": 0.94, "latent": "0:sae-a:44",
     "latent_score": 1.0, "difference": 0.06},
    {"concept": "inside_quotes", "metric": "separation", "unit": "0:c:229", "unit_score": 0.981,
     "latent": "0:sae-a:1214", "latent_score": 0.785, "difference": -0.196},
    {"concept": "digit", "metric": "separation", "unit": "0:c:4", "unit_score": 0.9972, "latent": "0:sae-b:7",
     "latent_score": 0.9975, "difference": 0.0003},
    {"concept": "bracket_depth", "metric": "|r|", "unit": "0:c:200", "unit_score": 0.135, "latent": "0:sae-a:616",
     "latent_score": 0.145, "difference": 0.01},
]


def test_the_table_says_which_side_wins_each_concept():
    df = versus.table(ROWS)
    assert list(df.columns) == versus.COLUMNS + versus.HELDOUT and df[versus.HELDOUT].isna().all().all()  # no held-out rows given
    assert list(df["concept"]) == [r["concept"] for r in ROWS]  # the atlas's order
    assert list(df["wins"]) == ["latent", "unit", "tie", "latent"]  # digit: +0.0003 shows as +0.000
    assert df.loc[1, "latent"] == "0:sae-a:1214" and df.loc[1, "difference"] == pytest.approx(-0.196)
    assert versus.table([]).empty


def test_the_kinds_compared_are_the_states_and_every_latent_kind():
    assert versus.compared_kinds(["i", "f", "g", "o", "c", "h", "sae-c0", "sae-h0"]) == ["c", "h", "sae-c0", "sae-h0"]
    assert versus.compared_kinds(["r", "z", "n", "h", "sae-h0"]) == ["h", "sae-h0"]  # a GRU
    assert versus.compared_kinds(["i", "o", "sae-x"]) == ["i", "o", "sae-x"]  # no state stored: every unit kind
    assert versus.compared_kinds(["c", "h"]) == []


def test_summary_counts_clear_wins_and_names_what_was_skipped():
    text = versus.summary(ROWS, {"url": "constant"}, 201_252)
    assert text.startswith("the best latent beats the best unit on 2 of 4 concepts (by 0.02 or more on 1: whitespace),"
                           " the best unit wins 1")
    assert "all 201,252 characters" in text and text.endswith("not scored (constant on this text): url")
    assert "skipped" not in versus.summary(ROWS, {}, 10)


def test_the_hint_says_how_to_add_latents():
    assert "`charnn sae train runs/a/recordings/val`" in versus.hint("runs/a/recordings/val", [])
    assert "`charnn sae add runs/a/recordings/val c0-512`" in versus.hint("runs/a/recordings/val", ["c0-512", "h0"])


def test_the_comparison_job_is_the_atlas_and_is_remembered(latent_runs, dash_runs):
    data = DataStore(latent_runs)
    v = {"run": "tiny", "rec": "pride", "tab": "explain"}
    job = Job("t")
    result = view.prepare(data, v)(job)
    rec = charnn.open_recording(latent_runs / "tiny" / "recordings" / "pride")
    per_concept, _ = atlas(rec, kinds=["c", "h", "sae-dash"], progress=False)
    assert result["rows"] == per_concept.attrs["units_vs_latents"] and len(result["rows"]) >= 5
    assert result["rec"] == "tiny/pride" and result["n_chars"] == rec.n_chars and job.progress == 1.0
    assert {Unit.parse(r["unit"]).kind for r in result["rows"]} <= {"c", "h"}
    assert {Unit.parse(r["latent"]).kind for r in result["rows"]} == {"sae-dash"}
    assert view.prepare(data, v)(Job("again")) is result  # remembered: a second press answers at once
    with pytest.raises(ValueError, match=r"stores no autoencoder latents: train an autoencoder with `charnn sae train "
                                         r".*/tiny/recordings/pride`"):
        view.prepare(DataStore(dash_runs), v)


def test_a_recording_without_latents_shows_how_to_add_them(dash_runs, latent_runs, post_callback):
    from dashboards import create_app
    view_data = {"view.data": {"run": "tiny", "rec": "pride", "tab": "explain"}}
    status, out = post_callback(create_app(dash_runs), "versus-note.children", view_data)
    assert status == 200 and "train an autoencoder with `charnn sae train" in out["versus-note"]["children"]
    assert out["versus-controls"]["style"] == {"display": "none"} and out["versus-table"]["rowData"] == []
    status, out = post_callback(create_app(latent_runs), "versus-note.children", view_data)
    assert status == 200 and "stores the latents of 1 autoencoder (sae-dash)" in out["versus-note"]["children"]
    assert out["versus-controls"]["style"] == {}
