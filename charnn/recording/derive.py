"""Kinds derived from stored states: a cell's derived kinds (an LSTM's i, f, g, o, a GRU's r, z, n,
a minGRU's z, n) at step t follow exactly from the layer's input at t (the character's encoding
for layer 0, h of the layer below otherwise) and the layer's h at t - 1, so a recording stores h
(and c) and serves the gates from them.

    gates = Gates(model)                              # the recording's own weights
    gates(layer, "f", x, h_prev, units=[3, 7])        # x (n, in), h_prev (n, H) float32 -> (n, 2)

The equations are the cell's own (`charnn.cells`, its `derive`), the ones the stepper runs, so a
derived gate equals the one the stepper computed up to float rounding and the float16 rounding of
the stored h it reads. At a stream's first recorded position, h at t - 1 is that stream's state
after its burn-in (the recording's boundary states), not the row stored before it.
"""

from __future__ import annotations

import numpy as np
import torch

from ..model import CharRNN


class Gates:
    def __init__(self, model: CharRNN):
        self.cell, self.hidden = model.cell, model.config.hidden
        self.layers = [self.cell(tuple(w.detach().float().cpu() for w in self.cell.weights_of(model.rnn, l)), self.hidden)
                       for l in range(model.config.layers)]  # the weights as constants
        self.embedding = model.input_table().detach().float().cpu()  # (V, in)

    def embed(self, ids: np.ndarray) -> torch.Tensor:
        """(n,) ids -> (n, in): layer 0's input."""
        return self.embedding[torch.from_numpy(np.asarray(ids, np.int64))]

    def __call__(self, layer: int, kind: str, x: torch.Tensor, h_prev: torch.Tensor, units=None) -> torch.Tensor:
        """(n, len(units)) float32 values of derived kind `kind` of `layer` (units None: all); differentiable in
        x and h_prev (the weights are constants), for gradient attributions of a gate."""
        if kind not in self.cell.derived:
            raise ValueError(f"a {self.cell.name}'s kind {kind!r} is not derived from stored states")
        return self.layers[layer].derive(kind, x, h_prev, None if units is None else np.asarray(units, np.int64))
