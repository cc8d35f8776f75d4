"""Cutting one long text into B parallel streams with a burn-in overlap.

Stream b records positions [b*L, (b+1)*L) but starts reading K characters earlier (from a zero
state), so its state has converged by the time it records; stream 0 starts at position 0 exactly
like a single sequential pass. All streams advance in lockstep for K + L steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..vocab import UNK_ID


@dataclass
class StreamPlan:
    n: int  # characters (stream positions) to record
    streams: int  # B
    segment: int  # L: positions recorded per stream
    burn_in: int  # K: characters read before recording starts (streams 1..B-1)

    @classmethod
    def make(cls, n: int, streams: int, burn_in: int) -> "StreamPlan":
        """Fewer streams for short texts, so that burn-in stays a small share of the work."""
        if streams < 1 or burn_in < 0:
            raise ValueError(f"streams must be >= 1 and burn-in >= 0 (got {streams}, {burn_in})")
        useful = max(1, n // max(4 * burn_in, 512))
        b = min(streams, useful)
        return cls(n=n, streams=b, segment=math.ceil(n / b), burn_in=burn_in if b > 1 else 0)

    @property
    def steps(self) -> int:
        return self.segment + self.burn_in

    def start(self, b: int) -> int:
        """Text position read by stream b at step 0."""
        return 0 if b == 0 else b * self.segment - self.burn_in

    def recorded_steps(self, b: int) -> tuple[int, int]:
        """Steps [lo, hi) of stream b whose positions it records."""
        lo = b * self.segment - self.start(b)
        hi = lo + max(0, min(self.segment, self.n - b * self.segment))
        return lo, hi

    def id_matrix(self, ids: np.ndarray) -> torch.Tensor:
        """(B, steps + 1) ids read by each stream; positions past the end are UNK_ID."""
        offsets = np.array([self.start(b) for b in range(self.streams)])[:, None] + np.arange(self.steps + 1)
        padded = np.concatenate([ids, np.full(1, UNK_ID, dtype=ids.dtype)])
        return torch.from_numpy(padded[np.minimum(offsets, len(ids))].astype(np.int64))
