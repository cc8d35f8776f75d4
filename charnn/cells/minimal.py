"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs all we needed?"): gates that read only the
current input, so a layer is h_t = a_t * h_{t-1} + b_t and trains with a parallel scan (`scan`),
while recording steps it like any cell.

    minGRU:   z = sigmoid(W_z x + b_z), n = g(W_n x + b_n),  h_t = (1 - z) * h_{t-1} + z * n
    minLSTM:  f', i' = sigmoid(W_f x + b_f), sigmoid(W_i x + b_i) normalised to sum to 1,
              g = g(W_g x + b_g),                            h_t = f' * h_{t-1} + i' * g

Kinds: minGRU z n h, minLSTM f i g h (f and i the normalised gates, which the recurrence uses);
h is carried and stored, every gate derives from x_t alone, exactly. The candidate uses the
paper's positive g (see `scan`), so h stays positive. One layer's weights are one Linear
(in -> 2H for minGRU: z, n; 3H for minLSTM: f, i, g); `_coefficients` is the one place the
equations are written, in log space for the scan and as values for the steps.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .protocol import Cell, join_states, no_edit, stack_state
from .scan import g, log_g, scan


class MinimalStack(nn.Module):
    """Layers of Linear projections scanned in parallel; dropout between layers.
    forward(x (B, T, in), state (L, B, H) or None) -> (B, T, H), state."""

    def __init__(self, cell: type["MinGRU"], input_size: int, hidden: int, layers: int, dropout: float):
        super().__init__()
        self.cell, self.hidden = cell, hidden
        self.layers = nn.ModuleList(nn.Linear(input_size if l == 0 else hidden, cell.blocks * hidden)
                                    for l in range(layers))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, state=None):
        B = x.shape[0]
        finals = []
        for l, linear in enumerate(self.layers):
            h0 = x.new_zeros(B, self.hidden) if state is None else stack_state(state, self.cell, l)[0]
            log_a, log_b = self.cell.log_coefficients(linear(x), self.hidden)  # (B, T, H) each
            x = scan(log_a, log_b, h0)  # (B, T, H)
            finals.append((x[:, -1],))
            if l < len(self.layers) - 1:
                x = self.drop(x)
        return x, join_states(finals, self.cell)


class MinGRU(Cell):
    name = "mingru"
    derived = ("z", "n")
    linear = {"h": ("1-z", "z", "n")}
    saturating = ("z",)
    blocks = 2

    @classmethod
    def stack(cls, input_size, hidden, layers, dropout):
        return MinimalStack(cls, input_size, hidden, layers, dropout)

    @classmethod
    def weights_of(cls, stack, layer):
        linear = stack.layers[layer]
        return linear.weight, linear.bias

    @staticmethod
    def log_coefficients(p, H):
        """p (..., 2H) -> log a, log b (..., H): log(1 - z), log z + log g(n)."""
        k, n = p[..., :H], p[..., H:]
        return -F.softplus(k), -F.softplus(-k) + log_g(n)

    def project(self, x):
        weight, bias = self.weights
        return torch.addmm(bias, x, weight.t())  # (n, blocks * H)

    def gates(self, p, edit):
        """p (..., 2H) -> {z, n}, each (..., H), edited as computed."""
        H = self.hidden
        z = torch.sigmoid(p[..., :H])
        edit("z", z)
        n = g(p[..., H:])
        edit("n", n)
        return {"z": z, "n": n}

    @staticmethod
    def recurrence(kinds):
        """The gates -> (a, w, v) of h_t = a * h_{t-1} + w * v."""
        return 1 - kinds["z"], kinds["z"], kinds["n"]

    def step(self, p, state, edit=no_edit):
        (h,) = state
        kinds = self.gates(p, edit)
        a, w, v = self.recurrence(kinds)
        h = torch.addcmul(a * h, w, v)  # (B, H)
        edit("h", h)
        kinds["h"] = h
        return (h,), kinds

    def derive(self, kind, x, h_prev, units=None):
        value = self.gates(self.project(x), no_edit)[kind]  # (n, H)
        return value if units is None else value[:, torch.as_tensor(units, dtype=torch.long)]

    def window(self, x, state, wanted):
        """Every step at once: the gates from x, h by the parallel scan."""
        p = self.project_window(x)  # (T, B, blocks * H)
        log_a, log_b = self.log_coefficients(p, self.hidden)
        hs = scan(log_a.transpose(0, 1), log_b.transpose(0, 1), state[0]).transpose(0, 1)  # (T, B, H)
        out = {"h": hs}
        if wanted & set(self.derived):
            out.update(self.gates(p, no_edit))
        return out, (hs[-1].clone(),)


class MinLSTM(MinGRU):
    name = "minlstm"
    derived = ("f", "i", "g")
    linear = {"h": ("f", "i", "g")}
    saturating = ("f", "i")
    blocks = 3

    @staticmethod
    def log_coefficients(p, H):
        """p (..., 3H) -> log a, log b (..., H): log f', log i' + log g(.), with f' = f / (f + i)."""
        d = F.softplus(-p[..., :H]) - F.softplus(-p[..., H : 2 * H])  # log i - log f
        return -F.softplus(d), -F.softplus(-d) + log_g(p[..., 2 * H :])

    def gates(self, p, edit):
        """p (..., 3H) -> {f, i, g}: the normalised forget and input gates and the candidate."""
        H = self.hidden
        f, i = torch.sigmoid(p[..., :H]), torch.sigmoid(p[..., H : 2 * H])
        total = f + i
        f, i = f / total, i / total
        edit("f", f)
        edit("i", i)
        cand = g(p[..., 2 * H :])
        edit("g", cand)
        return {"f": f, "i": i, "g": cand}

    @staticmethod
    def recurrence(kinds):
        return kinds["f"], kinds["i"], kinds["g"]
