"""The LSTM cell, its equations written out gate by gate on the weights of `nn.LSTM`:

    i, f, o = sigmoid(.), g = tanh(.)   of  W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
    c_t = f * c_{t-1} + i * g           h_t = o * tanh(c_t)

Kinds i f g o c h; c and h are carried (nn.LSTM's (h, c) order) and stored, the gates derive from
(x_t, h_{t-1}). PyTorch's gate order in the weights is i f g o; the cell keeps its own copy with
the rows reordered i f o g, so that one sigmoid computes the three sigmoid gates side by side.

Three paths share `_activate` and `_update`: `step` (one step with hooks), `steps` (the stepped
window: the gates of layer 0 a row of a per-character table, a window's elementwise ops as one C
pass per step where `charnn/_lstm_cell.c` was built and there are no hooks) and `window` (the
fused kernel `torch.lstm` for h, then every gate at once from (x_t, h_{t-1}) and c one op a
step). `derive` computes a gate for some units from the same reordered rows.
"""

from __future__ import annotations

import ctypes
import os

import torch
import torch.nn as nn

from .. import clib
from .protocol import no_edit
from .torchrnn import TorchRNN, fused_kernel
from .window import Arena, Inputs

ACTIVATION = {"i": torch.sigmoid, "f": torch.sigmoid, "o": torch.sigmoid, "g": torch.tanh}
ORDER = "ifog"  # the cell's gate rows; PyTorch's weights hold them i f g o


def lstm_cell_kernel():
    """charnn_lstm_cell (charnn/_lstm_cell.c: one pass for a step's gates, c and h), or None where
    it was not built, the CPU lacks AVX-512, or CHARNN_NATIVE=0."""
    if os.environ.get("CHARNN_NATIVE", "1") == "0":
        return None
    lib = clib.load("charnn._lstm_cell", {"charnn_lstm_cell": ([ctypes.c_void_p] * 6 + [ctypes.c_int64] * 2,
                                                                 ctypes.c_int32)})
    if lib is None or lib.charnn_lstm_cell(None, None, None, None, None, None, 0, 0) != 0:
        return None
    return lib.charnn_lstm_cell


def _update(f, c, i, g, out=None):
    """c_t = f * c_{t-1} + i * g (into `out` where given)."""
    c_new = torch.mul(f, c, out=out) if out is not None else f * c
    return c_new.addcmul_(i, g)


def _emit(o, c, out=None):
    """h_t = o * tanh(c_t) (into `out` where given)."""
    h = torch.tanh(c, out=out) if out is not None else torch.tanh(c)
    return h.mul_(o)


class LSTM(TorchRNN):
    name = "lstm"
    kinds = ("i", "f", "g", "o", "c", "h")
    carried = ("h", "c")
    derived = ("i", "f", "g", "o")
    passes_on = ("c", "h")
    output_reads = ("c", "o")
    linear = {"c": ("f", "i", "g")}
    saturating = ("i", "f", "o")
    module = nn.LSTM

    def __init__(self, weights, hidden):
        super().__init__(weights, hidden)
        w_ih, w_hh, b_ih, b_hh = weights
        H = hidden
        order = torch.cat([torch.arange(0, 2 * H), torch.arange(3 * H, 4 * H), torch.arange(2 * H, 3 * H)])
        order = order.to(w_ih.device)
        self.w_ih, self.w_hh_t, self.bias = w_ih[order], w_hh[order].t().contiguous(), (b_ih + b_hh)[order]

    def project(self, x):
        return torch.addmm(self.bias, x, self.w_ih.t())  # (n, 4H), gates i f o g

    def _activate(self, pre, ifo, g, edit):
        """Pre-activations (..., 4H) i f o g -> i, f, g, o (views of ifo (..., 3H) and g (..., H)),
        each changed by `edit` right after it is computed."""
        H = self.hidden
        torch.sigmoid(pre[..., : 3 * H], out=ifo)
        torch.tanh(pre[..., 3 * H :], out=g)
        i, f, o = ifo[..., :H], ifo[..., H : 2 * H], ifo[..., 2 * H :]
        for name, value in (("i", i), ("f", f), ("g", g), ("o", o)):
            edit(name, value)
        return i, f, g, o

    def step(self, p, state, edit=no_edit):
        h, c = state
        B, H = h.shape
        pre = torch.addmm(p, h, self.w_hh_t)  # (B, 4H)
        i, f, g, o = self._activate(pre, torch.empty(B, 3 * H, device=h.device), torch.empty(B, H, device=h.device), edit)
        c = _update(f, c, i, g)
        edit("c", c)
        h = _emit(o, c)
        edit("h", h)
        return (h, c), {"i": i, "f": f, "g": g, "o": o, "c": c, "h": h}

    def output(self, kinds):
        return torch.tanh(kinds["c"]).mul_(kinds["o"])

    def derive(self, kind, x, h_prev, units=None):
        """A gate for `units` only: its rows of the reordered weights, one matmul."""
        H = self.hidden
        units = torch.arange(H) if units is None else torch.as_tensor(units, dtype=torch.long)
        rows = ORDER.index(kind) * H + units.to(self.w_ih.device)
        pre = torch.addmm(self.bias[rows], x, self.w_ih[rows].t()).addmm_(h_prev, self.w_hh_t[:, rows])  # (n, k)
        return ACTIVATION[kind](pre)

    def steps(self, inputs: Inputs, state, wanted, edit, arena: Arena, layer: int, native: bool = False):
        """Each state is computed straight into its recording buffer, or a scratch one that
        alternates between two slots (c and h need t - 1). i, f, o live side by side in one
        (T, B, 3H) buffer; the recorded i, f, o are its views."""
        T, B, H = inputs.T, inputs.B, self.hidden
        h, c = state  # (B, H) each
        dev = h.device
        out = arena.outputs(layer, wanted & {"g", "c"}, T, B, H, device=dev)
        keep_ifo = bool(wanted & {"i", "f", "o"})
        ifo_buf = (arena.output(layer, "ifo", T, B, 3 * H, device=dev) if keep_ifo
                   else arena.scratch("ifo", 2, B, 3 * H, device=dev))
        bufs = {k: out.get(k, arena.scratch(k, 2, B, H, device=dev)) for k in "gch"}
        for k, lo in (("i", 0), ("f", H), ("o", 2 * H)):
            if k in wanted:
                out[k] = ifo_buf[:, :, lo : lo + H]  # (T, B, H) view
        gates = arena.scratch("gates", B, 4 * H, device=dev)
        kernel = lstm_cell_kernel() if native and not edit and dev.type == "cpu" and h.dtype == torch.float32 else None
        if kernel is not None:
            c = c.contiguous()
        for t in range(T):
            ifo = ifo_buf[t if keep_ifo else t % 2]  # (B, 3H)
            g, c_new, h_new = (bufs[k][t if k in out else t % 2] for k in "gch")
            if inputs.p is None:
                inputs.at(t, out=gates).addmm_(h, self.w_hh_t)  # (B, 4H)
            else:
                torch.addmm(inputs.p[t], h, self.w_hh_t, out=gates)  # (B, 4H)
            if kernel is not None:  # no hooks: the rest of the step in one pass
                kernel(gates.data_ptr(), c.data_ptr(), c_new.data_ptr(), h_new.data_ptr(),
                       ifo.data_ptr() if keep_ifo else None, g.data_ptr() if "g" in out else None, B, H)
                h, c = h_new, c_new
                continue
            if edit:
                edit.t = t
            i, f, g, o = self._activate(gates, ifo, g, edit or no_edit)
            _update(f, c, i, g, out=c_new)
            if edit:
                edit("c", c_new)
            _emit(o, c_new, out=h_new)
            if edit:
                edit("h", h_new)
            h, c = h_new, c_new
        return out, (h.clone(), c.clone())

    def window(self, x, state, wanted):
        """h from the fused kernel; the gates for all T steps at once from (x_t, h_{t-1}), c one op a step."""
        T, B, H = x.shape[0], x.shape[1], self.hidden
        h0, c0 = state  # (B, H) each
        hs, h_n, c_n = fused_kernel(torch.lstm, x, (h0[None], c0[None]), self.weights)
        out = {"h": hs}  # (T, B, H)
        if wanted & set("ifgoc"):
            h_prev = torch.cat([h0[None], hs[:-1]])  # (T, B, H): the h each step reads
            pre = self.project(x.flatten(0, 1)).addmm_(h_prev.flatten(0, 1), self.w_hh_t).view(T, B, 4 * H)
            i, f, g, o = self._activate(pre, pre[..., : 3 * H], pre[..., 3 * H :], no_edit)
            out.update({"i": i, "f": f, "g": g, "o": o})
            if "c" in wanted:
                c = torch.mul(i, g)  # (T, B, H): i * g, then c_t = f_t * c_{t-1} + i_t * g_t
                c[0].addcmul_(f[0], c0)
                for t in range(1, T):
                    c[t].addcmul_(f[t], c[t - 1])
                out["c"] = c
        return out, (h_n[0], c_n[0])
