"""A unit's class from its two-part explanation: local, memory, mixed, integrator or constant.

    classify(r2_local, r2_memory, constant, integrator)    # (U,) object array of class names

- `constant`: the unit does not vary on the fitting or the held-out part (nothing to explain);
- `memory`: the readable terms add at least MEMORY_GAIN of held-out R^2 to the lookup, and at
  least as much as the lookup explains: what the unit holds is not in the last few characters,
  and the readable terms say what it is;
- `integrator`: any other unit that `charnn.attribution.memory_spans` classes an integrator (an
  LSTM cell whose forget gate keeps what it sums over hundreds of characters): its memory is
  there, and the readable terms do not say what it holds;
- `mixed`: the readable terms add at least MEMORY_GAIN, less than the lookup explains;
- `local`: the rest: what the unit says follows from the last few characters (however well).
"""

from __future__ import annotations

import numpy as np

from ..attribution import memory_spans

CLASSES = ("local", "memory", "mixed", "integrator", "constant")
MEMORY_GAIN = 0.05  # held-out R^2 the memory part must add for a unit to be memory or mixed


def classify(r2_local: np.ndarray, r2_memory: np.ndarray, constant: np.ndarray,
             integrator: np.ndarray | None = None) -> np.ndarray:
    """(U,) the class of each unit (see the module docstring); integrator (U,) bool or None."""
    out = np.where(r2_memory >= MEMORY_GAIN, np.where(r2_memory >= r2_local, "memory", "mixed"), "local")
    out = out.astype(object)
    if integrator is not None:
        out[np.asarray(integrator, bool) & (out != "memory")] = "integrator"
    out[np.asarray(constant, bool)] = "constant"
    return out


def integrators(rec, blocks: list[tuple[int, str]]) -> np.ndarray | None:
    """(U,) bool over the units of `blocks` (concatenated): the integrators of the memory spans; None
    for a recording that does not say its cell (no gates to read)."""
    if (getattr(rec, "meta", None) or {}).get("cell") != "lstm" or not any(k == "c" for _, k in blocks):
        return None
    spans = memory_spans(rec, kinds=["c"], layers=sorted({layer for layer, k in blocks if k == "c"}))
    out = []
    for layer, kind in blocks:
        width = rec.width(layer, kind)
        mine = spans[(spans.layer == layer) & (spans.kind == kind)] if kind == "c" else spans.iloc[:0]
        mask = np.zeros(width, bool)
        mask[mine.unit.to_numpy()[mine["class"].to_numpy() == "integrator"]] = True
        out.append(mask)
    return np.concatenate(out)
