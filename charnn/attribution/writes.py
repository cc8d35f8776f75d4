"""The exact write decomposition: a cell's value as the sum of what each earlier step wrote into it,
kept by the gates since, read from a recording (gates derived from the stored h).

    from charnn.attribution.writes import write_attribution
    write_attribution(rec, Unit.parse("0:c:37"), at=5000, start=4801)   # an Attribution

Given its gates, an LSTM's cell update is linear: c_t = f_t c_{t-1} + i_t g_t, so

    c_t = sum_{s=start..t} (f_{s+1} ... f_t) i_s g_s  +  (f_start ... f_t) c_{start-1}

and a GRU's h_t = z_t h_{t-1} + (1 - z_t) n_t has the same form (decay z, write (1 - z) n). Each
term is credited to position s, where it was written; the last term is the remainder, from before
the window. At a stream's first row the state before it (the burn-in's) is not stored, but what it
leaves there is: f_start c_{start-1} = c_start - i_start g_start.

Exact is the split given the gates. The gates themselves depend on the characters and on h_{t-1}; the
write at s depends on the layer's input at s, which for a layer above 0 is the layer below's h: the
credit stops at the layer's input at each position, it is not carried down to the characters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import cells
from ..cells.protocol import term
from ..units import Unit
from .memory import decay_gate
from .window import Attribution, window_chars


def decomposable(cell: str, kind: str) -> bool:
    """Whether state `kind` of a `cell` layer is linear given its gates (the protocol's `linear`)."""
    known = cells.CELLS.get(cell)
    return bool(known) and kind in known.linear


def writes(rec, unit: Unit, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """(decay, write) of one unit over [start, stop), each (n,) float64, from the cell's `linear`:
    f and i*g for an LSTM's c, z and (1 - z)*n for a GRU's h."""
    decay, gate, value = cells.get(rec.meta["cell"]).linear[unit.kind]

    def read(kind: str) -> np.ndarray:
        return rec.activations(unit.layer, kind, [unit.index], start, stop)[:, 0].astype(np.float64)

    return term(decay, read), term(gate, read) * term(value, read)


def write_attribution(rec, unit: Unit, at: int, start: int) -> Attribution:
    """The write decomposition of `unit` at `at` over the window [start, at] (checked by the caller)."""
    cell = rec.meta["cell"]
    if not decomposable(cell, unit.kind):
        decay_gate(cell, unit.kind)  # the error naming the kinds a gate decays
    decay, write = writes(rec, unit, start, at + 1)  # (n,) each
    kept = np.ones_like(decay)  # (n,): f_{s+1} ... f_t, the share of step s's write left at t
    kept[:-1] = np.cumprod(decay[:0:-1])[::-1]
    def stored(pos: int) -> float:
        return float(rec.activations(unit.layer, unit.kind, [unit.index], pos, pos + 1)[0, 0])

    if start > rec.stream_start(at):
        remainder = kept[0] * decay[0] * stored(start - 1)  # the stored state before the window, decayed
    else:
        remainder = kept[0] * (stored(start) - write[0])  # what the burn-in's state left at the stream's first row
    contributions = pd.DataFrame({"pos": np.arange(start, at + 1), "char": window_chars(rec, start, at + 1),
                                  "contribution": write * kept})
    kept_from = kept * decay  # (n,): f_s ... f_t, the share of the state before s left at t
    fallen = np.nonzero(kept_from < 0.5)[0]
    half_life = (at - int(fallen[-1]) - start + 1, False) if len(fallen) else (len(decay), True)
    return Attribution(str(unit), at, stored(at), "write", float(remainder), contributions, half_life)
