"""The compiled statistics kernel (charnn/search/_tilestats.c) against the torch path it replaces:
the same histograms bit for bit, the same sums up to float32 rounding, in every kind of pass, on
unit-major chunks (one group, and row groups read in place from a wider array).

    pytest -q tests/search/test_native.py
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_search_cache import random_data

from charnn.search import native
from charnn.search.stats import ChunkTargets, StreamStats

pytestmark = pytest.mark.skipif(not native.available(), reason="the C kernel charnn.search._tilestats was not built "
                                "(no C compiler at install?): tests/test_kernels.py says so, and fails in CI")


@pytest.fixture(params=["avx512", "avx2", "portable"], autouse=True)
def kernel_loop(request, monkeypatch):
    """Every test with each of the kernel's loops; a loop this CPU lacks is skipped (forced, it
    would fall back to the next and test that one again)."""
    if not native.supports(request.param):
        pytest.skip(f"this CPU does not run the kernel's {request.param} loop")
    monkeypatch.setenv("CHARNN_NATIVE_LOOP", request.param)


def fit(X, T, binary, monkeypatch, use_native: bool, **kw):
    """X (n, U) row-major, fed in three unit-major chunks (U, n_i)."""
    monkeypatch.setenv("CHARNN_NATIVE", "1" if use_native else "0")
    s = StreamStats(np.asarray(X).min(0), np.asarray(X).max(0), binary, **kw)
    for idx in np.array_split(np.arange(len(X)), 3):
        if len(idx):
            s.update(np.ascontiguousarray(X[idx[0]:idx[-1] + 1].T), ChunkTargets(T[idx]))
    return s


def same(a: StreamStats, b: StreamStats):
    if a.hist_pos is not None:
        np.testing.assert_array_equal(a.hist_pos, b.hist_pos)
    np.testing.assert_array_equal(a.hist_all, b.hist_all)
    fa, fb = a.finalize(), b.finalize()
    for key in ("auroc", "f1", "threshold", "sign", "support"):
        np.testing.assert_array_equal(fa[key], fb[key], err_msg=key)
    # the torch path sums products in float32 within a tile, the kernel in float64: float32 noise,
    # which d (a difference of means over a standard deviation, unbounded) carries a little further
    np.testing.assert_allclose(fa["r"], fb["r"], atol=1e-5)
    np.testing.assert_allclose(fa["d"], fb["d"], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
@pytest.mark.parametrize("U", [37, 48])  # 37: units past the last block of 16 take the scalar path
def test_every_pass_matches_the_torch_path(monkeypatch, dtype, U):
    X, T = random_data(n=9000, U=U)
    X = X.astype(dtype)
    summary = fit(X, T[:, :0], [], monkeypatch, False, keep_hist=True).summary()
    cases = [  # (targets, binary, keyword arguments): the passes StreamStats makes
        (T[:, :2], [True, True], {}),  # every row, two targets binned together (per-row group codes)
        (T, [True, True, False], {}),  # every row, then one gathered pass per binary target
        (T[:, :2], [True, True], {"base": summary, "flip": [False, False]}),  # gathered union, segments
        (1 - T[:, :1], [True], {"base": summary, "flip": [True]}),  # counted on its zeros
        (T, [True, True, False], {"base": summary, "flip": [False, False]}),  # the atlas's mode
    ]
    for targets, binary, kw in cases:
        same(fit(X, targets, binary, monkeypatch, True, **kw), fit(X, targets, binary, monkeypatch, False, **kw))


def test_row_groups_of_a_wider_array_are_read_in_place(monkeypatch):
    """A chunk (G, U, L) whose groups and units lie apart in a bigger buffer (as in a recording's
    pages, with padding between them): the same counts as the torch path, every row or gathered."""
    X, T = random_data(n=6 * 700, U=20)
    X16 = X.astype(np.float16)
    padded = np.zeros((6, 24, 720), np.float16)
    padded[:, :20, :700] = X16.reshape(6, 700, 20).transpose(0, 2, 1)  # (G, U, L)
    view = padded[:, :20, :700]  # units 720 values apart, groups 24 * 720
    summary = fit(X16, T[:, :0], [], monkeypatch, False, keep_hist=True).summary()
    for kw in ({}, {"base": summary, "flip": [False, False]}):  # every row; the gathered pass
        a, b = (StreamStats(X16.min(0), X16.max(0), [True, True], **kw) for _ in range(2))
        monkeypatch.setenv("CHARNN_NATIVE", "1")
        a.update(view, ChunkTargets(T[:, :2]))
        monkeypatch.setenv("CHARNN_NATIVE", "0")
        b.update(view, ChunkTargets(T[:, :2]))
        same(a, b)


def test_runs_of_consecutive_rows_match_the_torch_path(monkeypatch):
    """Targets that come in runs (quotes, lines): the kernel converts a block's runs straight into
    place instead of picking rows from its span, and counts what the torch path counts."""
    X, _ = random_data(n=7000, U=37)
    rng = np.random.default_rng(5)
    t = np.zeros(len(X), np.float32)
    for start in rng.integers(0, len(X) - 200, 40):
        t[start:start + rng.integers(5, 200)] = 1  # runs of 5-200 rows
    T = np.stack([t, (rng.random(len(X)) < 0.05).astype(np.float32)], 1)  # and a scattered one
    X16 = X.astype(np.float16)
    summary = fit(X16, T[:, :0], [], monkeypatch, False, keep_hist=True).summary()
    for targets in (T, T[:, :1]):
        kw = {"base": summary, "flip": [False] * targets.shape[1]}
        same(fit(X16, targets, [True] * targets.shape[1], monkeypatch, True, **kw),
             fit(X16, targets, [True] * targets.shape[1], monkeypatch, False, **kw))


def test_nan_is_reported_not_binned_out_of_range(monkeypatch):
    X, T = random_data(n=3000, U=20)
    X[100, 3] = np.nan
    with pytest.raises(ValueError, match=r"units \[3\] have NaN"):
        fit(X, T[:, :1], [True], monkeypatch, True)


@settings(max_examples=60, deadline=None, derandomize=True,  # the same examples on every run: CI is repeatable
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 1500), U=st.integers(1, 40), f16=st.booleans(), density=st.floats(0.0, 1.0),
       scale=st.sampled_from([0.0, 1e-3, 1.0, 300.0]), seed=st.integers(0, 2**16))
def test_random_shapes_and_ranges_match_the_torch_path(monkeypatch, n, U, f16, density, scale, seed):
    """Constant units, huge and tiny ranges, a target that is all 0 or all 1, a single row: the
    kernel counts exactly what the torch path counts (and writes no counter out of range)."""
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((n, U)) * scale * rng.random(U) + rng.uniform(-2, 2, U)).astype(np.float16 if f16 else np.float32)
    t = (rng.random(n) < density).astype(np.float32)
    T = np.stack([t, np.roll(t, n // 3)], 1)
    fast, slow = (fit(X, T, [True, True], monkeypatch, use) for use in (True, False))
    same(fast, slow)
    summary = fit(X, T[:, :0], [], monkeypatch, False, keep_hist=True).summary()
    flip = [bool(f) for f in T.mean(0) > 0.5]
    same(*(fit(X, T, [True, True], monkeypatch, use, base=summary, flip=flip) for use in (True, False)))
