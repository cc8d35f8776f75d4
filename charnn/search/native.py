"""The compiled kernel of the search's statistics (`_tilestats.c`), loaded with ctypes.

    from charnn.search import native
    native.available()        # True where `pip install` could build it (a C compiler was there)
    CHARNN_NATIVE=0 charnn search ...   # use the torch path instead (the same numbers, slower)
    CHARNN_NATIVE_LOOP=portable ...     # one of the kernel's loops: auto (default), portable, avx2, avx512

Why: one (row block x every unit) pass of the search is a gather, a float16 conversion, a
matmul against the targets and a histogram. Done as torch ops, that is about ten Python calls
per 512 x 512 tile, 3 ns per value on one core here, and two threads sharing the tiles only
gave 1.3-1.4x (each op waits for the GIL between calls). The kernel does the same work in one
call per row range, about 1 ns per value, binning every value with the same float32 ops (so
the histograms are identical) and summing products in float64 (more accurate than the tiles'
float32 matmuls); ctypes lets go of the GIL for the call, so two threads give 1.5-2x. It is an
optional extension (setup.py): where it cannot be built, `available()` is False and the search
uses its torch path. It is compiled for any x86-64 (or other) CPU and picks its AVX-512 or AVX2
loop at run time, so a build copied to an older CPU runs a slower loop instead of crashing.
"""

from __future__ import annotations

import ctypes
import os
import threading

import numpy as np
import torch

LOOPS = {"auto": 0, "portable": 1, "avx2": 2, "avx512": 3}  # the C file's `loop` (CHARNN_NATIVE_LOOP)
ROW_BLOCK = 256  # rows the kernel converts at a time (RB in the C file): its scratch is ROW_BLOCK x U floats

_lib = None
_lock = threading.Lock()
_P, _I32, _I64 = ctypes.c_void_p, ctypes.c_int32, ctypes.c_int64


def _load():
    global _lib
    with _lock:
        if _lib is None:
            try:
                from . import _tilestats  # noqa: F401 - the built extension; its file is the library
                lib = ctypes.CDLL(_tilestats.__file__)
                lib.charnn_tile_stats.argtypes = [_P, _I32, _I64, _P, _I64, _I64, _I32, _P, _P, _P, _I32, _P, _I32,
                                                  _I64, _P, _I32, _P, _P, _P, _P, _I32]
                lib.charnn_tile_stats.restype = None
                _lib = lib
            except (ImportError, OSError, AttributeError):
                _lib = False
        return _lib


def available() -> bool:
    """Whether the kernel is built and not turned off (CHARNN_NATIVE=0)."""
    return os.environ.get("CHARNN_NATIVE", "1") != "0" and bool(_load())


def _ptr(t: torch.Tensor | np.ndarray | None) -> int | None:
    if t is None:
        return None
    return t.data_ptr() if isinstance(t, torch.Tensor) else t.ctypes.data


_tls = threading.local()


def _scratch(floats: int) -> np.ndarray:
    scratch = getattr(_tls, "scratch", None)
    if scratch is None or scratch.size < floats:
        scratch = _tls.scratch = np.empty(max(floats, 1), np.float32)
    return scratch


def tile_stats(x: torch.Tensor, rows: torch.Tensor | None, first: int, m: int, shift: torch.Tensor,
               scale: torch.Tensor, beta: torch.Tensor, bins: int, offs: torch.Tensor | None, off0: int,
               counters_per_unit: int, T: torch.Tensor | None, hist: torch.Tensor | None, mom: np.ndarray | None,
               sq: np.ndarray | None) -> None:
    """Add the statistics of m rows of x (n, U) (float16 or float32, units contiguous) into hist,
    mom and sq (see the C file): rows[0:m] (int64), or first .. first + m without rows.

    offs (m,) int32 per-row counter offsets, or off0 for all; T (m, K) float32 targets of these
    rows (contiguous); hist (U * counters_per_unit,) int32; mom (K, U) float64; sq (U,) float64.
    Each may be None to skip that statistic. Inputs are not checked beyond shapes: the caller
    (StreamStats._pass) owns them.
    """
    loop = os.environ.get("CHARNN_NATIVE_LOOP", "auto")
    if loop not in LOOPS:
        raise ValueError(f"CHARNN_NATIVE_LOOP={loop!r}: use one of {', '.join(LOOPS)}")
    U = x.shape[1]
    assert x.stride(1) == 1 and x.dtype in (torch.float16, torch.float32), "units must be contiguous floats"
    K = 0 if T is None else T.shape[1]
    assert T is None or (T.is_contiguous() and T.dtype == torch.float32 and T.shape[0] >= m)
    assert mom is None or mom.shape == (K, U) and mom.flags.c_contiguous and mom.dtype == np.float64
    _load().charnn_tile_stats(
        _ptr(x), int(x.dtype == torch.float16), x.stride(0), _ptr(rows), first, m, U, _ptr(shift), _ptr(scale),
        _ptr(beta), bins, _ptr(offs), off0, counters_per_unit, _ptr(T), K, _ptr(hist), _ptr(mom), _ptr(sq),
        _ptr(_scratch(ROW_BLOCK * U)), LOOPS[loop])
