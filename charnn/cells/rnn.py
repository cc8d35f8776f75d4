"""The vanilla (Elman) RNN cell on the weights of `nn.RNN`: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh).

Kind h only, carried and stored. Karpathy's min-char-rnn is this cell on one-hot input
(`charnn import min-char-rnn`).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .protocol import no_edit
from .torchrnn import TorchRNN, fused_kernel


class RNN(TorchRNN):
    name = "rnn"
    module = nn.RNN

    def project(self, x):
        w_ih, _, b_ih, b_hh = self.weights
        return torch.addmm(b_ih + b_hh, x, w_ih.t())  # (n, H)

    def step(self, p, state, edit=no_edit):
        (h,) = state
        h = torch.tanh(torch.addmm(p, h, self.weights[1].t()))  # (B, H)
        edit("h", h)
        return (h,), {"h": h}

    def window(self, x, state, wanted):
        hs, h_n = fused_kernel(torch.rnn_tanh, x, state[0][None], self.weights)
        return {"h": hs}, (h_n[0],)  # (T, B, H), (B, H)
