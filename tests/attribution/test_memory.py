"""Memory spans against a direct loop over the forget/update gates.

    .venv/bin/python -m pytest tests/attribution/test_memory.py -q
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from charnn.attribution import memory as mem
from charnn.attribution import memory_spans, unit_half_lives


def reference_half_lives(f: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per position of one unit: walk back multiplying gates until the product falls below 1/2."""
    k, cens = np.zeros(len(f), np.int64), np.zeros(len(f), bool)
    for a, b in bounds:
        for t in range(a, b):
            prod, s = 1.0, t
            while s >= a:
                prod *= float(f[s])
                if prod < 0.5:
                    break
                s -= 1
            k[t] = t - s + 1 if s >= a else t - a + 1
            cens[t] = s < a
    return k, cens


def test_half_lives_equal_the_direct_loop(lstm_rec):
    for spec in ("0:c:3", "1:c:17"):
        layer, _, u = spec.split(":")
        f = lstm_rec.activations(int(layer), "f", [int(u)])[:, 0]
        k, cens = unit_half_lives(lstm_rec, spec)
        want_k, want_cens = reference_half_lives(f.astype(np.float64), lstm_rec.streams())
        assert (cens == want_cens).all()
        assert np.mean(k == want_k) > 0.999  # a product within float rounding of 1/2 may tip either way


def test_a_slice_with_context_gives_the_whole_streams_half_lives():
    """A stream longer than a slice is read in slices that carry earlier rows as context."""
    g = torch.Generator().manual_seed(0)
    f = torch.rand(1, 300, 2, generator=g) * 0.1 + 0.9  # (1, n, U): gates near 1, half-lives ~10
    whole, censored = mem.spans(f)
    sliced, none = mem.spans(f[:, 100:], real_start=False)
    assert int(whole[:, 200:].max()) < 100 and torch.equal(whole[:, 200:], sliced[:, 100:])
    assert censored[0, 0].all() and not none.any()


@pytest.mark.parametrize("native", ["1", "0"])
def test_short_and_long_half_lives_agree_with_the_direct_loop(native, monkeypatch):
    """The C kernel, where built, and the torch ops give the direct loop's half-lives."""
    monkeypatch.setenv("CHARNN_NATIVE", native)
    g = torch.Generator().manual_seed(1)
    f = torch.where(torch.rand(3, 500, 4, generator=g) < 0.7, torch.rand(3, 500, 4, generator=g) * 0.05 + 0.95,
                    torch.rand(3, 500, 4, generator=g))  # (S, n, U): long and short memories mixed
    k, censored = mem.spans(f)
    for s in range(3):
        for u in range(4):
            want, want_c = reference_half_lives(f[s, :, u].double().numpy(), np.array([[0, 500]]))
            assert np.mean(k[s, :, u].numpy() == want) > 0.998 and (censored[s, :, u].numpy() == want_c).all()


def test_memory_spans_table(lstm_rec):
    df = memory_spans(lstm_rec)
    assert list(df.columns[:6]) == ["layer", "kind", "unit", "half_life", "half_life_p90", "class"]
    assert len(df) == 2 * 32 and set(df["kind"]) == {"c"}
    assert (df["half_life"] >= 1).all() and (df["half_life_p90"] >= df["half_life"]).all()
    k, _ = unit_half_lives(lstm_rec, "1:c:17")
    row = df[(df.layer == 1) & (df.unit == 17)].iloc[0]
    assert row.half_life == int(np.quantile(k, 0.5, method="inverted_cdf"))
    assert row.half_life_p90 == int(np.quantile(k, 0.9, method="inverted_cdf"))
    f = lstm_rec.activations(1, "f", [17])[:, 0]
    assert row.mean_gate == pytest.approx(f.mean(), rel=1e-4)


def test_integrators_are_named_not_constant():
    half = np.array([2, 30, 500, 8])
    gate = np.array([0.3, 0.99, 0.999, 0.6])
    c_max = np.array([0.9, 1.5, 400.0, 2.0])
    assert list(mem.classify("c", half, gate, c_max)) == ["short", "long", "integrator", "medium"]
    assert "integrator" not in mem.classify("h", half, gate, c_max)


def test_gru_spans_come_from_the_update_gate(gru_rec):
    df = memory_spans(gru_rec)
    assert set(df["kind"]) == {"h"} and len(df) == 64 and df["drift_r"].isna().all()
    k, _ = unit_half_lives(gru_rec, "0:h:5")
    z = gru_rec.activations(0, "z", [5])[:, 0]
    want, _ = reference_half_lives(z.astype(np.float64), gru_rec.streams())
    assert np.mean(k == want) > 0.999


def test_a_kind_without_a_decay_gate_is_refused(lstm_rec):
    with pytest.raises(ValueError, match="kind 'h' of a lstm has no gate that decays it"):
        memory_spans(lstm_rec, kinds=["h"])


def test_cli_memory_json_and_errors(lstm_rec, capsys):
    import json

    from charnn.cli import main
    assert main(["memory", str(lstm_rec.path), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 64 and {"layer", "kind", "unit", "half_life", "half_life_p90", "class"} <= set(rows[0])
    assert main(["memory", str(lstm_rec.path), "--kinds", "o"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "kind 'o' of a lstm has no gate that decays it" in err[0]


def test_the_c_pass_and_the_torch_ops_tally_the_same_table(lstm_rec, monkeypatch):
    """The C pass tallies as it searches; the torch ops search, then bincount: the same table."""
    native = memory_spans(lstm_rec)
    monkeypatch.setenv("CHARNN_NATIVE", "0")
    torch_ops = memory_spans(lstm_rec)
    for column in ("half_life", "half_life_p90", "class"):
        assert (native[column] == torch_ops[column]).mean() > 0.95, column
    assert np.allclose(native["mean_gate"], torch_ops["mean_gate"], rtol=1e-5)
    assert np.allclose(native["censored"], torch_ops["censored"], atol=1e-3)


def test_drift_r_is_the_pearson_r_of_raw_c_with_the_steps_since_the_stream_began(lstm_rec):
    c = lstm_rec.activations(0, "c", [3, 9]).astype(np.float64)  # (n, 2)
    starts = lstm_rec.streams()[:, 0]
    pos = np.arange(lstm_rec.n_chars)
    steps = pos - starts[np.searchsorted(starts, pos, side="right") - 1]
    want = [np.corrcoef(steps, c[:, i])[0, 1] for i in range(2)]
    assert np.allclose(mem.drift_r(lstm_rec, 0, [3, 9]), want, atol=1e-6)


def test_spans_are_computed_once_and_kept_beside_the_recording(gru_rec, monkeypatch):
    from charnn.attribution import spancache
    path = spancache.cache_path(gru_rec)
    path.unlink(missing_ok=True)
    first = memory_spans(gru_rec)
    assert path.is_file()
    monkeypatch.setattr(mem, "_spans_block", lambda *a: pytest.fail("recomputed a cached block"))
    pd.testing.assert_frame_equal(memory_spans(gru_rec), first)
    monkeypatch.setitem(gru_rec.meta, "recording_id", "another recording")  # re-recorded: the file is stale
    assert spancache.load(gru_rec) is None


def test_half_lives_beside_units_are_empty_where_no_gate_decays_the_kind(lstm_rec):
    units = pd.DataFrame({"layer": [1, 0, 1], "kind": ["c", "h", "f"], "unit": [17, 3, 2]})
    got = mem.half_lives(lstm_rec, units)
    want = memory_spans(lstm_rec, layers=[1]).set_index("unit").loc[17]
    assert got["half_life"].iloc[0] == want.half_life and got["memory_class"].iloc[0] == want["class"]
    assert got["half_life"].iloc[1:].isna().all() and list(got["memory_class"].iloc[1:]) == ["", ""]
