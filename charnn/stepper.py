"""The recording path: the LSTM, GRU and RNN equations written out gate by gate, on the weights
of the fast path (`nn.LSTM`/`nn.GRU`/`nn.RNN`), exposing every layer's per-step states.

    stepper = Stepper(model)
    logits, state, states = stepper.run(ids, kinds={"c", "h"})   # states[(layer, kind)]: (T, B, H)

Each layer is run over the whole window before the next (its input projection is one matmul for
all T steps; only h @ W_hh is left in the time loop). `Intervention`s (ablate or clamp a unit) are
applied right after the state they name is computed, so the same code records, scores with a
unit ablated, and generates with a unit clamped. Gate order follows PyTorch: LSTM i f g o,
GRU r z n.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .model import STATE_KINDS, CharRNN


@dataclass
class Intervention:
    """Set `unit` of state `kind` in `layer` to `value` wherever `where` (T, B) is True (None: always)."""

    layer: int
    kind: str
    unit: int
    value: float | torch.Tensor = 0.0
    where: torch.Tensor | None = None  # (T, B) bool, time-major like the states


class Stepper:
    def __init__(self, model: CharRNN):
        self.model, self.cfg = model, model.config
        rnn = model.rnn
        self.weights = [  # per layer: W_ih (G*H, in), W_hh (G*H, H), b (G*H,) with b_hh kept apart for GRU's n
            (getattr(rnn, f"weight_ih_l{l}"), getattr(rnn, f"weight_hh_l{l}"),
             getattr(rnn, f"bias_ih_l{l}"), getattr(rnn, f"bias_hh_l{l}"))
            for l in range(self.cfg.layers)
        ]

    def check_intervention(self, iv: Intervention) -> None:
        if not 0 <= iv.layer < self.cfg.layers:
            raise ValueError(f"layer {iv.layer} does not exist: the model has layers 0..{self.cfg.layers - 1}")
        if iv.kind not in STATE_KINDS[self.cfg.cell]:
            raise ValueError(f"kind {iv.kind!r} does not exist for {self.cfg.cell}: use one of {STATE_KINDS[self.cfg.cell]}")
        if not 0 <= iv.unit < self.cfg.hidden:
            raise ValueError(f"unit {iv.unit} does not exist: layers have units 0..{self.cfg.hidden - 1}")

    @torch.no_grad()
    def run(self, ids: torch.Tensor, state=None, kinds=(), interventions=()):
        """ids (B, T) -> logits (B, T, V), final state (as the fast path), {(layer, kind): (T, B, H)}."""
        for iv in interventions:
            self.check_intervention(iv)
        unknown = set(kinds) - set(STATE_KINDS[self.cfg.cell])
        if unknown:
            raise ValueError(f"{self.cfg.cell} has no state kinds {sorted(unknown)}: use {STATE_KINDS[self.cfg.cell]}")
        x = self.model.embedding(ids).transpose(0, 1)  # (T, B, E)
        T, B = x.shape[:2]
        if state is None:
            state = self.model.init_state(B, device=ids.device)
        layer_step = {"lstm": self._lstm_layer, "gru": self._gru_layer, "rnn": self._rnn_layer}[self.cfg.cell]
        recorded, finals = {}, []
        for layer in range(self.cfg.layers):
            wanted = set(kinds)
            ivs = [iv for iv in interventions if iv.layer == layer]
            layer_state = tuple(s[layer] for s in state) if isinstance(state, tuple) else state[layer]
            out = {k: torch.empty(T, B, self.cfg.hidden) for k in wanted | {"h"}}  # (T, B, H) each
            final = layer_step(layer, x, layer_state, out, ivs)
            finals.append(final)
            x = out["h"]  # (T, B, H): next layer's input
            recorded.update({(layer, k): out[k] for k in wanted})
        logits = self.model.head(x.transpose(0, 1))  # (B, T, V)
        if self.cfg.cell == "lstm":
            final_state = (torch.stack([f[0] for f in finals]), torch.stack([f[1] for f in finals]))
        else:
            final_state = torch.stack(finals)
        return logits, final_state, recorded

    @staticmethod
    def _apply(value: torch.Tensor, t: int, ivs) -> None:
        for iv in ivs:
            if iv.where is None:
                value[:, iv.unit] = iv.value
            else:
                mask = iv.where[t]  # (B,)
                value[:, iv.unit] = torch.where(mask, torch.as_tensor(iv.value, dtype=value.dtype), value[:, iv.unit])

    def _lstm_layer(self, layer, x, state, out, ivs):
        w_ih, w_hh, b_ih, b_hh = self.weights[layer]
        T, B, H = x.shape[0], x.shape[1], self.cfg.hidden
        h, c = state  # (B, H) each
        xproj = torch.addmm(b_ih + b_hh, x.flatten(0, 1), w_ih.t()).view(T, B, 4 * H)  # (T, B, 4H)
        w_hh_t = w_hh.t()
        by_kind = {k: [iv for iv in ivs if iv.kind == k] for k in "ifgoch"}
        # Each state is computed straight into its recording buffer (T, B, H), or a scratch one.
        bufs = {k: out.get(k, torch.empty(2, B, H)) for k in "ifgoch"}
        for t in range(T):
            slot = {k: (t if k in out else t % 2) for k in "ifgoch"}  # scratch alternates: c, h need t-1
            i, f, g, o, c_new, h_new = (bufs[k][slot[k]] for k in "ifgoch")
            gates = torch.addmm(xproj[t], h, w_hh_t)  # (B, 4H)
            torch.sigmoid(gates[:, :H], out=i)
            torch.sigmoid(gates[:, H : 2 * H], out=f)
            torch.tanh(gates[:, 2 * H : 3 * H], out=g)
            torch.sigmoid(gates[:, 3 * H :], out=o)
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
        return h.clone(), c.clone()

    def _gru_layer(self, layer, x, h, out, ivs):
        w_ih, w_hh, b_ih, b_hh = self.weights[layer]
        H = self.cfg.hidden
        h = h.clone()  # (B, H)
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
        return h

    def _rnn_layer(self, layer, x, h, out, ivs):
        w_ih, w_hh, b_ih, b_hh = self.weights[layer]
        h = h.clone()  # (B, H)
        xproj = torch.addmm(b_ih + b_hh, x.flatten(0, 1), w_ih.t()).view(x.shape[0], x.shape[1], -1)  # (T, B, H)
        w_hh_t = w_hh.t()
        for t in range(x.shape[0]):
            h = torch.tanh(torch.addmm(xproj[t], h, w_hh_t))  # (B, H)
            if ivs:
                self._apply(h, t, ivs)
            out["h"][t] = h
        return h
