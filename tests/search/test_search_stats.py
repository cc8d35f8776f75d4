"""StreamStats against reference implementations (scipy, scikit-learn) and its exact merge.

    pytest -q tests/search/test_search_stats.py
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from sklearn.metrics import roc_auc_score

from charnn.search.stats import StreamStats


def random_data(n=30_000, U=24, seed=0):
    """Units of varied scale and offset (one far from zero), a 0/1 target some units follow, a continuous one."""
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((n, U)) * rng.uniform(0.05, 3, U) + rng.uniform(-4, 4, U)).astype(np.float32)
    X[:, 0] += 50.0  # a unit whose mean dwarfs its spread: sums of squares must not cancel
    t = (rng.random(n) < 0.2).astype(np.float32)
    X[:, :6] += np.outer(t, np.linspace(-1.5, 1.5, 6)).astype(np.float32)
    c = (rng.standard_normal(n) + X[:, 7]).astype(np.float32)
    T = np.stack([t, np.roll(t, 4321), c], 1)  # (n, 3)
    return X, T


def fit(X, T, binary, chunks=1, bins=256):
    s = StreamStats(X.min(0), X.max(0), binary, bins=bins)
    for idx in np.array_split(np.arange(len(X)), chunks):
        part = StreamStats(X.min(0), X.max(0), binary, bins=bins)
        part.update(X[idx].T, T[idx])  # unit-major (U, n)
        s.merge(part)
    return s


def test_r_matches_scipy_and_auroc_matches_sklearn():
    X, T = random_data()
    out = fit(X, T, [True, True, False]).finalize()
    for k in range(3):
        ref = [scipy.stats.pearsonr(X[:, u].astype(np.float64), T[:, k])[0] for u in range(X.shape[1])]
        np.testing.assert_allclose(out["r"][:, k], ref, atol=1e-6)
    for k in range(2):
        ref = [roc_auc_score(T[:, k], X[:, u]) for u in range(X.shape[1])]
        np.testing.assert_allclose(out["auroc"][:, k], ref, atol=1e-3)
    assert np.isnan(out["auroc"][:, 2]).all() and np.isnan(out["f1"][:, 2]).all()  # not defined for continuous


def test_cohen_d_and_support_match_a_direct_computation():
    X, T = random_data(seed=1)
    out = fit(X, T, [True, True, False]).finalize()
    x = X.astype(np.float64)
    pos, neg = x[T[:, 0] > 0.5], x[T[:, 0] < 0.5]
    pooled = ((len(pos) - 1) * pos.var(0, ddof=1) + (len(neg) - 1) * neg.var(0, ddof=1)) / (len(x) - 2)
    np.testing.assert_allclose(out["d"][:, 0], (pos.mean(0) - neg.mean(0)) / np.sqrt(pooled), atol=1e-6)
    assert out["support"][0] == int(T[:, 0].sum())


def test_one_chunk_equals_ten_merged_chunks():
    """Counts merge exactly; sums differ only by float32 rounding inside each chunk's products."""
    X, T = random_data(n=20_000)
    one, ten = fit(X, T, [True, True, False]), fit(X, T, [True, True, False], chunks=10)
    np.testing.assert_array_equal(one.hist_all, ten.hist_all)
    np.testing.assert_array_equal(one.hist_pos, ten.hist_pos)
    assert one.n == ten.n
    a, b = one.finalize(), ten.finalize()
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-6, atol=1e-6, err_msg=key)


def test_joint_and_per_target_histograms_agree():
    """Up to two binary targets share one bincount; more take the per-target path. Same counts."""
    X, T = random_data(n=5000)
    T4 = np.concatenate([T[:, :2], 1 - T[:, :1], T[:, :1]], 1)  # 4 binary targets, one mostly positive
    joint, per_target = fit(X, T[:, :2], [True, True]), fit(X, T4, [True] * 4)
    np.testing.assert_array_equal(joint.hist_all, per_target.hist_all)
    np.testing.assert_array_equal(joint.hist_pos, per_target.hist_pos[:2])
    np.testing.assert_array_equal(per_target.hist_pos[2], per_target.hist_all - per_target.hist_pos[3])


def test_separable_unit_gets_f1_one_and_a_threshold_between_the_classes():
    rng = np.random.default_rng(3)
    t = (rng.random(4000) < 0.3).astype(np.float32)
    X = np.stack([t * 2 + rng.uniform(0, 1, 4000), -t], 1).astype(np.float32)  # classes at [0,1) and [2,3)
    out = fit(X, t[:, None], [True]).finalize()
    assert out["f1"][0, 0] == 1.0 and 1.0 <= out["threshold"][0, 0] <= 2.0 and out["sign"][0, 0] == 1
    assert out["auroc"][1, 0] == 0.0 and out["sign"][1, 0] == -1 and out["f1"][1, 0] == 1.0


def test_constant_units_and_targets_give_no_nan():
    rng = np.random.default_rng(4)
    X = np.stack([np.full(1000, 3.0), rng.standard_normal(1000)], 1).astype(np.float32)
    t = (rng.random(1000) < 0.5).astype(np.float32)
    T = np.stack([t, np.zeros(1000, np.float32)], 1)
    out = fit(X, T, [True, True]).finalize()
    for key, value in out.items():
        assert np.isfinite(value).all(), key
    assert out["r"][0, 0] == 0 and out["auroc"][0, 0] == 0.5 and out["d"][0, 0] == 0
    assert (out["r"][:, 1] == 0).all() and (out["auroc"][:, 1] == 0.5).all()


def test_merge_refuses_different_bins():
    X, T = random_data(n=100)
    with pytest.raises(AssertionError, match="same units"):
        fit(X, T, [True, True, False]).merge(fit(X, T, [True, True, False], bins=64))


def test_a_pool_with_a_dead_worker_is_replaced():
    """dash_duo stops a server by raising SystemExit in its threads, which can end the engine's
    pool workers; the next search must start a fresh pool, not wait on the dead one forever."""
    import threading

    from charnn import threads

    pool = threads.pool(2)
    assert pool.submit(lambda: 1).result(timeout=5) == 1
    dead = threading.Thread(target=lambda: None)
    dead.start()
    dead.join()
    pool._threads.add(dead)  # as if a worker had been killed
    fresh = threads.pool(2)
    assert fresh is not pool and threads.pool(2) is fresh
    assert fresh.submit(lambda: 41 + 1).result(timeout=5) == 42
