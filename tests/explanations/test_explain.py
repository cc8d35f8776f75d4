"""`charnn.explain` end to end on recordings whose units are known functions of the text.

    pytest -q tests/explanations/test_explain.py
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest

import charnn
from charnn.cli.explain import add_parser
from charnn.explanations import ExplainCancelled, explain, load_explanations, shares
from charnn.search import search


def best(df: pd.DataFrame, kind: str, unit: int) -> pd.Series:
    return df[(df.kind == kind) & (df.unit == unit) & (df["rank"] == 1)].iloc[0]


def test_planted_units_get_their_explanations_back(explained, planted_units):
    _, df = explained
    for unit, text in planted_units.items():
        row = best(df, "h", unit)
        assert row.explanation == text and row.score > 0.98 and row.status == "ok"
        assert abs(row.r_chance) < 0.1
    vowel = best(df, "h", 5)  # [aeio] (the text has no u) lists 4 characters: a readable form instead
    assert vowel.explanation == "char vowel AND NOT char `E`" and vowel.score > 0.99
    quote = best(df, "c", 0)  # scored on the stored c: exactly the 0/1 feature
    assert quote.explanation == "inside `(`...`)`" and quote.score > 0.99 and quote.auroc > 0.99 and quote.iou > 0.99
    assert quote.auroc_chance < 0.6 and quote.iou_chance < 0.5


def test_noise_scores_near_chance_and_a_constant_unit_is_unexplainable(explained):
    _, df = explained
    for kind, unit in (("h", 2), ("c", 1)):
        rows = df[(df.kind == kind) & (df.unit == unit)]
        assert (rows.r_heldout.abs() < 0.05).all() and (rows.r_chance.abs() < 0.05).all()
    constant = df[(df.kind == "h") & (df.unit == 3)]
    assert len(constant) == 1 and constant.iloc[0].status == "constant" and constant.iloc[0].explanation == ""
    assert not df[["score", "r_fit", "r_heldout", "r_all", "r_chance"]].isna().to_numpy().any()
    assert (df.groupby(["layer", "kind", "unit"])["rank"].min() == 1).all()


def test_pasting_an_explanation_into_search_gives_the_same_r(explained):
    rec, df = explained
    rows = df[(df.status == "ok") & (df.unit.isin([0, 1, 4, 5]))]
    assert {"chain", "set", "sum"} <= {("chain" if " AND " in e else "sum" if " * " in e else "set") for e in rows.explanation}
    for row in rows.itertuples():
        found = search(rec, explanation=row.explanation, kinds=[row.kind], progress=False)
        r = found[(found.layer == row.layer) & (found.unit == row.unit)].r.iloc[0]
        assert r == pytest.approx(row.r_all, abs=1e-4), row.explanation


def test_term_curve_and_shares(explained):
    _, df = explained
    dist = best(df, "h", 1)
    assert dist.curve_1 > 0.99 and dist.curve_10 >= dist.curve_1 - 1e-3
    table = shares(df)
    assert list(table.columns) == ["layer", "kind", "units", ">=0.5", ">=0.7", ">=0.8"]
    h = table[table.kind == "h"].iloc[0]
    assert h.units == 6 and h[">=0.8"] == pytest.approx(4 / 6)


def test_too_short_to_split_names_the_minimum(make_planted):
    rec = make_planted(n=1500)
    with pytest.raises(ValueError, match="at least 2,000"):
        explain(rec, progress=False)


def test_progress_cancel_and_an_interrupt_leave_no_file(tmp_path, monkeypatch, make_planted):
    rec = make_planted(n=6000, path=tmp_path)
    calls = []
    df = explain(rec, progress=lambda done, total: calls.append((done, total)), chunk_chars=1000)
    assert calls[-1][0] == calls[-1][1] and all(a[0] <= b[0] for a, b in zip(calls, calls[1:]))
    saved = load_explanations(tmp_path)
    pd.testing.assert_frame_equal(saved, df)
    assert saved.attrs["recording_id"] == "synthetic" and saved.attrs["settings"]["max_terms"] == 3
    one = load_explanations(rec, unit="0:h:1")
    assert set(one.unit) == {1} and set(one.kind) == {"h"} and len(one) == 3
    before = (tmp_path / "explanations.parquet").read_bytes()
    checks = []
    with pytest.raises(ExplainCancelled):
        explain(rec, progress=False, chunk_chars=1000, cancel=lambda: checks.append(1) or len(checks) > 3)

    def interrupted(table, where, **kw):  # a Ctrl-C halfway through writing the file
        open(where, "wb").write(b"PAR1 half a file")
        raise KeyboardInterrupt
    monkeypatch.setattr("charnn.explanations.table.pq.write_table", interrupted)
    with pytest.raises(KeyboardInterrupt):
        explain(rec, progress=False)
    assert (tmp_path / "explanations.parquet").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_feature_cache_is_reused_and_rebuilt_when_stale_or_damaged(tmp_path, make_planted):
    from charnn.explanations import featcache
    rec = make_planted(n=4000, path=tmp_path)
    first = np.array(featcache.features(rec).B)  # a copy: the cache's files are memory-mapped
    folder = tmp_path / "cache" / featcache.CACHE_DIR
    written = (folder / "features.json").stat().st_mtime_ns
    again = featcache.features(rec)
    assert (folder / "features.json").stat().st_mtime_ns == written  # read back, not rebuilt
    assert isinstance(again.B, np.memmap)
    np.testing.assert_array_equal(again.B, first)
    head = (folder / "binary.npy").read_bytes()[:200]
    (folder / "binary.npy").unlink()  # a new, damaged file (the old one stays mapped)
    (folder / "binary.npy").write_bytes(head)
    with pytest.warns(UserWarning, match="rebuilding"):
        rebuilt = featcache.features(rec)
    np.testing.assert_array_equal(rebuilt.B, first)
    other = make_planted(n=4000, seed=5, path=tmp_path)  # another text in the same folder: stale
    assert not np.array_equal(np.array(featcache.features(other).B[:, :100]), first[:, :100])


def test_a_heldout_recording_is_scored_with_the_fitting_library(make_planted, synthetic_recording):
    fit, held = make_planted(n=12_000, seed=0), make_planted(n=12_000, seed=7)
    df = explain(fit, heldout=held, progress=False, save=False)
    assert df.attrs["n_fit"] == 12_000 and df.attrs["n_heldout"] == 12_000
    assert best(df, "h", 1).explanation == "distance since newline" and best(df, "h", 1).score > 0.99
    with pytest.raises(ValueError, match="same run"):
        explain(fit, heldout=synthetic_recording(held.string, {k: v[:, :1] for k, v in held.acts.items()}), progress=False)


def test_cli_json_rows_and_table(explained, monkeypatch, capsys):
    rec, _ = explained
    monkeypatch.setattr(charnn, "open_recording", lambda path: rec, raising=False)
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["explain", "rec", "--format", "json", "--quiet", "--kinds", "h"])
    assert args.func(args) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"layer", "kind", "unit", "rank", "explanation", "r_heldout"} <= set(rows[0])
    firsts = {r["unit"]: r["explanation"] for r in rows if r["rank"] == 1}
    assert firsts[1] == "distance since newline" and len(firsts) == 6
    args = parser.parse_args(["explain", "rec", "--quiet"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert ">=0.8" in out and "OpenAI" in out and "10 terms" in out and "0:h:1" in out and "constant" in out


def test_cli_search_takes_an_explanation(explained, monkeypatch, capsys, planted_units):
    from charnn.cli.search import add_parser
    rec, df = explained
    monkeypatch.setattr(charnn, "open_recording", lambda path: rec, raising=False)
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["search", "rec", "--explanation", planted_units[4], "--format", "json", "--quiet"])
    assert args.func(args) == 0
    top = json.loads(capsys.readouterr().out)[0]
    assert (top["kind"], top["unit"]) == ("h", 4) and top["r"] == pytest.approx(best(df, "h", 4).r_all, abs=1e-4)
    with pytest.raises(SystemExit):  # one query only
        parser.parse_args(["search", "rec", "--explanation", planted_units[4], "--concept", "digit"])
