"""What a cell steps through a window with: its inputs, already projected, and reusable buffers.

    inputs = Inputs.rows(table, ids)     # layer 0: row ids[b, t] of a (V, P) table per step
    inputs = Inputs.dense(p)             # a layer above: p (T, B, P), the input projection of every step
    inputs.at(t)                         # (B, P)
    arena.output(layer, "c", T, B, H)    # a buffer for a state run() returns (reused with reuse_outputs)
    arena.scratch("gates", B, 4 * H)     # a scratch buffer, reused by later calls

Layer 0's input is a character, so its projection is a row of a per-character table made once
(`Cell.project` of the encoder's (V, in) table): a row per step replaces a matmul over the
embeddings. Buffers are reused because a fresh 100 MB tensor per window costs page faults, a
noticeable share of a small LSTM's stepping time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class Inputs:
    """A layer's projected input for the T steps of a window, for B streams."""

    T: int
    B: int
    table: torch.Tensor | None = None  # (V, P): with ids_t, layer 0
    ids_t: torch.Tensor | None = None  # (T, B)
    p: torch.Tensor | None = None  # (T, B, P): a layer above

    @classmethod
    def rows(cls, table: torch.Tensor, ids: torch.Tensor) -> "Inputs":
        """ids (B, T) -> rows of table (V, P)."""
        return cls(ids.shape[1], ids.shape[0], table=table, ids_t=ids.t())

    @classmethod
    def dense(cls, p: torch.Tensor) -> "Inputs":
        return cls(p.shape[0], p.shape[1], p=p)

    def at(self, t: int, out: torch.Tensor | None = None) -> torch.Tensor:
        """Step t's (B, P) projection (into `out` where given and the input is a table)."""
        if self.p is not None:
            return self.p[t]
        return torch.index_select(self.table, 0, self.ids_t[t], out=out) if out is not None else self.table[self.ids_t[t]]

    def whole(self) -> torch.Tensor:
        """(T, B, P): every step's projection."""
        return self.p if self.p is not None else self.table[self.ids_t]


class Arena:
    """Float32 buffers kept by key and reused: scratch ones always, outputs with `reuse_outputs`
    (the states run() returns are then views that the next run() overwrites)."""

    def __init__(self, reuse_outputs: bool = False):
        self.reuse_outputs = reuse_outputs
        self._buffers: dict[tuple, torch.Tensor] = {}

    def scratch(self, key, *shape, device=None) -> torch.Tensor:
        """A float32 buffer of `shape`, kept under `key` and reused by later calls."""
        n = math.prod(shape)
        buf = self._buffers.get((key, device))
        if buf is None or buf.numel() < n:
            buf = self._buffers[(key, device)] = torch.empty(n, device=device)
        return buf[:n].view(shape)

    def output(self, layer: int, kind: str, *shape, device=None) -> torch.Tensor:
        """A buffer for a state that run() returns: reused only with reuse_outputs."""
        if self.reuse_outputs:
            return self.scratch(("out", layer, kind), *shape, device=device)
        return torch.empty(*shape, device=device)

    def outputs(self, layer: int, kinds, T: int, B: int, H: int, device=None) -> dict:
        """(T, B, H) buffers for the states a stepped layer records, h always (the next layer's input)."""
        return {k: self.output(layer, k, T, B, H, device=device) for k in set(kinds) | {"h"}}
