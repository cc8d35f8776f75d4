"""Program swap on a real recording (a small random-weight LSTM): the hook puts each value where the
model reads it, the rows the issue names, and bad input as one-line errors that write nothing.

    pytest -q tests/explanations/test_swap.py
"""

from __future__ import annotations

import numpy as np
import pytest

from charnn.cli import main as cli
from charnn.explanations import explain
from charnn.explanations import swap as swapmod

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rec(tmp_path_factory, text_of, make_real_recording):
    return make_real_recording(tmp_path_factory.mktemp("swap-rec"), text_of(6000, seed=4), seed=1)


def test_bad_input_is_one_line_and_writes_nothing(rec, capsys):
    path = str(rec.path)
    assert cli(["explain", path, "--swap"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no explanations of this recording yet" in err and "\n" not in err
    assert not (rec.path / "explanations.parquet").exists()
    explain(rec, kinds=["c", "h"], progress=False)
    before = sorted(p.name for p in rec.path.iterdir())
    for args, words in ((["--kinds", "f"], "kind 'f' has no explanations"),
                        (["--min-r", "1.01"], "nothing to swap"),
                        (["--min-r", "0.5", "--top", "3"], "not both")):
        assert cli(["explain", path, "--swap", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert words in err and "\n" not in err, err
    assert sorted(p.name for p in rec.path.iterdir()) == before


def test_swapping_in_the_recorded_values_recovers_everything(rec, monkeypatch):
    """With 'explanations' that are the units' own recorded values, the swapped pass is the clean one:
    every value lands on the step that read its character."""
    if not (rec.path / "explanations.parquet").exists():
        explain(rec, kinds=["c", "h"], progress=False)

    def recorded(r, best, contexts):  # (n, k) the stored values of the chosen units
        layer, kind = int(best.layer.iloc[0]), best.kind.iloc[0]
        return r.activations(layer, kind, best.unit.to_numpy()).astype(np.float32)

    monkeypatch.setattr(swapmod, "predictions", recorded)
    rows = swapmod.swap(rec, top=8, max_chars=None, streams=4)
    assert list(rows.columns) == swapmod.FIELDS and set(rows.kind) == {"c", "h"} and (rows.units == 8).all()
    assert (rows.bpc_mean_ablated > rows.bpc_clean + 0.002).all()
    np.testing.assert_allclose(rows.bpc_swapped, rows.bpc_clean, atol=2e-4)
    assert (rows.fraction_recovered > 0.97).all()


def test_swap_rows_per_threshold(rec, capsys):
    if not (rec.path / "explanations.parquet").exists():
        explain(rec, kinds=["c", "h"], progress=False)
    rows = swapmod.swap(rec, min_r=(0.5, 0.7), kinds=["h"], max_chars=None, streams=4)
    assert list(rows.min_r) == [0.5, 0.7] and (rows.kind == "h").all()
    assert rows.units.iloc[0] >= rows.units.iloc[1] >= 1
    assert np.isfinite(rows[["bpc_clean", "bpc_mean_ablated", "bpc_swapped"]].to_numpy()).all()
    assert cli(["explain", str(rec.path), "--swap", "--kinds", "h", "--min-r", "0.5", "--format", "json"]) == 0
    import json
    out = json.loads(capsys.readouterr().out)
    assert set(out[0]) == set(swapmod.FIELDS)
