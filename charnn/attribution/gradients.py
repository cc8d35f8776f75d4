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
  anything); the remainder is F(0), the value with the window's embeddings zeroed.
- ig: integrated gradients from a baseline b, (e_s - b_s) . integral of dF/de_s along the straight
  path from b to e (`integrated`: adaptive Gauss-Legendre quadrature, completeness checked within 1%).
  The default baseline is a window of spaces (the deletion test's replacement): every point of the
  path is then a mix of two characters' embeddings, an input of the kind the model was trained on.
  From the zero embedding, 100 or more steps of the recurrence run far outside that regime and the
  value swings many times along the path (see docs/attribution.md). The remainder is F(b), what the
  state before the window and a window of spaces give.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..recording import manifest
from ..recording.derive import Gates
from ..units import Unit
from .integrated import MAX_POINTS, TOLERANCE, gradient, integrated_gradients
from .window import Attribution, window_chars

BASELINES = ("space", "zero")  # integrated gradients' baselines, the default first

_models: dict = {}  # (folder, recording_id, dtype) -> (model, gates, vocab): loaded once per process


def _loaded(rec, dtype=torch.float32):
    key = (str(rec.path), rec.meta.get("recording_id"), dtype)
    if key not in _models:
        model, vocab = manifest.load_model(rec.path, rec.meta)
        model = model.to(dtype).eval().requires_grad_(False)
        _models[key] = (model, Gates(model), vocab)
    return _models[key]


def model_of(rec, dtype=torch.float32):
    """The recording's own model (eval mode, in `dtype`) and its gate equations, loaded once."""
    return _loaded(rec, dtype)[:2]


def baseline_of(rec, ids: torch.Tensor, baseline: str) -> torch.Tensor:
    """The baseline embeddings (T, E) of a window of `ids` (T,): every character a space (the deletion
    test's replacement), or zero; a vocabulary without a space has only the zero baseline."""
    model, _, vocab = _loaded(rec)
    if baseline not in BASELINES:
        raise ValueError(f"baseline {baseline!r} is not one of {', '.join(BASELINES)}")
    emb = model.embedding.weight
    if baseline == "zero":
        return torch.zeros(len(ids), emb.shape[1])
    if " " not in vocab.char_to_id:
        raise ValueError(f"the vocabulary of {rec.path} has no space: use the baseline zero")
    return emb[vocab.char_to_id[" "]].expand(len(ids), -1).clone()


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


def expand_state(state, b: int):
    """A state of one stream, (layers, 1, H) or an LSTM's (h, c) pair of them, as B equal streams."""
    if isinstance(state, tuple):
        return tuple(s.expand(-1, b, -1).contiguous() for s in state)
    return state.expand(-1, b, -1).contiguous()


def value_function(model, gates: Gates, unit: Unit, state0):
    """F: embeddings (B, T, E) of a window -> (B,) the unit's value at its last position."""
    lstm = isinstance(state0, tuple)

    def F(emb: torch.Tensor) -> torch.Tensor:
        b, T = emb.shape[:2]
        start = expand_state(state0, b)
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


def gradient_attribution(rec, unit: Unit, at: int, start: int, method: str, baseline: str = BASELINES[0]) -> Attribution:
    """gradxinput or ig of `unit` at `at` over the window [start, at] (checked by the caller)."""
    ids = torch.from_numpy(rec.ids(start, at + 1).astype(np.int64))  # (T,)
    if method == "gradxinput":
        model, gates = model_of(rec)
        emb = model.embedding.weight[ids]  # (T, E)
        F = value_function(model, gates, unit, state_before(rec, model, start))
        attr = (emb * gradient(F, emb[None])[0]).sum(-1)  # (T,)
        with torch.no_grad():
            rest = float(F(torch.zeros_like(emb)[None])[0])
    else:
        attr, rest = _integrated(rec, unit, at, start, ids, baseline)
    value = float(rec.activations(unit.layer, unit.kind, [unit.index], at, at + 1)[0, 0])
    contributions = pd.DataFrame({"pos": np.arange(start, at + 1), "char": window_chars(rec, start, at + 1),
                                  "contribution": attr.double().numpy()})
    return Attribution(str(unit), at, value, method, rest, contributions)


def _integrated(rec, unit: Unit, at: int, start: int, ids: torch.Tensor, baseline: str) -> tuple[torch.Tensor, float]:
    """(integrated gradients (T,), F(baseline)): in float32 (a quarter of the gradients), and where that
    does not add up, again in float64 (a swing of the value within 1e-7 of the path is below float32's
    resolution there; most windows add up in float32 within a few hundred gradients)."""
    base = baseline_of(rec, ids, baseline)  # (T, E)
    state = state_before(rec, model_of(rec)[0], start)
    for dtype, points in ((torch.float32, MAX_POINTS // 4), (torch.float64, MAX_POINTS)):
        model, gates = model_of(rec, dtype)
        cast = tuple(s.to(dtype) for s in state) if isinstance(state, tuple) else state.to(dtype)
        F = value_function(model, gates, unit, cast)
        attr, _, f_b, error = integrated_gradients(F, model.embedding.weight[ids], base.to(dtype), points)
        if error <= TOLERANCE:
            return attr, f_b
    raise ValueError(f"integrated gradients of {unit} at {at} are not complete: their sum is off by {error:.1%} of "
                     f"F(e) - F(baseline) after {MAX_POINTS} gradients in float64 (limit {TOLERANCE:.0%}); use "
                     f"--method write or gradxinput, or another --baseline")
