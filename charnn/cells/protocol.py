"""The cell protocol: the one interface through which charnn runs a recurrent layer step by step.

Every tool (the recorder, derived kinds, interventions, attribution, the autoencoder splice) runs
a model through this protocol and nothing else knows which cell it runs. A cell is a class with:

    name      the config's `cell` ("lstm")                          kinds   every named kind of a step
    carried   the state kept from step to step, in order ("h","c")  derived the kinds that follow from
    passes_on the kinds a layer's output is made of (readout hooks)          (x_t, h_{t-1}) alone
    (a cell whose kinds are its derived kinds, then its carried state, need not list `kinds`)
    stack(input_size, hidden, layers, dropout) -> nn.Module   the training path (parameters live here)
    weights(stack, layer) -> tuple of tensors                 one layer's parameters, read from it
    Cell(weights, hidden)                                     the equations of one layer on them:
        project(x)                (n, in) -> (n, P)     the part of a step that reads only the input
        step(p, state, edit)      (B, P), carried tuple -> (new carried tuple, {kind: (B, H)})
        window(p, state, wanted)  the same over (T, B, P) at once, where the cell has a faster way
        derive(kind, x, h_prev)   a derived kind from the layer's input and h at t - 1
        output(kinds)             what the layer passes on, from its kinds (h = o * tanh(c) for an LSTM)

A user's cell subclasses `Cell`, writes `project` and `step` (and `kinds`, `carried`, `derived`),
and is registered with `charnn.cells.register`; `stack` then defaults to stepping it (slow for
training, exact for everything else). See docs/models.md.

`edit(kind, value)` is how hooks act: a step calls it right after computing each kind, and the
hook changes `value` (B, H) in place, so a changed state feeds everything computed after it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
import torch.nn as nn

from .window import Arena, Inputs

Edit = Callable[[str, torch.Tensor], None]  # (kind, (B, H) value) -> None; changes the value in place


def no_edit(kind: str, value: torch.Tensor) -> None:
    """The edit of a step without hooks."""


class Cell:
    """One recurrent layer's equations on its weights. See the module docstring for the protocol."""

    name: ClassVar[str]
    kinds: ClassVar[tuple[str, ...]]
    carried: ClassVar[tuple[str, ...]] = ("h",)  # the fast path's state order; h first
    derived: ClassVar[tuple[str, ...]] = ()  # follow from (x_t, h_{t-1}): recordings need not store them
    passes_on: ClassVar[tuple[str, ...]] = ("h",)
    output_reads: ClassVar[tuple[str, ...]] = ("h",)  # the kinds `output` reads
    # The carried kinds whose step is linear given the gates, {kind: (decay, write gate, write value)}:
    # kind_t = decay * kind_{t-1} + gate * value, each a kind or "1-k" (one minus kind k). Attribution
    # splits such a state exactly into what each earlier step wrote, and reads memory spans off the decay.
    linear: ClassVar[dict[str, tuple[str, str, str]]] = {}
    saturating: ClassVar[tuple[str, ...]] = ()  # the sigmoid gates (kinds in [0, 1]) whose saturation is drawn

    def __init_subclass__(cls, **kwargs):
        """`kinds` where a cell does not list them: its derived kinds, then its carried state (the
        step computes the gates from (x_t, h_{t-1}), then the state from the gates)."""
        super().__init_subclass__(**kwargs)
        own = cls.__dict__
        if "kinds" not in own and ("derived" in own or "carried" in own or not hasattr(cls, "kinds")):
            cls.kinds = tuple(cls.derived) + tuple(cls.carried)

    def __init__(self, weights: tuple[torch.Tensor, ...], hidden: int):
        self.weights, self.hidden = weights, hidden

    # ------------------------------------------------------------ the model's side
    @classmethod
    def stack(cls, input_size: int, hidden: int, layers: int, dropout: float) -> nn.Module:
        """The training and plain-inference path: forward(x (B, T, in), state) -> (B, T, H), state."""
        return SteppedStack(cls, input_size, hidden, layers, dropout)

    @classmethod
    def weights_of(cls, stack: nn.Module, layer: int) -> tuple[torch.Tensor, ...]:
        """Layer `layer`'s parameters in `stack`, in the order `__init__` takes them."""
        return tuple(stack.layers[layer].parameters())

    @classmethod
    def parameters_of(cls, input_size: int, hidden: int) -> list[nn.Parameter]:
        """Fresh parameters of one layer (SteppedStack's default stack); the user's cell says which."""
        raise NotImplementedError(f"cell {cls.name!r} does not say its parameters (parameters_of) nor its stack")

    # ------------------------------------------------------------ the equations
    def project(self, x: torch.Tensor) -> torch.Tensor:
        """(n, in) -> (n, P): the input's part of a step, computed for every step of a window at once."""
        raise NotImplementedError

    def project_window(self, x: torch.Tensor) -> torch.Tensor:
        """x (T, B, in) -> (T, B, P): `project` of every step."""
        p = self.project(x.flatten(0, 1))  # (T*B, P)
        return p.view(x.shape[0], x.shape[1], p.shape[-1])

    def step(self, p: torch.Tensor, state: tuple, edit: Edit = no_edit) -> tuple[tuple, dict]:
        """p (B, P), state (carried tensors (B, H)) -> (new state, {kind: (B, H)} for every kind)."""
        raise NotImplementedError

    def output(self, kinds: dict) -> torch.Tensor:
        """What the layer passes on, from its (possibly changed) kinds: h unless the cell says otherwise."""
        return kinds["h"]

    def steps(self, inputs: Inputs, state: tuple, wanted: set, edit, arena: Arena, layer: int,
              native: bool = False) -> tuple[dict, tuple]:
        """The stepped path through a window: ({kind: (T, B, H)} for `wanted` and h, final state).
        edit: the hooks (an `Edits`, whose `t` this loop sets) or None. native: no hooks and no
        exactness asked for, so a cell may use a faster kernel that rounds differently."""
        out = arena.outputs(layer, wanted, inputs.T, inputs.B, self.hidden, device=state[0].device)
        edit = edit or no_edit
        for t in range(inputs.T):
            if edit is not no_edit:
                edit.t = t
            state, kinds = self.step(inputs.at(t), state, edit)
            for k, buf in out.items():
                buf[t] = kinds[k]
        return out, tuple(s.clone() for s in state)

    def window(self, x: torch.Tensor, state: tuple, wanted: set) -> tuple[dict, tuple]:
        """x (T, B, in), the layer's input -> ({kind: (T, B, H)} for `wanted` and h, final state),
        without hooks: the cell's fastest way through a window (a fused kernel, a parallel scan);
        by default its steps."""
        return self.steps(Inputs.dense(self.project_window(x)), state, wanted,
                          None, Arena(), 0)

    def derive(self, kind: str, x: torch.Tensor, h_prev: torch.Tensor, units=None) -> torch.Tensor:
        """(n, len(units)) values of derived kind `kind` from the layer's input x (n, in) and its h at
        t - 1 (n, H): one step from a state whose other carried parts are zero (a derived kind may
        not read them). units: None (all) or a list of indices."""
        if kind not in self.derived:
            raise ValueError(f"kind {kind!r} of a {self.name} is not derived from the input and h")
        state = tuple(h_prev if k == "h" else torch.zeros_like(h_prev) for k in self.carried)
        _, kinds = self.step(self.project(x), state)
        value = kinds[kind]  # (n, H)
        return value if units is None else value[:, torch.as_tensor(units, dtype=torch.long)]

    def init_state(self, batch: int, device=None) -> tuple:
        return tuple(torch.zeros(batch, self.hidden, device=device) for _ in self.carried)


class SteppedStack(nn.Module):
    """A stack of layers of a cell that has no fused training path: each layer stepped through its
    `step`, dropout between layers. forward(x (B, T, in), state) -> (B, T, H), state."""

    def __init__(self, cell: type[Cell], input_size: int, hidden: int, layers: int, dropout: float):
        super().__init__()
        self.cell, self.hidden = cell, hidden
        self.layers = nn.ModuleList(
            nn.ParameterList(cell.parameters_of(input_size if l == 0 else hidden, hidden)) for l in range(layers))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, state=None):
        B, T = x.shape[:2]
        finals = []
        for l, params in enumerate(self.layers):
            layer = self.cell(tuple(params), self.hidden)
            s = layer.init_state(B, x.device) if state is None else stack_state(state, self.cell, l)
            p = layer.project_window(x.transpose(0, 1))  # (T, B, P)
            hs = []
            for t in range(T):
                s, kinds = layer.step(p[t], s)
                hs.append(layer.output(kinds))
            finals.append(s)
            x = torch.stack(hs, 1)  # (B, T, H)
            if l < len(self.layers) - 1:
                x = self.drop(x)
        return x, join_states(finals, self.cell)


def term(name: str, read: Callable):
    """The value of one factor of `Cell.linear`: read(kind), or 1 - read(k) for "1-k"."""
    return 1 - read(name[2:]) if name.startswith("1-") else read(name)


def stack_state(state, cell: type[Cell], layer: int) -> tuple:
    """Layer `layer`'s carried tensors (B, H) from a stack's state (a tensor (L, B, H) for one
    carried kind, else a tuple of them, in `cell.carried` order: nn.LSTM's (h, c))."""
    return tuple(s[layer] for s in state) if len(cell.carried) > 1 else (state[layer],)


def join_states(finals: list[tuple], cell: type[Cell]):
    """Per-layer carried tuples -> the stack's state (see stack_state)."""
    joined = tuple(torch.stack([f[i] for f in finals]) for i in range(len(cell.carried)))  # (L, B, H) each
    return joined if len(cell.carried) > 1 else joined[0]
