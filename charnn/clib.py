"""Loading charnn's optional compiled kernels (setup.py builds them where a C compiler is) with ctypes.

    lib = clib.load("charnn.search._tilestats", {"charnn_tile_stats": ([ctypes.c_void_p, ...], None)})
    lib or fallback                       # None where the extension was not built

An extension module's file is an ordinary shared library; ctypes lets go of the GIL for each
call, so kernels called from two threads use two cores.
"""

from __future__ import annotations

import ctypes
import importlib
import threading

_lock = threading.Lock()
_loaded: dict[str, ctypes.CDLL | None] = {}


def load(module: str, functions: dict[str, tuple[list, object]]) -> ctypes.CDLL | None:
    """The library of extension `module` with `functions` {name: (argtypes, restype)} declared,
    loaded once; None if it is not built or lacks a function (an older build)."""
    with _lock:
        if module not in _loaded:
            try:
                lib = ctypes.CDLL(importlib.import_module(module).__file__)
                for name, (argtypes, restype) in functions.items():
                    fn = getattr(lib, name)
                    fn.argtypes, fn.restype = argtypes, restype
                _loaded[module] = lib
            except (ImportError, OSError, AttributeError):
                _loaded[module] = None
        return _loaded[module]
