"""Per-character loss of one text under a set of stepper hooks: the pass every ablation and every
autoencoder splice is scored with.

    scorer = StreamScorer(run, ids, streams=256, burn_in=256, step_layers={0})
    base, means = scorer.loss(mean_of=(0, "c"))              # (n,) bits, (H,) the state's mean
    changed, _ = scorer.loss([Intervention(0, "c", 37, 0.0)])

The text is read as parallel streams with a burn-in, like recording (charnn.recording.streams),
through the named-gate recording path (charnn.stepper) with the hooks applied at every step.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..recording.streams import StreamPlan
from ..run import Run, model_on
from ..stepper import Stepper

LN2 = math.log(2)


class StreamScorer:
    """Per-character loss of one text under any set of stepper hooks (one pass per call)."""

    def __init__(self, run: Run, ids: np.ndarray, streams: int = 256, burn_in: int = 256, step_layers=(),
                 device: str = "cpu"):
        """step_layers: the layers that interventions will touch, stepped in every pass (see Stepper.run)."""
        self.run, self.device, self.step_layers = run, torch.device(device), set(step_layers)
        self.stepper = Stepper(model_on(run, self.device), reuse_outputs=True)  # states are used within a window
        self.plan = StreamPlan.make(len(ids), streams, burn_in)
        self.matrix = self.plan.id_matrix(ids).to(self.device)  # (B, steps + 1)
        starts = np.array([self.plan.start(b) for b in range(self.plan.streams)])
        self.positions = starts[:, None] + np.arange(self.plan.steps + 1)  # (B, steps + 1) text positions

    def where_matrix(self, mask: np.ndarray, after_burn_in: bool = False) -> torch.Tensor:
        """(steps, B) bool, time-major: True where the stream reads a masked position (and, with
        after_burn_in, only from the step where the stream starts scoring: a hook then starts
        from the state that the unchanged model reached over the burn-in)."""
        padded = np.concatenate([mask, [False]])
        where = padded[np.minimum(self.positions[:, :-1], len(mask))].T.copy()  # (steps, B)
        if after_burn_in:
            first = np.array([self.plan.recorded_steps(b)[0] for b in range(self.plan.streams)])
            where &= np.arange(self.plan.steps)[:, None] >= first[None, :]
        return torch.from_numpy(where).to(self.device)

    @torch.no_grad()
    def loss(self, interventions=(), mean_of: tuple[int, str] | None = None, window: int = 128, transform=None):
        """(n,) loss in bits (NaN at position 0) and, if `mean_of=(layer, kind)`, that state's per-unit
        mean (of `transform(state)`, (..., H) -> (..., F), if given: an autoencoder's latents)."""
        plan, n = self.plan, self.plan.n
        out = np.full(n, np.nan, dtype=np.float32)
        total, count = 0.0, 0
        ranges = [plan.recorded_steps(b) for b in range(plan.streams)]
        state = None
        for s0 in range(0, plan.steps, window):
            s1 = min(plan.steps, s0 + window)
            ivs = [iv.window(s0, s1) for iv in interventions]
            kinds = {mean_of[1]} if mean_of else set()
            logits, state, states = self.stepper.run(self.matrix[:, s0:s1], state, kinds, ivs, stepped=self.step_layers)
            nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), self.matrix[:, s0 + 1 : s1 + 1], reduction="none")
            nll = (nll / LN2).cpu().numpy()  # (B, W): bits for the position after each step
            for b, (lo, hi) in enumerate(ranges):
                a, z = max(lo - 1, s0), min(hi - 1, s1)  # step s predicts the position read at s + 1
                if a < z:
                    first = self.positions[b, a + 1]
                    out[first : first + z - a] = nll[b, a - s0 : z - s0]
                if mean_of:
                    a, z = max(lo, s0), min(hi, s1)
                    if a < z:
                        block = states[(mean_of[0], mean_of[1])][a - s0 : z - s0, b]  # (t, H)
                        block = block if transform is None else transform(block)  # (t, F)
                        total, count = total + block.double().sum(0), count + (z - a)
        return out, (total / count).float().cpu() if mean_of else None
