"""What an attribution is: the window of earlier positions it credits, checked against the recording,
and the result every method returns.

    unit, start = check_window(rec, "0:c:37", at=5000, window=200)   # errors name the limit
    result.to_dict()    # {unit, at, value, method, remainder, contributions: [{pos, char, contribution}]}

A window ends at `at` and never reaches before the start of the stream that recorded `at`: the state
at a stream's first row follows from its burn-in (characters read from a zero state, see
`Recording.streams`), not from the row stored before it. The default window is DEFAULT_WINDOW
characters, or the stream's characters up to `at` where there are fewer; a window asked for that
reaches further is an error naming the stream's start.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import pandas as pd

from ..units import Unit

DEFAULT_WINDOW = 200


@dataclass
class Attribution:
    unit: str  # LAYER:KIND:UNIT
    at: int  # the position whose value is attributed
    value: float  # the stored (or derived) value there
    method: str  # write | gradxinput | ig
    remainder: float  # what came from before the window (ig: the value with the window's characters at the baseline)
    contributions: pd.DataFrame  # pos, char, contribution: one row per position of the window, in text order
    half_life: tuple[int, bool] | None = None  # write: (steps, whether only a lower bound: the window ends first)

    @property
    def start(self) -> int:
        return int(self.contributions["pos"].iloc[0])

    def to_dict(self) -> dict:
        return {"unit": self.unit, "at": self.at, "value": self.value, "method": self.method,
                "remainder": self.remainder,
                "contributions": [{"pos": int(p), "char": c, "contribution": float(v)} for p, c, v in
                                  self.contributions[["pos", "char", "contribution"]].itertuples(index=False)]}


def check_window(rec, unit, at: int, window: int | None) -> tuple[Unit, int]:
    """(the unit, the window's first position), or a ValueError naming the limit that is crossed."""
    unit = Unit.parse(unit)
    rec.check(unit.layer, unit.kind, [unit.index])
    at, window = _integer(at, "position"), None if window is None else _integer(window, "window")
    if not 0 <= at < rec.n_chars:
        raise ValueError(f"position {at} is outside the recording (positions 0..{rec.n_chars - 1})")
    stream = rec.stream_start(at)
    if window is None:
        window = min(DEFAULT_WINDOW, at - stream + 1)
    if window < 1:
        raise ValueError(f"window must be at least 1 character, not {window}")
    if at - window + 1 < stream:
        raise ValueError(f"a window of {window} characters at position {at} reaches before the start of its "
                         f"stream at position {stream} (the state there follows from the stream's burn-in, not "
                         f"the text before it): use a window of at most {at - stream + 1}")
    return unit, at - window + 1


def _integer(value, name: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, not {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, not {value!r}") from None


def window_chars(rec, start: int, stop: int) -> list[str]:
    """The characters of positions [start, stop) (the recording's text, read once per Recording)."""
    return list(rec.string[start:stop])
