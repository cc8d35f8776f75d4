"""Whole-state reconstruction: how much of a layer's state all its units' explanations reproduce together.

    share(units, mse, vx)     # [{"layer", "kind", "units", "reconstruction"}, ...]

Each unit's explanation (lookup + readable terms) predicts that unit; stacked, they predict the
whole state vector. The share is 1 - sum of held-out squared errors / sum of held-out variances
over the layer's units of one kind: the variance explained of the state, the figure text-based
explanation autoencoders report. Constant units add nothing to either sum.
"""

from __future__ import annotations

import numpy as np


def share(units: list[tuple[int, str, int]], mse: np.ndarray, vx: np.ndarray) -> list[dict]:
    """Per (layer, kind) of `units` ((layer, kind, unit) per column of mse and vx, (U,) held-out mean
    squared error and variance): the reconstruction share."""
    out = []
    keys = [(layer, kind) for layer, kind, _ in units]
    for key in dict.fromkeys(keys):
        mine = np.array([k == key for k in keys])
        ok = mine & (vx > 0)
        total = float(vx[ok].sum())
        value = 1.0 - float(mse[ok].sum()) / total if total > 0 else 0.0
        out.append({"layer": int(key[0]), "kind": key[1], "units": int(mine.sum()), "reconstruction": value})
    return out
