"""The compiled kernel of the search's statistics (`_tilestats.c`), loaded with ctypes.

    from charnn.search import native
    native.available()        # True where `pip install` could build it (a C compiler was there)
    CHARNN_NATIVE=0 charnn search ...   # use the torch path instead (the same numbers, slower)
    CHARNN_NATIVE_LOOP=portable ...     # one of the kernel's loops: auto (default), portable, avx2, avx512

Why: one pass of the search over a chunk of rows x every unit is a float16 conversion, products
with the targets and a histogram. Done as torch ops that is about ten Python calls per tile, and
threads sharing the tiles add little (each op waits for the GIL between calls; docs/search.md has
the measured costs). The kernel does the same work in one call per row range,
reading a recording's unit-major pages in place, binning every value with the same float32 ops
(so the histograms are identical) and summing products in float64 (more accurate than the torch
tiles' float32 matmuls); ctypes lets go of the GIL for the call, so threads use the cores. It
is an optional extension (setup.py): where it cannot be built, `available()` is False and the
search uses its torch path. It is compiled for any x86-64 (or other) CPU and picks its AVX-512
or AVX2 loop at run time, so a build copied to an older CPU runs a slower loop instead of crashing.
"""

from __future__ import annotations

import ctypes
import os
import threading

import numpy as np
import torch

from .. import clib

LOOPS = {"auto": 0, "portable": 1, "avx2": 2, "avx512": 3}  # the C file's `loop` (CHARNN_NATIVE_LOOP)
ROW_BLOCK = 2048  # RB in the C file
COPIES = 4  # NC in the C file: copies of a unit's counters in the scratch
RUN = 8192  # SUB in the C file: rows whose blocks are found at a time

_P, _I32, _I64 = ctypes.c_void_p, ctypes.c_int32, ctypes.c_int64
_FUNCTIONS = {"charnn_tile_stats": ([_P, _I32, _I64, _I64, _I64, _P, _I64, _I64, _I32, _P, _P, _P, _I32, _P, _I32, _I64,
                                     _P, _I64, _I32, _P, _P, _P, _P, _I32], None),
              "charnn_loop_supported": ([_I32], _I32)}


def _load():
    return clib.load("charnn.search._tilestats", _FUNCTIONS)


def available() -> bool:
    """Whether the kernel is built and not turned off (CHARNN_NATIVE=0)."""
    return os.environ.get("CHARNN_NATIVE", "1") != "0" and bool(_load())


def supports(loop: str) -> bool:
    """Whether this CPU runs the kernel's `loop` (portable, avx2, avx512): a forced loop the CPU
    lacks falls back to the next best, so a test of that loop would test another one."""
    return bool(_load()) and bool(_load().charnn_loop_supported(LOOPS[loop]))


def _ptr(t: torch.Tensor | np.ndarray | None) -> int | None:
    if t is None:
        return None
    return t.data_ptr() if isinstance(t, torch.Tensor) else t.ctypes.data


_tls = threading.local()


def _scratch(counters_per_unit: int) -> np.ndarray:
    """This thread's scratch (3 row blocks, a run's blocks, then counter copies that every call
    leaves zero, so that a later call with more counters per unit finds zeros too), reused."""
    floats = 3 * ROW_BLOCK + 8 * RUN + COPIES * counters_per_unit
    scratch = getattr(_tls, "scratch", None)
    if scratch is None or scratch.size < floats:
        scratch = _tls.scratch = np.zeros(floats, np.float32)
    return scratch


def tile_stats(x: torch.Tensor, rows: torch.Tensor | None, first: int, m: int, shift: torch.Tensor,
               scale: torch.Tensor, beta: torch.Tensor, bins: int, offs: torch.Tensor | None, off0: int,
               counters_per_unit: int, T: torch.Tensor | None, hist: torch.Tensor | None, mom: np.ndarray | None,
               sq: np.ndarray | None) -> None:
    """Add the statistics of m rows of the unit-major chunk x (G, U, L) (float16 or float32, each
    unit's rows of a group contiguous; row r is row r % L of group r // L) into hist, mom and sq
    (see the C file): rows[0:m] (int64, ascending), or first .. first + m without rows.

    offs (m,) int32 per-row counter offsets, or off0 for all; T (K, m') float32 targets whose
    first m columns are these rows' (rows contiguous); hist (U * counters_per_unit,) int32;
    mom (K, U) float64; sq (U,) float64. Each may be None to skip that statistic. Inputs are not
    checked beyond shapes: the caller (charnn.search.tiles) owns them.
    """
    loop = os.environ.get("CHARNN_NATIVE_LOOP", "auto")
    if loop not in LOOPS:
        raise ValueError(f"CHARNN_NATIVE_LOOP={loop!r}: use one of {', '.join(LOOPS)}")
    G, U, L = x.shape
    assert (x.stride(2) == 1 or L == 1) and x.dtype in (torch.float16, torch.float32), \
        "a unit's rows must be contiguous floats"
    K = 0 if T is None else T.shape[0]
    assert T is None or (T.stride(1) == 1 and T.dtype == torch.float32 and T.shape[1] >= m)
    assert mom is None or mom.shape == (K, U) and mom.flags.c_contiguous and mom.dtype == np.float64
    _load().charnn_tile_stats(
        _ptr(x), int(x.dtype == torch.float16), x.stride(0), x.stride(1), L, _ptr(rows), first, m, U, _ptr(shift),
        _ptr(scale), _ptr(beta), bins, _ptr(offs), off0, counters_per_unit, _ptr(T), 0 if T is None else T.stride(0),
        K, _ptr(hist), _ptr(mom), _ptr(sq), _ptr(_scratch(counters_per_unit)), LOOPS[loop])
