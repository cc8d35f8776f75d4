"""The fast paths: statistics against a cached summary (base), flipped targets, two worker threads,
and a real recording read through memory maps with its summary cached beside it.

    pytest -q tests/search/test_search_cache.py
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from charnn.model import CharRNN, ModelConfig
from charnn.recording import open_recording, record
from charnn.run import create_run
from charnn.search import atlas, prepare, search, summaries
from charnn.search.stats import ChunkTargets, StreamStats
from charnn.vocab import Vocab


def random_data(n=12_000, U=24, seed=0):
    """Units of varied scale and offset, a 0/1 target some units follow, its shift, a continuous one."""
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((n, U)) * rng.uniform(0.05, 3, U) + rng.uniform(-4, 4, U)).astype(np.float32)
    t = (rng.random(n) < 0.2).astype(np.float32)
    X[:, :6] += np.outer(t, np.linspace(-1.5, 1.5, 6)).astype(np.float32)
    c = (rng.standard_normal(n) + X[:, 7]).astype(np.float32)
    return X, np.stack([t, np.roll(t, 4321), c], 1)  # (n, U), (n, 3)


def quoted_text(n: int, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    chars = rng.choice(list("abcdefgh ij\n"), n)
    for s in np.sort(rng.choice(np.arange(0, n - 40, 40), n // 200, replace=False)):
        chars[s], chars[s + rng.integers(3, 30)] = '"', '"'
    return "".join(chars)


def fit(X, T, binary, chunks=3, **kw):
    s = StreamStats(X.min(0), X.max(0), binary, **kw)
    for idx in np.array_split(np.arange(len(X)), chunks):
        s.update(X[idx].T, ChunkTargets(T[idx]))  # unit-major (U, n)
    return s


def assert_same(a: dict, b: dict):
    for key in ("auroc", "f1", "threshold", "sign", "support"):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)  # from the same counts
    np.testing.assert_allclose(a["r"], b["r"], atol=1e-6, err_msg="r")  # float32 rounding inside tiles
    np.testing.assert_allclose(a["d"], b["d"], rtol=1e-5, atol=1e-6, err_msg="d")


@pytest.mark.parametrize("mostly_one", [False, True])
def test_base_summary_gives_the_same_statistics(mostly_one):
    X, T = random_data(n=12_000)
    T = T[:, :2]  # a search: a binary target and its shifted baseline
    if mostly_one:
        T = 1 - T  # 80% ones: counted on the zeros
    plain = fit(X, T, [True, True])
    summary = fit(X, T[:, :0], [], keep_hist=True).summary()  # no target at all
    flip = [bool(f) for f in T.mean(0) > 0.5]
    fast = fit(X, T, [True, True], base=summary, flip=flip)
    np.testing.assert_array_equal(fast.hist_pos, plain.hist_pos)
    assert_same(fast.finalize(), plain.finalize())
    flipped_no_base = fit(X, T, [True, True], flip=flip)
    assert_same(flipped_no_base.finalize(), plain.finalize())


def test_base_with_many_and_continuous_targets():
    """The atlas mode: cross products over every row, one gathered histogram pass per binary target."""
    X, T = random_data(n=8000)
    T4 = np.concatenate([T, 1 - T[:, :1], T[:, 1:2]], 1)  # binary, binary, continuous, mostly-1, binary
    binary = [True, True, False, True, True]
    plain = fit(X, T4, binary)
    summary = fit(X, T4[:, :0], [], keep_hist=True).summary()
    fast = fit(X, T4, binary, base=summary, flip=[False, False, True, False])
    assert_same(fast.finalize(), plain.finalize())


def test_base_must_cover_the_same_rows_and_ranges():
    X, T = random_data(n=3000)
    summary = fit(X, T[:, :0], [], keep_hist=True).summary()
    part = StreamStats(X.min(0), X.max(0), [True], base=summary)
    part.update(X[:1000].T, T[:1000, :1])
    with pytest.raises(AssertionError, match="rows were added"):
        part.finalize()
    with pytest.raises(AssertionError, match="other unit ranges"):
        StreamStats(X.min(0) - 1, X.max(0), [True], base=summary)


def test_two_worker_threads_match_one():
    X, T = random_data(n=20_000, U=40)
    X16 = X.astype(np.float16)  # as recordings store it: converted tile by tile
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = fit(X16, T, [True, True, False], chunks=2)
        torch.set_num_threads(2)
        two = fit(X16, T, [True, True, False], chunks=2)
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(one.hist_all, two.hist_all)
    assert_same(one.finalize(), two.finalize())


@pytest.fixture(scope="module")
def real_rec(tmp_path_factory, make_rec):
    """A real (random-weight, 2x24 LSTM) recording of quoted planted text, and its FakeRecording twin."""
    tmp = tmp_path_factory.mktemp("search-cache")
    text = quoted_text(6000, seed=3)
    vocab = Vocab.from_texts([text])
    torch.manual_seed(0)
    run = create_run(tmp / "run", CharRNN(ModelConfig(vocab_size=len(vocab), layers=2, hidden=24)).eval(), vocab)
    (tmp / "text.txt").write_text(text)
    path = record(run, str(tmp / "text.txt"), kinds="c,h", streams=4, burn_in=32, out=tmp / "rec", progress=False)
    rec = open_recording(path)
    twin = make_rec(rec.string, {(l, k): rec.activations(l, k) for l in range(rec.layers) for k in rec.stored_kinds})
    twin.unit_range = rec.unit_range  # the same histogram ranges as the real one
    return rec, twin


def by_unit(df):
    return df.sort_values(["layer", "kind", "unit"]).reset_index(drop=True)


def test_real_recording_search_is_cached_and_matches_the_reference_path(real_rec):
    rec, twin = real_rec
    cache = summaries.cache_path(rec, 256)
    cache.unlink(missing_ok=True)
    reference = by_unit(search(twin, regex=r'"[^"]*"', progress=False))  # iter_chunks, no cache
    calls = []
    first = by_unit(search(rec, regex=r'"[^"]*"', progress=lambda done, total: calls.append((done, total))))
    assert cache.is_file() and calls[-1] == (rec.n_chars, rec.n_chars)
    assert set(summaries.load(rec, 256)) == {(l, k) for l in range(2) for k in ("c", "h")}
    second = by_unit(search(rec, regex=r'"[^"]*"', progress=False))  # from the cached summary
    for df in (first, second):
        np.testing.assert_array_equal(df["auroc"], reference["auroc"])
        np.testing.assert_allclose(df["r"], reference["r"], atol=1e-6)
        np.testing.assert_allclose(df["d"], reference["d"], rtol=1e-5, atol=1e-6)
    assert second.attrs["baseline"]["auroc_p99"] == reference.attrs["baseline"]["auroc_p99"]
    mostly = by_unit(search(rec, regex=r'[^"]', progress=False))  # counted on its zeros
    np.testing.assert_array_equal(mostly["auroc"], by_unit(search(twin, regex=r'[^"]', progress=False))["auroc"])


def test_stale_or_broken_cache_is_rebuilt(real_rec):
    rec, _ = real_rec
    search(rec, concept="whitespace", progress=False)
    cache = summaries.cache_path(rec, 256)
    good = by_unit(search(rec, concept="whitespace", progress=False))
    z = dict(np.load(cache))
    z["recording_id"] = np.array("someone-else")
    with open(cache, "wb") as f:
        np.savez(f, **z)
    assert summaries.load(rec, 256) == {}
    again = by_unit(search(rec, concept="whitespace", progress=False))
    np.testing.assert_array_equal(again["auroc"], good["auroc"])
    assert summaries.load(rec, 256)  # rewritten with the right id
    cache.write_bytes(b"not a zip file")
    with pytest.warns(UserWarning, match="ignoring unreadable"):
        rebuilt = by_unit(search(rec, concept="whitespace", progress=False))
    np.testing.assert_array_equal(rebuilt["auroc"], good["auroc"])
    assert summaries.load(rec, 256)


def test_real_recording_atlas_uses_the_cache(real_rec):
    rec, twin = real_rec
    fast, _ = atlas(rec, concepts=["inside_quotes", "line_position", "whitespace"], progress=False)
    ref, _ = atlas(twin, concepts=["inside_quotes", "line_position", "whitespace"], progress=False)
    assert (fast[["concept", "layer", "kind", "unit"]].values == ref[["concept", "layer", "kind", "unit"]].values).all()
    np.testing.assert_allclose(fast["r"], ref["r"], atol=1e-6)


def test_no_cache_without_a_recording_id(real_rec, tmp_path):
    rec, twin = real_rec
    assert summaries.cache_path(twin, 256) is None
    meta = json.loads((rec.path / "meta.json").read_text())
    assert summaries.cacheable(rec) and meta["recording_id"] == rec.meta["recording_id"]


def test_prepare_builds_the_cache_a_first_search_would(real_rec):
    rec, twin = real_rec
    cache = summaries.cache_path(rec, 256)
    cache.unlink(missing_ok=True)
    assert prepare(rec, progress=False) is True and cache.is_file()
    assert prepare(rec, progress=False) is False  # already there: nothing read
    built = summaries.load(rec, 256)
    cache.unlink()
    search(rec, concept="whitespace", progress=False)  # a first search builds the same summary
    for block, summary in summaries.load(rec, 256).items():
        np.testing.assert_array_equal(built[block].hist_all, summary.hist_all)
        np.testing.assert_allclose(built[block].sx, summary.sx, rtol=1e-6)  # float32 within tiles
    assert prepare(twin, progress=False) is False  # an in-memory recording has nowhere to cache


def test_overlapping_passes_restore_the_thread_count():
    """A search beside the dashboard's background preparation. torch's thread count is set per
    thread, and a new thread starts with the last count set anywhere: a search thread started
    during the preparation begins with 1. Whichever pass ends last, threads started afterwards
    must get the full count back, and the search must still use two workers."""
    import threading

    from charnn.threads import per_tile
    suite_threads = torch.get_num_threads()  # the suite runs on 1 (tests/conftest.py)
    torch.set_num_threads(before := 2)  # new threads now start with 2
    a_in, a_out, b_in, b_out = (threading.Event() for _ in range(4))
    seen = {}

    def preparation():
        with per_tile(1):
            a_in.set()
            a_out.wait(10)

    def search():
        with per_tile(1) as workers:
            seen["workers"] = workers
            b_in.set()
            b_out.wait(10)

    a = threading.Thread(target=preparation)
    a.start()
    a_in.wait(10)
    b = threading.Thread(target=search)  # starts while the count is 1
    b.start()
    b_in.wait(10)
    a_out.set()  # the preparation ends first
    a.join(10)
    b_out.set()
    b.join(10)
    later = threading.Thread(target=lambda: seen.update(later=torch.get_num_threads()))
    later.start()
    later.join(10)
    torch.set_num_threads(suite_threads)
    assert seen == {"workers": 2, "later": before}


def test_a_reversed_chunk_is_read():
    X, T = random_data(n=3000, U=8)
    forward = fit(X, T[:, :1], [True], chunks=1).finalize()
    backward = fit(X[::-1], T[::-1, :1], [True], chunks=1).finalize()  # negative row stride
    np.testing.assert_array_equal(forward["auroc"], backward["auroc"])
