"""Rerunning a window through the stepped model with its characters changed or states ablated: how
attributions and circuits are checked against what the model does.

    from charnn.attribution.ablation import rerun
    rerun(rec, unit, at, start)                                 # the unit's value at `at`, recomputed
    rerun(rec, unit, at, start, ids=changed)                    # with other characters in [start, at]
    rerun(rec, unit, at, start, ablate=[(1, "c", 37, 4990)])    # with states set to 0 at their positions
    reruns(rec, unit, at, start, ids=variants)                   # (B,): B windows at once, as parallel streams

The window starts from the state the recorder had before `start` (`gradients.state_before`) and runs
through the named-gate stepper with `Intervention`s (charnn.stepper), every layer stepped, so two
reruns differ only by what they change.
"""

from __future__ import annotations

import numpy as np
import torch

from ..stepper import Intervention, Stepper
from ..units import Unit
from .gradients import expand_state, model_of, state_before


def rerun(rec, unit: Unit, at: int, start: int, ids: np.ndarray | None = None, ablate=()) -> float:
    """The value of `unit` at `at` after running [start, at] (ids: that window's characters, default
    the recorded ones; ablate: (layer, kind, unit, pos) states set to 0 at pos)."""
    return float(reruns(rec, unit, at, start, None if ids is None else np.asarray(ids)[None], [ablate])[0])


def reruns(rec, unit: Unit, at: int, start: int, ids: np.ndarray | None = None, ablate=None) -> np.ndarray:
    """(B,) the value of `unit` at `at` in B reruns of [start, at] at once, as parallel streams from the
    same state: ids (B, T) each stream's characters (None: the recorded ones in every stream), ablate
    a list of B lists of (layer, kind, unit, pos) (None: nothing ablated)."""
    model, _ = model_of(rec)
    n = at + 1 - start
    if ids is None:
        ids = np.broadcast_to(rec.ids(start, at + 1), (len(ablate or [()]), n))
    b = ids.shape[0]
    masks: dict = {}  # (layer, kind, unit) -> (T, B) where it is set to 0
    for stream, states in enumerate(ablate or []):
        for layer, kind, index, pos in states:
            masks.setdefault((layer, kind, index), torch.zeros(n, b, dtype=torch.bool))[pos - start, stream] = True
    hooks = [Intervention(layer, kind, index, 0.0, where=where) for (layer, kind, index), where in masks.items()]
    state = expand_state(state_before(rec, model, start), b)  # (layers, B, H)
    _, _, states = Stepper(model).run(torch.from_numpy(np.ascontiguousarray(ids).astype(np.int64)), state,
                                      kinds={unit.kind}, interventions=hooks, stepped=True)
    return states[(unit.layer, unit.kind)][-1, :, unit.index].double().numpy()  # (B,)
