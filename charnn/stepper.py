"""The recording path: a model run layer by layer through the cell protocol (`charnn.cells`),
exposing every layer's per-step states, with hooks applied as the states are computed.

    stepper = Stepper(model)
    logits, state, states = stepper.run(ids, kinds={"c", "h"})   # states[(layer, kind)]: (T, B, H)

Each layer is run over the whole window before the next. Two ways through a layer:

- **stepped** (on the CPU, and wherever there are interventions): the cell's `steps`, its
  equations step by step, the input projection as one matmul for all T steps (layer 0: a row of
  a per-character table) and only the recurrent part in the time loop, each hook applied right
  after the state it names is computed, so a changed state feeds the following steps. The same
  code records, scores with a unit ablated and generates with a unit clamped. An LSTM layer
  without hooks runs each step's elementwise ops as one C pass where `charnn/_lstm_cell.c` was built.
- **fused** (on a GPU, recording without interventions): the cell's `window`, its fastest way
  through a window without hooks (an LSTM/GRU/RNN's fused kernel for h, then the gates for all
  steps at once from (x_t, h_{t-1}); minGRU/minLSTM's parallel scan). On the CPU the stepped path
  is faster for an LSTM: recomputing the gates repeats the recurrent matmul, which dominates there.

Hooks (`charnn.hooks`: `Intervention`, `StateHook`) change a state at every step, either in the
recurrence (the layer is stepped) or, with `readout=True`, only in what the layer passes on; readout
hooks are applied to the whole window after the layer, so it may run fused.
"""

from __future__ import annotations

import torch

from .cells.protocol import join_states, stack_state
from .cells.window import Arena, Inputs
from .hooks import Edits, Hook, Intervention, StateHook
from .model import CharRNN

__all__ = ["Hook", "Intervention", "StateHook", "Stepper"]


class Stepper:
    def __init__(self, model: CharRNN, reuse_outputs: bool = False):
        """reuse_outputs: the recorded states that run() returns are views of buffers that the next
        run() overwrites (for callers that consume each window before the next, like the recorder).
        Scratch buffers are reused either way (see `charnn.cells.window.Arena`)."""
        self.model, self.cfg, self.cell = model, model.config, model.cell
        self.arena = Arena(reuse_outputs)
        self.layers = [model.layer(l) for l in range(self.cfg.layers)]
        self._input_table = None  # (V, P): layer 0's input projection of every character

    def check_intervention(self, iv: Hook) -> None:
        kinds = self.cell.kinds
        if not 0 <= iv.layer < self.cfg.layers:
            raise ValueError(f"layer {iv.layer} does not exist: the model has layers 0..{self.cfg.layers - 1}")
        if iv.kind not in kinds:
            raise ValueError(f"kind {iv.kind!r} does not exist for {self.cfg.cell}: use one of {kinds}")
        if isinstance(iv, Intervention) and not 0 <= iv.unit < self.cfg.hidden:
            raise ValueError(f"unit {iv.unit} does not exist: layers have units 0..{self.cfg.hidden - 1}")
        if iv.readout and iv.kind not in self.cell.passes_on:
            raise ValueError(f"a readout hook changes what a layer passes on, so it acts on "
                             f"{' or '.join(self.cell.passes_on)}, not {iv.kind!r}")

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
        which also rounds differently from torch's ops; a layer with hooks runs the torch ops.)
        """
        stepped = set(range(self.cfg.layers)) if stepped is True else set(stepped or ())
        exact = set(stepped)  # stepped as asked: the equations as torch ops, as with a hook
        if fused is None:
            fused = ids.is_cuda
        if not fused:
            stepped = set(range(self.cfg.layers))
        for iv in interventions:
            self.check_intervention(iv)
        unknown = set(kinds) - set(self.cell.kinds)
        if unknown:
            raise ValueError(f"{self.cfg.cell} has no state kinds {sorted(unknown)}: use {self.cell.kinds}")
        if state is None:
            state = self.model.init_state(ids.shape[0], device=ids.device)
        wanted, recorded, finals, x = set(kinds), {}, [], None
        for l, layer in enumerate(self.layers):
            ivs = [iv for iv in interventions if iv.layer == l and not iv.readout]
            readouts = [iv for iv in interventions if iv.layer == l and iv.readout]
            need = wanted | (set(self.cell.output_reads) if any(iv.kind != "h" for iv in readouts) else set())
            layer_state = stack_state(state, self.cell, l)
            if ivs or l in stepped:
                inputs = (Inputs.rows(self._table(), ids) if l == 0 else
                          Inputs.dense(layer.project_window(x)))
                out, final = layer.steps(inputs, layer_state, need, Edits(ivs) if ivs else None, self.arena, l,
                                         native=not ivs and not readouts and l not in exact)
            else:
                x0 = self.model.embedding(ids).transpose(0, 1) if l == 0 else x  # (T, B, in)
                out, final = layer.window(x0, layer_state, need)
            finals.append(final)
            x = self._readout(layer, out, readouts) if readouts else out["h"]  # (T, B, H): next layer's input
            recorded.update({(l, k): out[k] for k in wanted})
        logits = self.model.head(x.transpose(0, 1))  # (B, T, V)
        return logits, join_states(finals, self.cell), recorded

    def _table(self) -> torch.Tensor:
        """(V, P): layer 0's input projection of every character, made once: per character, a row
        of it replaces a matmul over the embeddings."""
        if self._input_table is None:
            self._input_table = self.layers[0].project(self.model.input_table())
        return self._input_table

    @staticmethod
    def _readout(layer, out: dict, hooks) -> torch.Tensor:
        """What a layer passes on when readout hooks change it: (T, B, H). Hooks on a kind other than
        h change it, and the output is then the cell's `output` of the changed kinds (an LSTM's
        o * tanh(c)); hooks on h then apply to that."""
        changed = dict(out)
        for iv in hooks:
            if iv.kind != "h":
                changed[iv.kind] = iv.apply_window(changed[iv.kind])
        h = layer.output(changed) if any(iv.kind != "h" for iv in hooks) else out["h"]
        for iv in hooks:
            if iv.kind == "h":
                h = iv.apply_window(h)
        return h
