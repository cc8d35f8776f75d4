"""Gradient attributions of any unit and kind: gradient x input and integrated gradients, on the
embeddings of the window's characters, the state before the window held at its recorded value.

    from charnn.attribution.gradients import gradient_attribution
    gradient_attribution(rec, Unit.parse("0:h:37"), at=5000, start=4801, method="ig")

The unit's value at `at` is a function F of the window's embeddings e_start..e_at (B, T, E), run
through the model's own layers (`model.rnn`, the path tested equal to the named-gate stepper within
float rounding; the stepper's `run` is inference only, its states written into reused buffers, so no
gradient passes through it). A gate at `at` is computed from the layer's input there and h at
`at` - 1 by the recording's gate equations (`recording.derive.Gates`). The state before the window
is the recorder's: its stream replayed from where it began reading, from a zero state.

- gradxinput: e_s . dF/de_s per position: a linearisation at the input (its terms need not sum to
  anything).
- ig: integrated gradients from the baseline 0 (every embedding of the window zeroed):
  e_s . mean over alpha of dF/de_s at alpha * e, by the midpoint rule; completeness (the terms sum to
  F(e) - F(0)) is checked, and the steps doubled until it holds within 1% (up to MAX_STEPS).
The remainder is F(0): the value with the window's characters at the baseline, what the state before
the window and the biases give.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..recording import manifest
from ..recording.derive import Gates
from ..units import Unit
from .window import Attribution, window_chars

STEPS, MAX_STEPS = 32, 512  # integrated gradients' first and largest number of steps
BATCH = 64  # path points per pass
TOLERANCE = 0.01  # completeness, relative to |F(e) - F(0)|

_models: dict = {}  # (folder, recording_id) -> (model, gates): loaded once per process


def model_of(rec):
    """The recording's own model (eval mode) and its gate equations, loaded once."""
    key = (str(rec.path), rec.meta.get("recording_id"))
    if key not in _models:
        model, _ = manifest.load_model(rec.path, rec.meta)
        _models[key] = (model.eval().requires_grad_(False), Gates(model))
    return _models[key]


def state_before(rec, model, start: int):
    """The model's state (every layer) before position `start`, as the recorder had it: the stream
    replayed from where it began reading. (layers, 1, H) tensors, (h, c) for an LSTM."""
    origin = rec.stream_origin(start)
    state = model.init_state(1)
    if start > origin:
        ids = torch.from_numpy(rec.ids(origin, start).astype(np.int64))[None]  # (1, n)
        with torch.no_grad():
            _, state = model.rnn(model.embedding(ids), state)
    return state


def _expand(state, b: int):
    if isinstance(state, tuple):
        return tuple(s.expand(-1, b, -1).contiguous() for s in state)
    return state.expand(-1, b, -1).contiguous()


def value_function(model, gates: Gates, unit: Unit, state0):
    """F: embeddings (B, T, E) of a window -> (B,) the unit's value at its last position."""
    lstm = isinstance(state0, tuple)

    def F(emb: torch.Tensor) -> torch.Tensor:
        b, T = emb.shape[:2]
        start = _expand(state0, b)
        if unit.kind in ("c", "h"):
            _, final = model.rnn(emb, start)
            h, c = final if lstm else (final, None)
            return (c if unit.kind == "c" else h)[unit.layer, :, unit.index]  # (B,)
        prev = model.rnn(emb[:, :-1], start)[1] if T > 1 else start  # the state at `at` - 1
        _, last = model.rnn(emb[:, -1:], prev)
        h_prev, h_last = (prev[0], last[0]) if lstm else (prev, last)  # (layers, B, H)
        x = emb[:, -1] if unit.layer == 0 else h_last[unit.layer - 1]  # (B, in): the layer's input at `at`
        return gates(unit.layer, unit.kind, x, h_prev[unit.layer], [unit.index])[:, 0]

    return F


def _gradient(F, points: torch.Tensor) -> torch.Tensor:
    """dF/de at each of the points (P, T, E), summed over nothing: (P, T, E)."""
    grads = []
    for a in range(0, points.shape[0], BATCH):
        p = points[a:a + BATCH].clone().requires_grad_(True)
        grads.append(torch.autograd.grad(F(p).sum(), p)[0])
    return torch.cat(grads)


def integrated_gradients(F, emb: torch.Tensor, steps: int = STEPS) -> tuple[torch.Tensor, float, float, float]:
    """emb (T, E) -> (attributions (T,), F(emb), F(0), relative completeness error), the steps doubled
    until the error is within TOLERANCE or MAX_STEPS is reached."""
    with torch.no_grad():
        ends = F(torch.stack([emb, torch.zeros_like(emb)]))  # (2,)
    f_x, f_0 = float(ends[0]), float(ends[1])
    while True:
        alphas = (torch.arange(steps, dtype=emb.dtype) + 0.5) / steps  # (steps,): midpoints
        grads = _gradient(F, alphas[:, None, None] * emb[None])  # (steps, T, E)
        attr = (emb * grads.mean(0)).sum(-1)  # (T,)
        error = abs(float(attr.sum()) - (f_x - f_0)) / max(abs(f_x - f_0), 1e-6)
        if error <= TOLERANCE or steps >= MAX_STEPS:
            return attr, f_x, f_0, error
        steps *= 2


def gradient_attribution(rec, unit: Unit, at: int, start: int, method: str) -> Attribution:
    """gradxinput or ig of `unit` at `at` over the window [start, at] (checked by the caller)."""
    model, gates = model_of(rec)
    ids = torch.from_numpy(rec.ids(start, at + 1).astype(np.int64))
    emb = model.embedding.weight[ids].detach()  # (T, E)
    F = value_function(model, gates, unit, state_before(rec, model, start))
    if method == "gradxinput":
        attr = (emb * _gradient(F, emb[None])[0]).sum(-1)  # (T,)
        with torch.no_grad():
            f_0 = float(F(torch.zeros_like(emb)[None])[0])
    else:
        attr, _, f_0, error = integrated_gradients(F, emb)
        if error > TOLERANCE:
            raise ValueError(f"integrated gradients of {unit} at {at} are not complete: their sum is off by "
                             f"{error:.1%} of F(e) - F(0) after {MAX_STEPS} steps (limit {TOLERANCE:.0%}); "
                             f"use --method write or gradxinput")
    value = float(rec.activations(unit.layer, unit.kind, [unit.index], at, at + 1)[0, 0])
    contributions = pd.DataFrame({"pos": np.arange(start, at + 1), "char": window_chars(rec, start, at + 1),
                                  "contribution": attr.double().numpy()})
    return Attribution(str(unit), at, value, method, f_0, contributions)
