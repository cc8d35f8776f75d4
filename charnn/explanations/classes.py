"""A unit's class from its two-part explanation: local, memory, mixed, integrator or constant.

    classify(r2_local, r2_memory, constant, integrator)    # (U,) object array of class names
    integrator, half_life = memory(rec, units)             # from memory_spans, per (layer, kind, unit)

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
import pandas as pd

from ..attribution.memory import half_lives

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


def memory(rec, units: list[tuple[int, str, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Of each of `units` ((layer, kind, unit)): (integrator (U,) bool, half_life (U,) float), the class
    and median half-life of `charnn.attribution.memory_spans` (NaN where no gate decays the kind, or
    the recording does not say its cell)."""
    spans = half_lives(rec, pd.DataFrame(units, columns=["layer", "kind", "unit"]))
    return (spans["memory_class"] == "integrator").to_numpy(), spans["half_life"].to_numpy()
