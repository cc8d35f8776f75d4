"""Hooks: changes to a layer's states that the stepper (charnn.stepper) applies while it runs.

    Intervention(layer=0, kind="c", unit=37, value=0.0)       # ablate one unit at every step
    StateHook(layer=0, kind="c", fn=sae.reconstruct)           # replace the whole state vector

A hook either acts in the recurrence (the changed state feeds the following steps; the layer is
stepped) or, with `readout=True`, only on what the layer passes on (the next layer's input, or
the output layer's), the recurrence keeping the true state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch


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


class Edits:
    """A layer's recurrence hooks by kind, as the cell protocol's `edit(kind, value)`: a cell's step
    calls it after computing each kind, and the hooks on that kind change the value in place at
    step `t` (the stepping loop sets t)."""

    def __init__(self, hooks):
        self.by_kind: dict[str, list[Hook]] = {}
        for hook in hooks:
            self.by_kind.setdefault(hook.kind, []).append(hook)
        self.t = 0

    def __bool__(self) -> bool:
        return bool(self.by_kind)

    def __call__(self, kind: str, value: torch.Tensor) -> None:
        for hook in self.by_kind.get(kind, ()):
            hook.apply(value, self.t)
