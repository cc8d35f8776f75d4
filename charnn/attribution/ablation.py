"""Rerunning a window through the stepped model with its characters changed or states ablated: how
attributions and circuits are checked against what the model does.

    from charnn.attribution.ablation import rerun
    rerun(rec, unit, at, start)                                 # the unit's value at `at`, recomputed
    rerun(rec, unit, at, start, ids=changed)                    # with other characters in [start, at]
    rerun(rec, unit, at, start, ablate=[(1, "c", 37, 4990)])    # with states set to 0 at their positions

The window starts from the state the recorder had before `start` (`gradients.state_before`) and runs
through the named-gate stepper with `Intervention`s (charnn.stepper), every layer stepped, so two
reruns differ only by what they change.
"""

from __future__ import annotations

import numpy as np
import torch

from ..stepper import Intervention, Stepper
from ..units import Unit
from .gradients import model_of, state_before


def rerun(rec, unit: Unit, at: int, start: int, ids: np.ndarray | None = None, ablate=()) -> float:
    """The value of `unit` at `at` after running [start, at] (ids: that window's characters, default
    the recorded ones; ablate: (layer, kind, unit, pos) states set to 0 at pos)."""
    model, _ = model_of(rec)
    ids = rec.ids(start, at + 1) if ids is None else np.asarray(ids)
    n = at + 1 - start
    hooks = []
    for layer, kind, index, pos in ablate:
        where = torch.zeros(n, 1, dtype=torch.bool)  # (T, B)
        where[pos - start, 0] = True
        hooks.append(Intervention(layer, kind, index, 0.0, where=where))
    _, _, states = Stepper(model).run(torch.from_numpy(ids.astype(np.int64))[None], state_before(rec, model, start),
                                      kinds={unit.kind}, interventions=hooks, stepped=True)
    return float(states[(unit.layer, unit.kind)][-1, 0, unit.index])
