"""Gates derived from stored states: an LSTM's i, f, g, o and a GRU's r, z, n at step t follow
exactly from the layer's input at t (the character's embedding for layer 0, h of the layer below
otherwise) and the layer's h at t - 1, in one matmul, so a recording stores h (and c) and serves
the gates from them.

    gates = Gates(model)                              # the recording's own weights
    gates(layer, "f", x, h_prev, units=[3, 7])        # x (n, in), h_prev (n, H) float32 -> (n, 2)

The equations and their order are the stepper's (charnn.stepper), so a derived gate equals the
one the stepper computed up to float rounding and the float16 rounding of the stored h it reads.
At a stream's first recorded position, h at t - 1 is that stream's state after its burn-in (the
recording's boundary states), not the row stored before it.
"""

from __future__ import annotations

import numpy as np
import torch

from ..model import CharRNN

GATES = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n"), "rnn": ()}


class Gates:
    def __init__(self, model: CharRNN):
        self.cell, self.hidden = model.config.cell, model.config.hidden
        rnn = model.rnn
        self.weights = [tuple(getattr(rnn, f"{name}_l{l}").detach().float().cpu()
                              for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
                        for l in range(model.config.layers)]
        self.embedding = model.embedding.weight.detach().float().cpu()  # (V, E)

    def embed(self, ids: np.ndarray) -> torch.Tensor:
        """(n,) ids -> (n, E): layer 0's input."""
        return self.embedding[torch.from_numpy(np.asarray(ids, np.int64))]

    def __call__(self, layer: int, kind: str, x: torch.Tensor, h_prev: torch.Tensor, units=None) -> torch.Tensor:
        """(n, len(units)) float32 values of gate `kind` of `layer` (units None: all); differentiable in
        x and h_prev (the weights are constants), for gradient attributions of a gate."""
        w_ih, w_hh, b_ih, b_hh = self.weights[layer]
        H = self.hidden
        units = torch.arange(H) if units is None else torch.as_tensor(np.asarray(units, np.int64))
        if self.cell == "lstm":
            rows = "ifgo".index(kind) * H + units
            pre = torch.addmm(b_ih[rows] + b_hh[rows], x, w_ih[rows].t()).addmm_(h_prev, w_hh[rows].t())  # (n, k)
            return torch.tanh_(pre) if kind == "g" else torch.sigmoid_(pre)
        if self.cell == "gru":
            def part(g: int):  # (input projection, hidden projection) of gate block g, these units
                rows = g * H + units
                return torch.addmm(b_ih[rows], x, w_ih[rows].t()), torch.addmm(b_hh[rows], h_prev, w_hh[rows].t())
            xr, hr = part(0)
            r = torch.sigmoid_(xr.add_(hr))  # (n, k)
            if kind == "r":
                return r
            if kind == "z":
                xz, hz = part(1)
                return torch.sigmoid_(xz.add_(hz))
            xn, hn = part(2)
            return torch.tanh_(xn.addcmul_(r, hn))  # n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        raise ValueError(f"a {self.cell} has no gates to derive")
