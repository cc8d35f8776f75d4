"""The bounds a number a user gives is held to, in one place (docs/safety.md lists them).

    from charnn.limits import MAX_BINS, check_magnitude
    check_magnitude(value, "clamp value")     # ValueError beyond +-MAX_MAGNITUDE

Each bound is far above any sensible use and far below what would exhaust memory or time.
"""

from __future__ import annotations

import math

MAX_MAGNITUDE = 1e6  # a clamp value or an explanation weight: states live in about [-50, 50], and a
#                      product of a larger value with the weights overflows float32 (3.4e38) to inf
MAX_BINS = 4096  # histogram bins per unit (search): more resolves AUROC no better, and costs memory per unit
MAX_TIMEOUT = 600.0  # seconds for one regex: a longer wait is a catastrophic pattern, not a slow text
MAX_SAMPLE = 10_000_000  # characters `charnn sample` generates in one call (streamed as they come)


def check_magnitude(value: float, what: str, shown: str | None = None) -> float:
    """`value` if it is finite and within +-MAX_MAGNITUDE, else ValueError naming `what` and the
    value as the user wrote it (`shown`)."""
    if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
        raise ValueError(f"{what} {shown or format(value, 'g')} must be a finite number within +-{MAX_MAGNITUDE:g}")
    return value
