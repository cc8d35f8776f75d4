"""search / atlas / probe / snippet / CLI on in-memory recordings with planted neurons.

    pytest -q tests/search/test_search_engine.py
"""

from __future__ import annotations

import argparse
import json
import re

import numpy as np
import pytest

import charnn
from charnn.cli.search import add_parser
from charnn.recording.reader import scan_blocks
from charnn.search import SearchCancelled, atlas, concept_target, probe, search
from charnn.search.snippet import snippet

QUOTE = r'"[^"]*"'


def test_planted_neuron_ranks_first(planted_rec):
    rec, y = planted_rec.rec(), planted_rec.y
    df = search(rec, regex=QUOTE, progress=False)
    assert list(df.columns) == ["layer", "kind", "unit", "r", "auroc", "d", "f1", "threshold", "sign", "support"]
    assert len(df) == 2 * 2 * 16
    top = df.iloc[0]
    assert (top.layer, top.kind, top.unit) == (1, "c", 5)
    assert top.auroc > 0.99 and top.r > 0.8 and top.sign == 1 and top.f1 > 0.9
    assert top.support == int(y.sum())
    base = df.attrs["baseline"]
    assert base["auroc_p99"] < 0.6 and base["r_p99"] < 0.1
    assert rec.n_chars / 4 <= base["offset"] <= 3 * rec.n_chars / 4


def test_negative_unit_ranks_first_with_sign_minus(planted_rec):
    acts = planted_rec.acts
    acts[(0, "c")][:, 2] = -3 * acts[(1, "c")][:, 5]
    acts[(1, "c")][:, 5] = 0.0  # now constant: must not produce NaN
    df = search(planted_rec.rec(), regex=QUOTE, progress=False)
    top = df.iloc[0]
    assert (top.layer, top.kind, top.unit, top.sign) == (0, "c", 2, -1) and top.auroc < 0.01
    assert not df[["r", "auroc", "d", "f1"]].isna().to_numpy().any()


def test_chunk_size_does_not_change_the_result(planted_rec):
    rec = planted_rec.rec()
    a = search(rec, regex=QUOTE, progress=False).sort_values(["layer", "kind", "unit"])
    b = search(rec, regex=QUOTE, progress=False, chunk_chars=997).sort_values(["layer", "kind", "unit"])
    np.testing.assert_array_equal(a["auroc"], b["auroc"])
    np.testing.assert_allclose(a["r"], b["r"], atol=1e-6)


def test_top_kinds_and_target(planted_rec):
    rec = planted_rec.rec()
    df = search(rec, regex=QUOTE, kinds=["h"], top=3, progress=False, target="start")
    assert len(df) == 3 and set(df["kind"]) == {"h"} and "baseline" in df.attrs
    with pytest.raises(ValueError, match="not in this recording"):
        search(rec, regex=QUOTE, kinds=["z"], progress=False)
    with pytest.raises(ValueError, match="exactly one"):
        search(rec, progress=False)


def test_cancel_stops_the_search(planted_rec):
    rec = planted_rec.rec()
    calls = []
    with pytest.raises(SearchCancelled):
        search(rec, regex=QUOTE, progress=False, chunk_chars=1000, cancel=lambda: calls.append(1) or len(calls) > 3)
    assert len(calls) == 4


def test_continuous_concept_ranks_by_r(planted_rec):
    col = concept_target(planted_rec.text, "line_position")
    planted_rec.acts[(0, "c")][:, 7] = col / 10 + np.random.default_rng(5).standard_normal(len(col))
    df = search(planted_rec.rec(), concept="line_position", progress=False)
    assert tuple(df.iloc[0][["layer", "kind", "unit"]]) == (0, "c", 7) and df.iloc[0].r > 0.5
    assert df["auroc"].isna().all() and df.attrs["baseline"]["auroc_p99"] is None


def test_atlas_finds_planted_concepts_in_one_pass(planted_rec):
    text, acts = planted_rec.text, planted_rec.acts
    quotes = concept_target(text, "inside_quotes")
    acts[(1, "c")][:, 5] = quotes + 0.2 * np.random.default_rng(6).standard_normal(len(text))
    acts[(0, "c")][:, 1] = concept_target(text, "line_position")  # whole numbers: exact in float16
    rec = planted_rec.rec()
    passes = []
    read = rec.iter_chunks
    rec.iter_chunks = lambda *a, **kw: passes.append(1) or read(*a, **kw)
    per_concept, per_unit = atlas(rec, progress=False)
    assert len(passes) == 1
    best = per_concept[per_concept["rank"] == 0].set_index("concept")
    assert tuple(best.loc["inside_quotes", ["layer", "kind", "unit"]]) == (1, "c", 5)
    assert best.loc["inside_quotes", "auroc"] > 0.99
    assert tuple(best.loc["line_position", ["layer", "kind", "unit"]]) == (0, "c", 1)
    assert best.loc["line_position", "r"] > 0.999
    assert "digit" in per_concept.attrs["skipped"]  # no digits in the planted text
    assert per_unit.iloc[0]["concept"] == "line_position" and len(per_unit) == 64


def test_probe_finds_the_planted_units(planted_rec):
    y, acts = planted_rec.y, planted_rec.acts
    acts[(1, "c")][:, 5] = y + 0.5 * np.random.default_rng(7).standard_normal(len(y))
    acts[(0, "c")][:, 3] = y + 0.5 * np.random.default_rng(8).standard_normal(len(y))
    rec = planted_rec.rec()
    res = probe(rec, regex=QUOTE, max_rows=5000, Cs=[0.001, 0.01, 0.1])
    assert list(res.path.columns) == ["C", "n_units", "train_acc", "test_acc", "test_balanced_acc"]
    assert {(r.layer, r.kind, r.unit) for r in res.units.itertuples()} >= {(1, "c", 5), (0, "c", 3)}
    assert res.path["test_balanced_acc"].max() > 0.85 and res.n_train == 4000 and res.n_test == 1000
    with pytest.raises(ValueError, match="continuous"):
        probe(rec, concept="line_position")


def test_snippet_plain_and_coloured(planted_rec):
    rec, y = planted_rec.rec(), planted_rec.y
    plain = snippet(rec, 1, "c", 5, y, width=40, color=False)
    legend, text, bar, marks = plain.split("\n")
    assert legend.startswith("layer 1 c unit 5") and len(text) == len(bar) == 40 and "^" in marks
    assert "\x1b[48;5;" in snippet(rec, 1, "c", 5, y, width=40, color=True)


def run_cli(argv, rec, monkeypatch, capsys):
    monkeypatch.setattr(charnn, "open_recording", lambda path: rec, raising=False)
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    return capsys.readouterr().out


def test_cli_search_atlas_probe(planted_rec, monkeypatch, capsys):
    rec = planted_rec.rec()
    rows = json.loads(run_cli(["search", "rec", "--regex", QUOTE, "--format", "json", "--quiet"], rec, monkeypatch, capsys))
    assert len(rows) == 20 and {"layer", "kind", "unit", "r", "auroc"} <= set(rows[0]) and rows[0]["unit"] == 5
    table = run_cli(["search", "rec", "--regex", QUOTE, "--top", "5", "--quiet"], rec, monkeypatch, capsys)
    assert "chance" in table and "layer 1 c unit 5" in table
    csv = run_cli(["search", "rec", "--concept", "whitespace", "--top", "0", "--format", "csv", "--quiet"],
                  rec, monkeypatch, capsys)
    assert len(csv.strip().splitlines()) == 1 + 64
    out = run_cli(["atlas", "rec", "--quiet", "--concepts", "inside_quotes,whitespace"], rec, monkeypatch, capsys)
    assert "inside_quotes" in out and "best concept per unit" in out
    res = json.loads(run_cli(["probe", "rec", "--regex", QUOTE, "--max-rows", "2000", "--format", "json"],
                             rec, monkeypatch, capsys))
    assert res["units"] and res["path"]


def test_cli_table_prints_separation_with_its_direction_and_json_keeps_the_auroc(planted_rec, monkeypatch, capsys):
    for block in planted_rec.acts.values():
        block *= -1  # every c unit low where it was high
    negated = planted_rec.rec()
    rows = json.loads(run_cli(["search", "rec", "--regex", QUOTE, "--format", "json", "--quiet"], negated, monkeypatch, capsys))
    assert rows[0]["unit"] == 5 and rows[0]["auroc"] < 0.1
    table = run_cli(["search", "rec", "--regex", QUOTE, "--top", "3", "--quiet"], negated, monkeypatch, capsys)
    header, first = table.splitlines()[2:4]
    assert "separation" in header and "inside" in header and "auroc" not in header
    assert f"{1 - rows[0]['auroc']:.3f}" in first and " low " in f" {first} "
    atlas = run_cli(["atlas", "rec", "--quiet", "--concepts", "inside_quotes"], negated, monkeypatch, capsys)
    assert re.search(r"unit 5 +separation 0\.8\d\d, low inside", atlas) and "AUROC" not in atlas


@pytest.mark.parametrize("argv", [["--top", "-1"], ["--bins", "1"], ["--timeout", "nan"], ["--seed", "-2"]])
def test_cli_refuses_bad_numbers(planted_rec, monkeypatch, capsys, argv):
    rec = planted_rec.rec()
    with pytest.raises(SystemExit):
        run_cli(["search", "rec", "--regex", QUOTE, *argv], rec, monkeypatch, capsys)
    assert "argument" in capsys.readouterr().err


def test_chance_baseline_is_the_first_units_against_the_shifted_target(planted_rec, monkeypatch):
    from sklearn.metrics import roc_auc_score

    from charnn.search import engine
    rec, y = planted_rec.rec(), planted_rec.y
    monkeypatch.setattr(engine, "BASELINE_UNITS", 4)
    base = search(rec, regex=QUOTE, progress=False).attrs["baseline"]
    shifted = np.roll(y, base["offset"])  # (n,)
    sample = np.concatenate([rec.activations(l, k)[:, :4] for l, k in scan_blocks(rec)], 1)  # (n, 16): 4 units a block
    r = np.array([np.corrcoef(u, shifted)[0, 1] for u in sample.T])
    auc = np.array([roc_auc_score(shifted, u) for u in sample.T])
    assert base["r_p99"] == pytest.approx(np.percentile(np.abs(r), 99), abs=1e-6)
    assert base["auroc_p99"] == pytest.approx(np.percentile(np.maximum(auc, 1 - auc), 99), abs=2e-3)
    assert base["units"] == 16
