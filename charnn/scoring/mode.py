"""What an intervention does to a unit or a latent: `zero`, `mean` (its mean over the text) or
`clamp=V`; `remove` is zero's other name (zeroing an autoencoder's latent takes its direction out
of the state).

    Mode.parse("clamp=1.5").held_value(unit_mean=0.2)    # 1.5
    Mode.of("mean").held_value(0.2)                      # 0.2
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..limits import check_magnitude


@dataclass(frozen=True)
class Mode:
    """What an intervention does to a unit (see the module docstring); `remove` parses as zero."""

    name: str  # zero | mean | clamp
    value: float | None = None  # the clamp value

    @classmethod
    def parse(cls, spec) -> "Mode":
        """'zero' | 'mean' | 'remove' | 'clamp=V' (or a Mode) -> Mode; anything else, or a non-finite V, is a ValueError."""
        if isinstance(spec, Mode):
            return spec
        spec = str(spec).strip()
        if spec in ("zero", "mean", "remove"):
            return cls.of(spec)
        if spec.startswith("clamp="):
            return cls.of("clamp", spec.split("=", 1)[1])
        raise ValueError(f"mode {spec!r} must be zero, mean, remove or clamp=V")

    @classmethod
    def of(cls, name: str, value=None) -> "Mode":
        """From a form's two fields: a mode name and, for clamp, the value as typed."""
        if name in ("zero", "mean", "remove"):
            return cls("zero" if name == "remove" else name)
        if name != "clamp":
            raise ValueError(f"mode {name!r} must be zero, mean, remove or clamp")
        return cls("clamp", finite_value(value, "clamp value"))

    def __str__(self) -> str:
        return self.name if self.name != "clamp" else f"clamp={self.value:g}"

    def held_value(self, unit_mean: float) -> float:
        """The value the unit is held at: 0, its mean, or the clamp value."""
        return {"zero": 0.0, "mean": float(unit_mean)}.get(self.name, self.value)


def finite_value(text, what: str) -> float:
    """A finite float within +-MAX_MAGNITUDE from user input, or a ValueError saying what is wrong."""
    shown = "" if text is None else str(text).strip()
    if not shown:
        raise ValueError(f"{what} is missing: type a number, e.g. 1.5")
    try:
        number = float(shown)
    except ValueError:
        raise ValueError(f"{what} {shown!r} is not a number: type one, e.g. 1.5 or -2") from None
    if not math.isfinite(number):
        raise ValueError(f"{what} {shown!r} must be a finite number")
    return check_magnitude(number, what, shown)
