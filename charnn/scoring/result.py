"""An ablation's result: the loss change on the selected characters and on the others, against the
same change for random units, and the characters it moved most.

    summarize("0:c:37", "zero", text, selected, base, delta, randoms, random_deltas).effect_ratio
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class AblationResult:
    unit: str
    mode: str
    n_chars: int
    n_selected: int
    base_bpc_selected: float
    base_bpc_other: float
    delta_selected: float  # mean loss change in bits on the selected characters
    delta_other: float
    random_delta_selected: list = field(default_factory=list)
    random_units: list = field(default_factory=list)
    random_median_selected: float = 0.0
    effect_ratio: float = 0.0  # delta_selected / median |delta_selected| of the random units
    top_positions: list = field(default_factory=list)  # (pos, delta, context) of the largest increases
    per_char_delta: np.ndarray | None = None  # (n,) bits, NaN at position 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("per_char_delta")
        return d


def summarize(unit, mode, string, selected, base, delta, randoms, random_deltas) -> AblationResult:
    valid = ~np.isnan(delta)
    sel, other = selected & valid, ~selected & valid
    random_median = float(np.median(np.abs(random_deltas))) if random_deltas else float("nan")
    d_sel = float(delta[sel].mean()) if sel.any() else float("nan")
    order = np.argsort(np.where(valid, -delta, np.inf))[:5]
    return AblationResult(
        unit=unit, mode=mode, n_chars=len(string), n_selected=int(sel.sum()),
        base_bpc_selected=float(base[sel].mean()) if sel.any() else float("nan"),
        base_bpc_other=float(base[other].mean()) if other.any() else float("nan"),
        delta_selected=d_sel, delta_other=float(delta[other].mean()) if other.any() else float("nan"),
        random_delta_selected=random_deltas, random_units=randoms, random_median_selected=random_median,
        effect_ratio=d_sel / max(random_median, 1e-9),
        top_positions=[(int(p), float(delta[p]), string[max(0, p - 30) : p + 10]) for p in order],
        per_char_delta=delta,
    )
