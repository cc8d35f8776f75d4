"""A one-line picture of a unit's activation around the first place a target is true.

    print(snippet(rec, layer=1, kind="c", unit=37, y=target))

On a terminal each character gets a background colour, blue for negative and red for positive
(xterm 256-colour codes, five steps each, scaled to the largest |value| in the window), and the
target's characters are underlined. Elsewhere (a pipe, a file) it prints plain text: the
characters, a bar of the activation level below them (` .:-=+*#%@`, lowest to highest in the
window), and `^` under the target's characters.
"""

from __future__ import annotations

import sys

import numpy as np

NEGATIVE = (189, 153, 111, 69, 27)  # xterm-256 backgrounds, weak to strong blue
POSITIVE = (224, 217, 210, 203, 196)  # weak to strong red
RAMP = " .:-=+*#%@"
VISIBLE = {"\n": "\u21b5", "\t": "\u2192", "\r": "\u2190"}


def visible(text: str) -> str:
    """One printable cell per character: newline, tab, CR shown as arrows, other controls as a dot."""
    return "".join(VISIBLE.get(ch, "\u00b7" if ord(ch) < 32 or ord(ch) == 127 else ch) for ch in text)


def window(y: np.ndarray, width: int) -> tuple[int, int]:
    """[start, stop) of `width` characters beginning a third of the width before the first non-zero target."""
    hits = np.flatnonzero(y)
    first = int(hits[0]) if hits.size else 0
    start = max(0, min(first - width // 3, len(y) - width))
    return start, min(len(y), start + width)


def colour(text: str, values: np.ndarray, marks: np.ndarray) -> str:
    scale = float(np.abs(values).max()) or 1.0
    out = []
    for ch, v, m in zip(text, values, marks):
        step = min(int(abs(v) / scale * len(POSITIVE)), len(POSITIVE) - 1)
        bg = (POSITIVE if v >= 0 else NEGATIVE)[step]
        fg = 231 if step == len(POSITIVE) - 1 else 16  # white on the darkest steps, else black
        out.append(f"\x1b[{'4;' if m else ''}48;5;{bg};38;5;{fg}m{ch}")
    return "".join(out) + "\x1b[0m"


def plain(text: str, values: np.ndarray, marks: np.ndarray) -> str:
    lo, hi = float(values.min()), float(values.max())
    level = np.zeros(len(values), int) if hi == lo else ((values - lo) / (hi - lo) * (len(RAMP) - 1)).round().astype(int)
    bar = "".join(RAMP[i] for i in level)
    under = "".join("^" if m else " " for m in marks).rstrip()
    return "\n".join([text, bar, under] if under else [text, bar])


def snippet(rec, layer: int, kind: str, unit: int, y: np.ndarray, width: int = 72,
            color: bool | None = None) -> str:
    """The unit's activation over `width` characters around the first character where y != 0."""
    start, stop = window(np.asarray(y), width)
    values = np.asarray(rec.activations(layer, kind, units=[unit], start=start, stop=stop))[:, 0]
    text = visible(rec.string[start:stop])
    marks = np.asarray(y[start:stop]) != 0
    color = sys.stdout.isatty() if color is None else color
    body = colour(text, values, marks) if color else plain(text, values, marks)
    legend = f"layer {layer} {kind} unit {unit}, characters {start:,}-{stop:,}: min {values.min():.3g}, max {values.max():.3g}"
    return f"{legend}\n{body}"
