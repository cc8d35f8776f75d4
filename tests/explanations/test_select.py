"""Moments, greedy selection and beam search against direct computations on small data.

    pytest -q tests/explanations/test_select.py
"""

from __future__ import annotations

import numpy as np
import torch

from charnn.explanations import beam as beammod
from charnn.explanations import select
from charnn.explanations.featcache import compute
from charnn.explanations.library import Library
from charnn.explanations.moments import Moments, chunk_moments, fit_r
from charnn.text.parser import parse


def data(n=6000, p=8, U=5, seed=0):
    """0/1 and continuous features; units: two linear in features 1 and 4, one in 2, 5 and 6, noise."""
    rng = np.random.default_rng(seed)
    F = np.concatenate([(rng.random((4, n)) < 0.3), rng.standard_normal((p - 4, n))]).astype(np.float32)  # (p, n)
    X = rng.standard_normal((n, U)).astype(np.float32) * 0.05
    X[:, 0] += 2 * F[1] - F[4]
    X[:, 1] += -F[4]
    X[:, 2] += F[2] + 0.5 * F[5] - 0.3 * F[6]
    X[:, 3] *= 20  # noise only
    return F, X


def test_moments_merge_exactly_and_match_numpy():
    F, X = data()
    whole = chunk_moments(F, X)
    parts = sum((chunk_moments(F[:, s:s + 997], X[s:s + 997]) for s in range(0, F.shape[1], 997)),
                Moments.zeros(F.shape[0], X.shape[1]))
    for a, b in zip((whole.sf, whole.ff, whole.sx, whole.sxx, whole.fx), (parts.sf, parts.ff, parts.sx, parts.sxx, parts.fx)):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-5)  # float32 products within a block
    C, b, vx = whole.covariances()
    np.testing.assert_allclose(C, np.cov(F, bias=True), atol=1e-5)
    np.testing.assert_allclose(b[:, 0], [np.cov(f, X[:, 0], bias=True)[0, 1] for f in F], atol=1e-5)
    np.testing.assert_allclose(vx, X.var(0), rtol=1e-5)


def test_greedy_finds_the_planted_terms_and_least_squares_weights():
    F, X = data()
    lib = Library([parse(f"char `{c}`").root for c in "abcdefgh"])  # names only: no groups, so no sets
    m = chunk_moments(F - F.mean(1, keepdims=True), X)
    C, b, vx = m.covariances()
    path = select.greedy(C, b, vx, lib, F.mean(1), steps=3)
    assert {str(t) for t in path.terms[0][:2]} == {"char `b`", "char `e`"}
    assert {str(t) for t in path.terms[2]} == {"char `c`", "char `f`", "char `g`"}
    w = select.fit_weights(C, b, path.A[:, :3], rounded=False)
    cols = [[j for j in range(8) if path.A[2, k, j]][0] for k in range(3)]
    ref = np.linalg.lstsq(np.c_[F[cols].T, np.ones(F.shape[1])], X[:, 2], rcond=None)[0][:3]
    np.testing.assert_allclose(w[2], ref, rtol=1e-4)
    r = fit_r(C, b, vx, path.A[:, :3], select.fit_weights(C, b, path.A[:, :3]))
    pred = select.fit_weights(C, b, path.A[:, :3])[2] @ F[cols]
    assert abs(r[2] - np.corrcoef(pred, X[:, 2])[0, 1]) < 1e-6 and r[2] > 0.99
    assert path.gain[3].sum() < 0.01  # noise: almost nothing explained


def test_a_character_set_is_found_as_one_term(text_of):
    text = text_of(8000, seed=4)
    fm = compute(text)
    y = parse("char [ny]").evaluate(text) - 0.5 * parse("after `a`").evaluate(text)
    X = (y + 0.01 * np.random.default_rng(0).standard_normal(len(text))).astype(np.float32)[:, None]
    C, b, vx = chunk_moments(fm.chunk(0, len(text)), X).covariances()
    path = select.greedy(C, b, vx, fm.lib, fm.centre, steps=2, max_set=6)
    assert [str(t) for t in path.terms[0]] == ["char [ny]", "after `a`"]
    no_sets = select.greedy(C, b, vx, fm.lib, fm.centre, steps=1, max_set=0)
    assert str(no_sets.terms[0][0]) in ("char `n`", "char `y`")


def test_beam_finds_a_chain_and_scores_it_like_numpy():
    rng = np.random.default_rng(1)
    B = (rng.random((4000, 6)) < 0.4).astype(np.float32)
    x = (B[:, 1] * (1 - B[:, 3])) + 0.01 * rng.standard_normal(4000)
    X = np.stack([x, rng.standard_normal(4000)], 1).astype(np.float32)
    best = beammod.beam(B, X, depth=3, width=4)
    cols, ops, r = best[1][0]
    assert cols == (1, 3) and ops == ("AND NOT",)
    mask = beammod.chain_mask(torch.from_numpy(B.T.copy()), cols, ops).numpy()
    assert abs(r - np.corrcoef(mask, x)[0, 1]) < 1e-5 and r > 0.99
    assert abs(best[2][1][2]) < 0.2  # noise
