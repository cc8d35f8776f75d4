"""The GRU cell on the weights of `nn.GRU`, gate by gate:

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)     z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))  h_t = (1 - z) * n + z * h_{t-1}

Kinds r z n h; h is carried and stored, r z n derive from (x_t, h_{t-1}). `_gates` is the one
place the equations are written: a step applies it to (B, 3H), the fused window to (T, B, 3H).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .protocol import no_edit
from .torchrnn import TorchRNN, fused_kernel


class GRU(TorchRNN):
    name = "gru"
    derived = ("r", "z", "n")
    linear = {"h": ("z", "1-z", "n")}
    saturating = ("r", "z")
    module = nn.GRU

    def project(self, x):
        w_ih, _, b_ih, _ = self.weights
        return torch.addmm(b_ih, x, w_ih.t())  # (n, 3H)

    def _hidden(self, h):
        _, w_hh, _, b_hh = self.weights
        return torch.addmm(b_hh, h.flatten(0, -2), w_hh.t()).view(*h.shape[:-1], 3 * self.hidden)  # (..., 3H)

    def _gates(self, xp, hp, edit):
        """(..., 3H) input and hidden projections -> r, z, n (each (..., H)), edited as computed."""
        H = self.hidden
        rz = torch.sigmoid(xp[..., : 2 * H] + hp[..., : 2 * H])
        r, z = rz[..., :H], rz[..., H:]
        edit("r", r)
        edit("z", z)
        n = torch.tanh(torch.addcmul(xp[..., 2 * H :], r, hp[..., 2 * H :]))  # tanh(W_in x + b_in + r * (W_hn h + b_hn))
        edit("n", n)
        return r, z, n

    def step(self, p, state, edit=no_edit):
        (h,) = state
        r, z, n = self._gates(p, self._hidden(h), edit)
        h = torch.lerp(n, h, z)  # (1 - z) * n + z * h
        edit("h", h)
        return (h,), {"r": r, "z": z, "n": n, "h": h}

    def derive(self, kind, x, h_prev, units=None):
        r, z, n = self._gates(self.project(x), self._hidden(h_prev), no_edit)
        value = {"r": r, "z": z, "n": n}[kind]  # (n, H)
        return value if units is None else value[:, torch.as_tensor(units, dtype=torch.long)]

    def window(self, x, state, wanted):
        """h from the fused kernel; r, z, n for all steps at once (no loop)."""
        (h0,) = state
        T, B = x.shape[:2]
        hs, h_n = fused_kernel(torch.gru, x, h0[None], self.weights)
        out = {"h": hs}  # (T, B, H)
        if wanted & {"r", "z", "n"}:
            h_prev = torch.cat([h0[None], hs[:-1]])  # (T, B, H)
            xp = self.project(x.flatten(0, 1)).view(T, B, -1)  # (T, B, 3H)
            out["r"], out["z"], out["n"] = self._gates(xp, self._hidden(h_prev), no_edit)
        return out, (h_n[0],)
