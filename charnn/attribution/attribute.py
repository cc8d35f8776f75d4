"""`attribute`: each earlier position's contribution to a unit's value at one position, by the method
asked for (see `writes` and `gradients`), plus what came from before the window.

    import charnn
    a = charnn.attribute("runs/austen/recordings/val", "0:c:37", at=5000, window=200)
    a.contributions.nlargest(5, "contribution")        # pos, char, contribution
    a.value, a.remainder, a.contributions["contribution"].sum()
"""

from __future__ import annotations

from .. import threads
from ..recording import Recording, open_recording
from .gradients import BASELINES, gradient_attribution
from .window import Attribution, check_window
from .writes import decomposable, write_attribution

METHODS = ("write", "gradxinput", "ig")


def default_method(cell: str, kind: str) -> str:
    """write where the exact decomposition applies (an LSTM's c, a GRU's h), else integrated gradients."""
    return "write" if decomposable(cell, kind) else "ig"


def attribute(rec, unit, at: int, window: int | None = None, method: str | None = None,
              baseline: str = BASELINES[0]) -> Attribution:
    """rec: a Recording or its folder; unit: LAYER:KIND:UNIT; at: a text position; window: characters
    back from `at` (default: see `window.DEFAULT_WINDOW`); method: write | gradxinput | ig; baseline
    (ig): space | zero, what every character of the window is replaced by at the path's start."""
    rec = rec if isinstance(rec, Recording) else open_recording(rec)
    with threads.per_tile(1):  # small products: torch's own threads would wait at a barrier each
        return _attribute(rec, unit, at, window, method, baseline)


def _attribute(rec, unit, at: int, window: int | None, method: str | None, baseline: str) -> Attribution:
    unit, start = check_window(rec, unit, at, window)
    method = method or default_method(rec.meta["cell"], unit.kind)
    if method not in METHODS:
        raise ValueError(f"method {method!r} is not one of {', '.join(METHODS)}")
    if method == "write":
        if not decomposable(rec.meta["cell"], unit.kind):
            raise ValueError(f"method write decomposes an LSTM's c or a GRU's h, not kind {unit.kind!r} of a "
                             f"{rec.meta['cell']}: use --method gradxinput or ig")
        return write_attribution(rec, unit, at, start)
    return gradient_attribution(rec, unit, at, start, method, baseline)
