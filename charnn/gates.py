"""Gate saturation (Karpathy, Johnson and Fei-Fei 2015, Fig. 3): per unit, the fraction of steps
a gate is left-saturated (< 0.1) and right-saturated (> 0.9), for the sigmoid gates its cell names
(`Cell.saturating`: an LSTM's i f o, a GRU's r z, a minGRU's z, a minLSTM's f i).

    from charnn.gates import saturation
    saturation(open_recording("runs/austen/recordings/val"))   # layer, gate, unit, left, right
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import cells


def gates_of(cell: str) -> tuple[str, ...]:
    """The sigmoid gates of a cell (by its name in a recording); none for a cell not registered here."""
    known = cells.CELLS.get(cell)
    return known.saturating if known else ()
LEFT, RIGHT = 0.1, 0.9


def saturation(rec, max_chars: int | None = None) -> pd.DataFrame:
    """One row per (layer, gate, unit) over the first `max_chars` characters (default all)."""
    gates = [g for g in gates_of(rec.meta["cell"]) if g in rec.kinds]
    if not gates:
        return pd.DataFrame(columns=["layer", "gate", "unit", "left", "right"])
    n = rec.n_chars if max_chars is None else min(rec.n_chars, max_chars)
    low = {(l, g): np.zeros(rec.hidden, np.int64) for l in range(rec.layers) for g in gates}
    high = {key: np.zeros(rec.hidden, np.int64) for key in low}
    for _, _, block in rec.iter_chunks(kinds=gates, stop=n):
        for key, x in block.items():  # x (rows, H)
            low[key] += (x < LEFT).sum(0)
            high[key] += (x > RIGHT).sum(0)
    rows = [pd.DataFrame({"layer": l, "gate": g, "unit": np.arange(rec.hidden),
                          "left": low[(l, g)] / n, "right": high[(l, g)] / n}) for (l, g) in low]
    return pd.concat(rows, ignore_index=True)
