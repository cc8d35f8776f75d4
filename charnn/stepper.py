"""The recording path: the LSTM, GRU and RNN equations written out gate by gate, on the weights
of the fast path (`nn.LSTM`/`nn.GRU`/`nn.RNN`), exposing every layer's per-step states.

    stepper = Stepper(model)
    logits, state, states = stepper.run(ids, kinds={"c", "h"})   # states[(layer, kind)]: (T, B, H)

Each layer is run over the whole window before the next. Two ways through a layer:

- **stepped** (on the CPU, and wherever there are interventions): the equations step by step,
  the input projection as one matmul for all T steps (layer 0: a row of a per-character table)
  and only h @ W_hh in the time loop, each hook applied right after the state it names is
  computed, so a changed state feeds the following steps. The same code records, scores with a
  unit ablated and generates with a unit clamped. An LSTM layer without hooks runs each step's
  elementwise ops as one C pass where `charnn/_lstm_cell.c` was built.
- **fused** (on a GPU, recording without interventions): the layer's own fused kernel
  (`torch.lstm`/`gru`/`rnn_tanh`, what `nn.LSTM` calls) gives h for every step; the gates then
  follow from (x_t, h_{t-1}) for all T steps at once, one big matmul plus elementwise ops, and
  an LSTM's c_t = f_t * c_{t-1} + i_t * g_t is one op per step, instead of the stepped path's
  ~8 small kernel launches per step (the GPU choice was not timed against the stepped path; it
  recorded the study's 2x512 models on an H100). On the CPU it is slower (measured on 2 cores,
  2x256, 256 streams: 650-860 ms against 450-650 ms per 128-step window): recomputing the gates
  repeats the recurrent matmul, which dominates there.

Hooks change a state at every step: `Intervention` sets one unit (ablate, clamp), `StateHook`
replaces the whole state vector by a function of it (a sparse autoencoder's reconstruction, a
state with one latent's direction removed). A hook either acts in the recurrence (the changed
state feeds the following steps; the layer is stepped) or, with `readout=True`, only on what the
layer passes on (the next layer's input, or the output layer's), the recurrence keeping the
true state; readout hooks are applied to the whole window after the layer, so it may run fused.

Gate order follows PyTorch: LSTM i f g o, GRU r z n.
"""

from __future__ import annotations

import ctypes
import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from . import clib
from .model import STATE_KINDS, CharRNN

READOUT_KINDS = {"lstm": ("c", "h"), "gru": ("h",), "rnn": ("h",)}  # the states a layer's output is made of


class Hook:
    """A change to state `kind` of `layer` at every step where `where` (T, B) is True (None: always).

    Subclasses say what the change is (`change`); the stepper calls `apply` at each step of the
    recurrence, or `apply_window` on the whole window for a readout hook.
    """

    layer: int
    kind: str
    where: torch.Tensor | None
    readout: bool

    def change(self, state: torch.Tensor) -> torch.Tensor:
        """(..., H) states -> the changed states (..., H), a new tensor."""
        raise NotImplementedError

    def apply(self, state: torch.Tensor, t: int) -> None:
        """Change step t's (B, H) state in place."""
        new = self.change(state)
        state.copy_(new if self.where is None else torch.where(self.where[t].unsqueeze(1), new, state))

    def apply_window(self, states: torch.Tensor) -> torch.Tensor:
        """(T, B, H) states -> the changed states (a new tensor; `states` is left as it is)."""
        new = self.change(states)
        return new if self.where is None else torch.where(self.where.unsqueeze(2), new, states)

    def window(self, s0: int, s1: int) -> "Hook":
        """This hook for steps [s0, s1) of a longer pass: `where` cut to them."""
        return replace(self, where=None if self.where is None else self.where[s0:s1])


@dataclass
class Intervention(Hook):
    """Set `unit` of state `kind` in `layer` to `value` wherever `where` (T, B) is True (None: always)."""

    layer: int
    kind: str
    unit: int
    value: float | torch.Tensor = 0.0
    where: torch.Tensor | None = None  # (T, B) bool, time-major like the states
    readout: bool = False

    def change(self, state: torch.Tensor) -> torch.Tensor:
        out = state.clone()
        out[..., self.unit] = self.value
        return out

    def apply(self, state: torch.Tensor, t: int) -> None:
        # In place, one column: this runs at every step of every ablation pass.
        if self.where is None:
            state[:, self.unit] = self.value
        else:
            value = torch.as_tensor(self.value, dtype=state.dtype, device=state.device)
            state[:, self.unit] = torch.where(self.where[t], value, state[:, self.unit])


@dataclass
class StateHook(Hook):
    """Replace state `kind` of `layer` by `fn(state)` wherever `where` (T, B) is True (None: always).

    fn maps (..., H) states to (..., H) (it sees (B, H) at each step, or (T, B, H) for a readout
    hook) and returns a new tensor. readout: see the module docstring.
    """

    layer: int
    kind: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    where: torch.Tensor | None = None  # (T, B) bool
    readout: bool = False

    def change(self, state: torch.Tensor) -> torch.Tensor:
        return self.fn(state)


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


def _fused_kernel(kernel, x, state, weights):
    """One layer through the kernel nn.LSTM/GRU/RNN call (biases, 1 layer, no dropout, eval, time-major).

    On CUDA, cuDNN copies the layer's four weights into one buffer per call and warns that they
    are not one chunk; that copy is small next to a window of steps, so the warning is silenced.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="RNN module weights are not part of single contiguous chunk")
        return kernel(x, state, weights, True, 1, 0.0, False, False, False)


class Stepper:
    def __init__(self, model: CharRNN, reuse_outputs: bool = False):
        """reuse_outputs: the recorded states that run() returns are views of buffers that the next
        run() overwrites (for callers that consume each window before the next, like the recorder).
        Scratch buffers are reused either way: a fresh 100 MB tensor per window cost 20 ms of page
        faults here, a fifth of a 2x256 LSTM's stepping time."""
        self.model, self.cfg = model, model.config
        self.reuse_outputs = reuse_outputs
        self._arena: dict[tuple, torch.Tensor] = {}
        rnn = model.rnn
        self.weights = [  # per layer: W_ih (G*H, in), W_hh (G*H, H), b (G*H,) with b_hh kept apart for GRU's n
            (getattr(rnn, f"weight_ih_l{l}"), getattr(rnn, f"weight_hh_l{l}"),
             getattr(rnn, f"bias_ih_l{l}"), getattr(rnn, f"bias_hh_l{l}"))
            for l in range(self.cfg.layers)
        ]
        self._ifog = {}  # layer -> LSTM weights with the gates reordered (see _lstm_ifog)
        self._input_table = None  # (V, G*H): layer 0's input projection of every character (see _table)

    def check_intervention(self, iv: Hook) -> None:
        if not 0 <= iv.layer < self.cfg.layers:
            raise ValueError(f"layer {iv.layer} does not exist: the model has layers 0..{self.cfg.layers - 1}")
        if iv.kind not in STATE_KINDS[self.cfg.cell]:
            raise ValueError(f"kind {iv.kind!r} does not exist for {self.cfg.cell}: use one of {STATE_KINDS[self.cfg.cell]}")
        if isinstance(iv, Intervention) and not 0 <= iv.unit < self.cfg.hidden:
            raise ValueError(f"unit {iv.unit} does not exist: layers have units 0..{self.cfg.hidden - 1}")
        if iv.readout and iv.kind not in READOUT_KINDS[self.cfg.cell]:
            raise ValueError(f"a readout hook changes what a layer passes on, so it acts on "
                             f"{' or '.join(READOUT_KINDS[self.cfg.cell])}, not {iv.kind!r}")

    @torch.no_grad()
    def run(self, ids: torch.Tensor, state=None, kinds=(), interventions=(), stepped=(), fused: bool | None = None):
        """ids (B, T) -> logits (B, T, V), final state (as the fast path), {(layer, kind): (T, B, H)}.

        `interventions`: hooks (`Intervention`, `StateHook`). A layer is stepped if it has a hook
        in the recurrence, if it is in `stepped` (True: every layer) or if `fused` is False, else
        fused. `fused` defaults to whether `ids` is on a GPU (on the CPU the fused path is
        slower). The paths differ by float rounding (~1e-6), so a comparison
        with and without an intervention passes the intervened layers as `stepped`: both sides
        then take the same path and the difference is the intervention's alone. (A stepped LSTM
        layer without hooks that is not in `stepped` may run its elementwise ops as one C pass,
        `lstm_cell_kernel`, which also rounds differently from torch's ops; a layer with hooks runs
        the torch ops.)
        """
        stepped = set(range(self.cfg.layers)) if stepped is True else set(stepped or ())
        exact = set(stepped)  # stepped as asked: the equations as torch ops, as with a hook (see _lstm_layer)
        if fused is None:
            fused = ids.is_cuda
        if not fused:
            stepped = set(range(self.cfg.layers))
        for iv in interventions:
            self.check_intervention(iv)
        unknown = set(kinds) - set(STATE_KINDS[self.cfg.cell])
        if unknown:
            raise ValueError(f"{self.cfg.cell} has no state kinds {sorted(unknown)}: use {STATE_KINDS[self.cfg.cell]}")
        x = self.model.embedding(ids).transpose(0, 1)  # (T, B, E)
        if state is None:
            state = self.model.init_state(x.shape[1], device=ids.device)
        layer_step = {"lstm": self._lstm_layer, "gru": self._gru_layer, "rnn": self._rnn_layer}[self.cfg.cell]
        layer_fused = {"lstm": self._lstm_fused, "gru": self._gru_fused, "rnn": self._rnn_fused}[self.cfg.cell]
        wanted, recorded, finals = set(kinds), {}, []
        for layer in range(self.cfg.layers):
            ivs = [iv for iv in interventions if iv.layer == layer and not iv.readout]
            readouts = [iv for iv in interventions if iv.layer == layer and iv.readout]
            need = wanted | ({"c", "o"} if any(iv.kind == "c" for iv in readouts) else set())
            layer_state = tuple(s[layer] for s in state) if isinstance(state, tuple) else state[layer]
            if ivs or layer in stepped:
                out, final = layer_step(layer, x, layer_state, need, ivs, ids if layer == 0 else None,
                                        native=not ivs and not readouts and layer not in exact)
            else:
                out, final = layer_fused(layer, x, layer_state, need)
            finals.append(final)
            x = self._readout(out, readouts) if readouts else out["h"]  # (T, B, H): next layer's input
            recorded.update({(layer, k): out[k] for k in wanted})
        logits = self.model.head(x.transpose(0, 1))  # (B, T, V)
        if self.cfg.cell == "lstm":
            final_state = (torch.stack([f[0] for f in finals]), torch.stack([f[1] for f in finals]))
        else:
            final_state = torch.stack(finals)
        return logits, final_state, recorded

    def _lstm_fused(self, layer, x, state, wanted):
        """One LSTM layer through the fused kernel; the gates and c recomputed for all steps at once."""
        w_ih, w_hh, b_ih, b_hh = self.weights[layer]
        T, B, H = x.shape[0], x.shape[1], self.cfg.hidden
        h0, c0 = state  # (B, H) each
        hs, h_n, c_n = _fused_kernel(torch.lstm, x, (h0[None], c0[None]), (w_ih, w_hh, b_ih, b_hh))
        out = {"h": hs}  # (T, B, H)
        gate_kinds = wanted & set("ifgoc")
        if gate_kinds:
            h_prev = torch.cat([h0[None], hs[:-1]])  # (T, B, H): the h each step reads
            gates = torch.addmm(b_ih + b_hh, x.flatten(0, 1), w_ih.t())  # (T*B, 4H)
            gates = gates.addmm_(h_prev.flatten(0, 1), w_hh.t()).view(T, B, 4 * H)  # (T, B, 4H)
            need = gate_kinds | ({"i", "f", "g"} if "c" in wanted else set())
            for k, (lo, act) in {"i": (0, torch.sigmoid_), "f": (H, torch.sigmoid_), "g": (2 * H, torch.tanh_),
                                 "o": (3 * H, torch.sigmoid_)}.items():
                if k in need:
                    out[k] = act(gates[:, :, lo : lo + H])  # (T, B, H), a view into gates
            if "c" in wanted:
                c = torch.mul(out["i"], out["g"])  # (T, B, H): i * g, then c_t = f_t * c_{t-1} + i_t * g_t
                c[0].addcmul_(out["f"][0], c0)
                for t in range(1, T):
                    c[t].addcmul_(out["f"][t], c[t - 1])
                out["c"] = c
        return out, (h_n[0], c_n[0])

    def _gru_fused(self, layer, x, h0, wanted):
        """One GRU layer through the fused kernel; r, z, n recomputed for all steps at once (no loop)."""
        w_ih, w_hh, b_ih, b_hh = self.weights[layer]
        T, B, H = x.shape[0], x.shape[1], self.cfg.hidden
        hs, h_n = _fused_kernel(torch.gru, x, h0[None], (w_ih, w_hh, b_ih, b_hh))
        out = {"h": hs}  # (T, B, H)
        if wanted & {"r", "z", "n"}:
            h_prev = torch.cat([h0[None], hs[:-1]])  # (T, B, H)
            xproj = torch.addmm(b_ih, x.flatten(0, 1), w_ih.t()).view(T, B, 3 * H)  # (T, B, 3H)
            hproj = torch.addmm(b_hh, h_prev.flatten(0, 1), w_hh.t()).view(T, B, 3 * H)  # (T, B, 3H)
            rz = torch.sigmoid_(xproj[:, :, : 2 * H].add_(hproj[:, :, : 2 * H]))  # (T, B, 2H)
            out["r"], out["z"] = rz[:, :, :H], rz[:, :, H:]
            if "n" in wanted:
                out["n"] = torch.tanh_(xproj[:, :, 2 * H :].addcmul_(out["r"], hproj[:, :, 2 * H :]))
        return out, h_n[0]

    def _rnn_fused(self, layer, x, h0, wanted):
        w_ih, w_hh, b_ih, b_hh = self.weights[layer]
        hs, h_n = _fused_kernel(torch.rnn_tanh, x, h0[None], (w_ih, w_hh, b_ih, b_hh))
        return {"h": hs}, h_n[0]  # (T, B, H), (B, H)

    @staticmethod
    def _apply(value: torch.Tensor, t: int, ivs) -> None:
        for iv in ivs:
            iv.apply(value, t)

    @staticmethod
    def _readout(out: dict, hooks) -> torch.Tensor:
        """What a layer passes on when readout hooks change it: (T, B, H). Hooks on h apply to h;
        hooks on an LSTM's c change c, and the output is then o * tanh(c), as the cell makes it."""
        c_hooks = [iv for iv in hooks if iv.kind == "c"]
        if c_hooks:
            c = out["c"]  # (T, B, H)
            for iv in c_hooks:
                c = iv.apply_window(c)
            h = torch.tanh(c).mul_(out["o"])  # (T, B, H)
        else:
            h = out["h"]
        for iv in hooks:
            if iv.kind == "h":
                h = iv.apply_window(h)
        return h

    def _lstm_ifog(self, layer):
        """Layer weights with the gate rows reordered i f o g (PyTorch: i f g o), so that one sigmoid
        covers the three sigmoid gates: (W_ih (4H, in), W_hh^T (H, 4H), b (4H,)), made once."""
        if layer not in self._ifog:
            w_ih, w_hh, b_ih, b_hh = self.weights[layer]
            H = self.cfg.hidden
            order = torch.cat([torch.arange(0, 2 * H), torch.arange(3 * H, 4 * H), torch.arange(2 * H, 3 * H)])
            order = order.to(w_ih.device)
            self._ifog[layer] = (w_ih[order], w_hh[order].t().contiguous(), (b_ih + b_hh)[order])
        return self._ifog[layer]

    def _scratch(self, key, *shape, device) -> torch.Tensor:
        """A float32 buffer of `shape`, kept under `key` and reused by later calls."""
        n = math.prod(shape)
        buf = self._arena.get((key, device))
        if buf is None or buf.numel() < n:
            buf = self._arena[(key, device)] = torch.empty(n, device=device)
        return buf[:n].view(shape)

    def _output(self, layer: int, kind: str, *shape, device) -> torch.Tensor:
        """A buffer for a state that run() returns: reused only with reuse_outputs."""
        if self.reuse_outputs:
            return self._scratch(("out", layer, kind), *shape, device=device)
        return torch.empty(*shape, device=device)

    def _buffers(self, x, kinds, layer: int) -> dict:
        """(T, B, H) buffers for the states a stepped layer records, h always (the next layer's input)."""
        T, B = x.shape[:2]
        return {k: self._output(layer, k, T, B, self.cfg.hidden, device=x.device) for k in set(kinds) | {"h"}}

    def _table(self, w_ih: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """(V, G*H): layer 0's input projection W_ih e + b of every character's embedding e, made
        once: per character, a row of it replaces a matmul over the embeddings."""
        if self._input_table is None:
            self._input_table = torch.addmm(bias, self.model.embedding.weight, w_ih.t())
        return self._input_table

    def _lstm_layer(self, layer, x, state, wanted, ivs, ids=None, native=False):
        """ids (B, T), for layer 0: its input projection is a row of `_table` per character,
        gathered at each step straight into the gate buffer, instead of a (T, B, 4H) matmul over the
        embeddings written to memory and read back (a tenth of a 2x256 LSTM's stepping time).
        native: after the matmul, each step's gates, c and h in one C pass (`lstm_cell_kernel`,
        where built) instead of six torch ops (a sixth of the stepping time); only without hooks,
        which act between those ops."""
        w_ih, w_hh_t, bias = self._lstm_ifog(layer)
        T, B, H = x.shape[0], x.shape[1], self.cfg.hidden
        h, c = state  # (B, H) each
        if ids is not None:
            table, ids_t = self._table(w_ih, bias), ids.t()  # (V, 4H) gates i f o g, (T, B)
        else:
            xproj = self._scratch("xproj", T, B, 4 * H, device=x.device)  # (T, B, 4H), gates i f o g
            torch.addmm(bias, x.flatten(0, 1), w_ih.t(), out=xproj.view(T * B, 4 * H))
        by_kind = {k: [iv for iv in ivs if iv.kind == k] for k in "ifgoch"}
        # Each state is computed straight into its recording buffer, or a scratch one that
        # alternates between two slots (c and h need t - 1). i, f, o live side by side in one
        # (T, B, 3H) buffer so that one sigmoid computes them; the recorded i, f, o are its views.
        out = self._buffers(x, wanted & {"g", "c"}, layer)
        keep_ifo = bool(wanted & {"i", "f", "o"})
        ifo_buf = (self._output(layer, "ifo", T, B, 3 * H, device=x.device) if keep_ifo
                   else self._scratch("ifo", 2, B, 3 * H, device=x.device))
        bufs = {k: out.get(k, self._scratch(k, 2, B, H, device=x.device)) for k in "gch"}
        for k, lo in (("i", 0), ("f", H), ("o", 2 * H)):
            if k in wanted:
                out[k] = ifo_buf[:, :, lo : lo + H]  # (T, B, H) view
        gates = self._scratch("gates", B, 4 * H, device=x.device)
        kernel = lstm_cell_kernel() if native and x.device.type == "cpu" and x.dtype == torch.float32 else None
        if kernel is not None:
            c = c.contiguous()
        for t in range(T):
            ifo = ifo_buf[t if keep_ifo else t % 2]  # (B, 3H)
            g, c_new, h_new = (bufs[k][t if k in out else t % 2] for k in "gch")
            if ids is not None:
                torch.index_select(table, 0, ids_t[t], out=gates).addmm_(h, w_hh_t)  # (B, 4H)
            else:
                torch.addmm(xproj[t], h, w_hh_t, out=gates)  # (B, 4H)
            if kernel is not None:  # no hooks: the rest of the step in one pass
                kernel(gates.data_ptr(), c.data_ptr(), c_new.data_ptr(), h_new.data_ptr(),
                       ifo.data_ptr() if keep_ifo else None, g.data_ptr() if "g" in out else None, B, H)
                h, c = h_new, c_new
                continue
            torch.sigmoid(gates[:, : 3 * H], out=ifo)
            torch.tanh(gates[:, 3 * H :], out=g)
            i, f, o = ifo[:, :H], ifo[:, H : 2 * H], ifo[:, 2 * H :]
            for name, value in (("i", i), ("f", f), ("g", g), ("o", o)):
                if by_kind[name]:
                    self._apply(value, t, by_kind[name])
            torch.mul(f, c, out=c_new)
            c_new.addcmul_(i, g)  # c = f * c + i * g
            if by_kind["c"]:
                self._apply(c_new, t, by_kind["c"])
            torch.tanh(c_new, out=h_new)
            h_new.mul_(o)  # h = o * tanh(c)
            if by_kind["h"]:
                self._apply(h_new, t, by_kind["h"])
            h, c = h_new, c_new
        return out, (h.clone(), c.clone())

    def _gru_layer(self, layer, x, h, wanted, ivs, ids=None, native=False):
        w_ih, w_hh, b_ih, b_hh = self.weights[layer]
        H = self.cfg.hidden
        out = self._buffers(x, wanted, layer)
        h = h.clone()  # (B, H)
        if ids is not None:  # layer 0: (T, B, 3H) rows of the input table
            xproj = self._table(w_ih, b_ih)[ids.t()]
        else:
            xproj = torch.addmm(b_ih, x.flatten(0, 1), w_ih.t()).view(x.shape[0], x.shape[1], 3 * H)  # (T, B, 3H)
        w_hh_t = w_hh.t()
        by_kind = {k: [iv for iv in ivs if iv.kind == k] for k in "rznh"}
        for t in range(x.shape[0]):
            hproj = torch.addmm(b_hh, h, w_hh_t)  # (B, 3H)
            rz = torch.sigmoid(xproj[t, :, : 2 * H] + hproj[:, : 2 * H])
            r, z = rz[:, :H], rz[:, H:]
            for name, value in (("r", r), ("z", z)):
                if by_kind[name]:
                    self._apply(value, t, by_kind[name])
            n = torch.tanh(torch.addcmul(xproj[t, :, 2 * H :], r, hproj[:, 2 * H :]))
            if by_kind["n"]:
                self._apply(n, t, by_kind["n"])
            h = torch.lerp(n, h, z)  # (1 - z) * n + z * h
            if by_kind["h"]:
                self._apply(h, t, by_kind["h"])
            for name, value in (("r", r), ("z", z), ("n", n), ("h", h)):
                if name in out:
                    out[name][t] = value
        return out, h

    def _rnn_layer(self, layer, x, h, wanted, ivs, ids=None, native=False):
        w_ih, w_hh, b_ih, b_hh = self.weights[layer]
        out = self._buffers(x, (), layer)
        h = h.clone()  # (B, H)
        if ids is not None:  # layer 0: (T, B, H) rows of the input table
            xproj = self._table(w_ih, b_ih + b_hh)[ids.t()]
        else:
            xproj = torch.addmm(b_ih + b_hh, x.flatten(0, 1), w_ih.t()).view(x.shape[0], x.shape[1], -1)  # (T, B, H)
        w_hh_t = w_hh.t()
        for t in range(x.shape[0]):
            h = torch.tanh(torch.addmm(xproj[t], h, w_hh_t))  # (B, H)
            if ivs:
                self._apply(h, t, ivs)
            out["h"][t] = h
        return out, h
