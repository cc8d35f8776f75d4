"""Activation -> color, as pure numpy functions: the one coloring of text by a unit, used by the
dashboard's panels and by `charnn export` (tested in tests/dashboard/test_pure.py).

    norm = normalize(values, "c", "tanh")        # (n,) in [-1, 1]
    colors = diverging(norm)                      # ["#ffffff", "#f4a582", ...] blue < 0 < red

States are mapped to [-1, 1] before coloring: cells through tanh (what the cell contributes to
h = o * tanh(c)) or divided by the unit's largest magnitude ("raw"); gates (sigmoids in 0..1)
through 2x - 1, so 0.5 is white; h, g and n are already in [-1, 1].
"""

from __future__ import annotations

import numpy as np

from .units import is_latent

SIGMOID_KINDS = {"i", "f", "o", "r", "z"}  # gates in (0, 1)
SCALES = ("tanh", "raw")  # how a cell state c is shown

WHITE = np.array([255, 255, 255], np.float64)
RED = np.array([178, 24, 43], np.float64)  # ColorBrewer RdBu ends
BLUE = np.array([33, 102, 172], np.float64)
LOSS = np.array([230, 85, 13], np.float64)  # orange-red for high loss
LOSS_CAP_BITS = 8.0  # losses at or above this get the full loss color

_HEX = np.array([f"{i:02x}" for i in range(256)])


def normalize(values, kind: str, scale: str = "tanh", lo=None, hi=None) -> np.ndarray:
    """Activations of one unit (n,) or of units in columns (n, U) -> float32 in [-1, 1].

    lo, hi: the units' ranges over the whole recording (scalars or (U,)), used by scale="raw"
    for cells and always for an autoencoder's latents (kind sae-NAME); without them the largest
    magnitude in `values` is used.
    """
    v = np.asarray(values, np.float32)
    if kind == "c" and scale == "raw" or is_latent(kind):  # an autoencoder's latent: unbounded, mostly 0
        if lo is None or hi is None:
            peak = np.abs(v).max(axis=0, initial=0.0)
        else:
            peak = np.maximum(np.abs(np.asarray(lo, np.float32)), np.abs(np.asarray(hi, np.float32)))
        v = v / np.where(peak > 0, peak, 1.0).astype(np.float32)
    elif kind == "c":
        if scale == "tanh":
            v = np.tanh(v)
        else:
            raise ValueError(f"scale must be one of {SCALES}, not {scale!r}")
    elif kind in SIGMOID_KINDS:
        v = 2 * v - 1
    return np.clip(np.nan_to_num(v), -1.0, 1.0)


def to_hex(rgb: np.ndarray) -> list[str]:
    """(n, 3) floats in 0..255 -> ["#rrggbb", ...]."""
    q = np.clip(np.rint(rgb), 0, 255).astype(np.int64)  # (n, 3)
    return list(np.char.add(np.char.add(np.char.add("#", _HEX[q[:, 0]]), _HEX[q[:, 1]]), _HEX[q[:, 2]]))


def diverging(norm) -> list[str]:
    """(n,) values in [-1, 1] -> hex colors: blue for -1, white for 0, red for +1 (linear in RGB)."""
    x = np.clip(np.asarray(norm, np.float64), -1.0, 1.0)[:, None]  # (n, 1)
    end = np.where(x >= 0, RED, BLUE)  # (n, 3)
    return to_hex(WHITE + np.abs(x) * (end - WHITE))


def sequential(x01) -> list[str]:
    """(n,) values in [0, 1] -> hex colors from white to the loss color."""
    x = np.clip(np.nan_to_num(np.asarray(x01, np.float64)), 0.0, 1.0)[:, None]
    return to_hex(WHITE + x * (LOSS - WHITE))


def loss_colors(loss_bits) -> list[str]:
    """Per-character loss in bits -> colors, white at 0 bits, full color at LOSS_CAP_BITS."""
    return sequential(np.asarray(loss_bits, np.float64) / LOSS_CAP_BITS)

