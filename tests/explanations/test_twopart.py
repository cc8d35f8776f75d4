"""Two-part explanations (a lookup on the last K characters, readable terms for the rest) on the planted
recording: the numbers against a direct computation, the classes, the printed parts, one r with the search.

    pytest -q tests/explanations/test_twopart.py
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from charnn.cli.explain import add_parser
from charnn.explanations import lookup
from charnn.explanations.swap import predictions
from charnn.explanations.table import TWO_PART
from charnn.search import search


def best(df, kind, unit):
    return df[(df.kind == kind) & (df.unit == unit) & (df["rank"] == 1)].iloc[0]


def test_every_unit_has_both_parts_and_a_class(explained):
    _, df = explained
    assert set(TWO_PART) <= set(df.columns)
    first = df[df["rank"] == 1]
    assert not first[["r2_local", "r2_memory", "score_readable"]].isna().to_numpy().any()
    assert set(first["class"]) <= {"local", "memory", "mixed", "integrator", "constant"}
    parens = best(df, "h", 0)  # inside parentheses: memory, named in its memory part
    assert parens["class"] == "memory" and "inside `(`...`)`" in parens.readable
    assert parens.r2_memory > 0.5 and parens.r2_local + parens.r2_memory > 0.9
    vowel = best(df, "h", 5)  # a function of the current character: local, the lookup says it all
    assert vowel["class"] == "local" and vowel.r2_local > 0.99 and vowel.lookup.startswith("lookup on the last 1 character")
    assert "highest `a` -0.4" in vowel.lookup and "lowest " in vowel.lookup and vowel.readable == ""
    assert best(df, "h", 3)["class"] == "constant" and best(df, "h", 3).lookup == ""
    noise = best(df, "h", 2)
    assert noise["class"] == "local" and abs(noise.r2_local) < 0.02 and abs(noise.r2_memory) < 0.02


def test_the_saved_parts_reproduce_the_scored_r2(explained):
    """Lookup table + offset + readable terms, evaluated on the text, give the held-out R^2 the moments gave."""
    rec, df = explained
    first = df[(df["rank"] == 1) & (df.status == "ok")]
    pred = predictions(rec, first, df.attrs["contexts"])  # (n, k)
    half = rec.n_chars // 2
    for j, row in enumerate(first.itertuples(index=False)):
        x = rec.acts[(row.layer, row.kind)][half:, row.unit].astype(np.float64)
        r2 = 1 - np.mean((x - pred[half:, j]) ** 2) / x.var()
        assert r2 == pytest.approx(row.r2_local + row.r2_memory, abs=2e-3), (row.kind, row.unit)


def test_pair_lookup_r2_matches_least_squares_on_the_pairs(make_planted):
    """With no shrinkage, the pair lookup is the per-pair mean: its R^2 from the sums is numpy's."""
    rec = make_planted(n=6000, seed=3)
    text, x = rec.string, rec.acts[(0, "h")][:, 5].astype(np.float64)
    ctx = lookup.Contexts.build(text, 0, 3000, [text])
    ids = ctx.ids(text)
    sums = lookup.CellSums.zeros(len(ctx), 1)
    for sub, (a, b) in enumerate([(0, 1500), (1500, 3000), (3000, 6000)]):
        sums.count(sub, ids[a:b])
        sums.add(sub, ids[a:b], x[a:b, None].astype(np.float32), slice(0, 1))
    n, s, sxx = sums.part([0, 1])
    P = lookup.predict("triples", ctx, n, s)[:, 0]
    direct = np.array([x[:3000][ids[:3000] == t].mean() if (ids[:3000] == t).any() else np.nan for t in range(len(ctx))])
    seen = n > 0
    shrunk = (s[:, 0] + lookup.SHRINK * lookup.predict("pairs", ctx, n, s)[:, 0]) / (n + lookup.SHRINK)
    np.testing.assert_allclose(P[seen], shrunk[seen], rtol=1e-9)
    np.testing.assert_allclose(s[seen, 0] / n[seen], direct[seen], rtol=1e-6)
    held = lookup.r2(P[:, None], *sums.part([2]))[0]
    y = x[3000:]
    assert held == pytest.approx(1 - np.sum((y - P[ids[3000:]]) ** 2) / np.sum((y - y.mean()) ** 2), abs=1e-6)


def test_one_r_for_a_cell_state_in_explain_and_search(explained):
    """A cell state is scored on its stored value everywhere: explain's r on the held-out half is numpy's
    on the stored c, and the search gives the explanation explain's r over every character."""
    rec, df = explained
    row = best(df, "c", 0)
    c = rec.acts[(0, "c")][:, 0].astype(np.float64)
    y = np.asarray(__import__("charnn.explanations", fromlist=["parse"]).parse(row.explanation).evaluate(rec.string),
                   np.float64)
    half = rec.n_chars // 2
    assert row.r_heldout == pytest.approx(np.corrcoef(c[half:], y[half:])[0, 1], abs=1e-4)
    found = search(rec, explanation=row.explanation, kinds=["c"], progress=False)
    assert found.set_index("unit").r[0] == pytest.approx(row.r_all, abs=1e-4)
    assert row.r_all == pytest.approx(np.corrcoef(c, y)[0, 1], abs=1e-4)


def test_cli_prints_the_parts(explained, monkeypatch, capsys):
    import charnn
    rec, df = explained
    monkeypatch.setattr(charnn, "open_recording", lambda path: rec)
    monkeypatch.setattr(charnn, "explain", lambda rec, **kw: df)
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["explain", "x", "--format", "json", "--quiet"])
    assert args.func(args) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"lookup", "readable", "score_readable", "r2_local", "r2_memory", "class"} <= set(rows[0])
    assert "lookup_table" not in rows[0]
    args = parser.parse_args(["explain", "x", "--quiet"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "two-part explanations" in out and "whole-state reconstruction" in out and "inside `(`...`)`" in out
