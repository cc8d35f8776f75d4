"""Reruns of a window with characters changed or states ablated: B at once equal B one by one.

    .venv/bin/python -m pytest tests/attribution/test_ablation.py -q
"""

from __future__ import annotations

import numpy as np
import pytest

from charnn.attribution.ablation import rerun, reruns
from charnn.units import Unit


def test_batched_reruns_equal_single_ones(lstm_rec):
    unit, at, start = Unit.parse("1:c:3"), 700, 660
    ids = np.repeat(lstm_rec.ids(start, at + 1)[None], 3, axis=0)  # (3, T)
    ids[1, 5], ids[2, [0, 20, 39]] = ids[0, 6], ids[0, 1]
    ablate = [[], [(0, "c", 4, 690)], [(0, "c", 4, 690), (1, "h", 2, 699), (0, "c", 4, 695)]]
    batched = reruns(lstm_rec, unit, at, start, ids=ids, ablate=ablate)
    single = [rerun(lstm_rec, unit, at, start, ids=i, ablate=a) for i, a in zip(ids, ablate)]
    assert batched == pytest.approx(single, rel=1e-5, abs=1e-5)  # float32 rounding of a batched matmul
    assert len(set(np.round(batched, 6))) == 3  # each stream's change is its own
    recorded = float(lstm_rec.activations(1, "c", [3], at, at + 1)[0, 0])
    assert reruns(lstm_rec, unit, at, start)[0] == pytest.approx(recorded, rel=1e-3)  # float16 storage
