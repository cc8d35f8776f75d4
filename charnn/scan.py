"""What every scan over a recording shares (search, atlas, explain, the dashboard's jobs): how it
reports progress, how it is cancelled, the chance baseline's shift, and how a binary score reads.

    from charnn.scan import Cancelled, separation
    separation(0.011)             # (0.989, "low inside"): a unit low inside separates as well as a high one
    baseline_offset(1_000_000)    # the seeded circular shift of the chance baseline
"""

from __future__ import annotations

from typing import Callable, Union

import numpy as np

Progress = Union[bool, Callable[[int, int], None]]  # a tqdm bar on stderr, or report(done, total)
Cancel = Callable[[], bool]  # polled between chunks; True stops the scan


class Cancelled(Exception):
    """The caller's cancel() returned True; nothing is returned or written."""


def separation(auroc):
    """max(AUROC, 1 - AUROC): how well a unit separates a binary target whichever its sign (a float,
    a numpy array or a pandas column; NaN stays NaN)."""
    return np.maximum(auroc, 1 - auroc)


def direction(auroc: float) -> str:
    """"high inside" or "low inside": the side of a binary target a unit is high on."""
    return "high inside" if auroc >= 0.5 else "low inside"


def baseline_offset(n: int, seed: int = 0) -> int:
    """The circular shift for the chance baseline: seeded, between n/4 and 3n/4."""
    if n < 4:
        return max(n // 2, 1)
    return int(np.random.default_rng(seed).integers(n // 4, 3 * n // 4 + 1))
