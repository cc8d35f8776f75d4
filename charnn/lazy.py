"""Package attributes imported on first use, so that `import charnn` stays light (no torch,
pyarrow or Dash until a name that needs them is used).

    __getattr__ = lazy_exports(__name__, {"record": "recording", ...})   # in a package's __init__
"""

from __future__ import annotations

import importlib


def lazy_exports(package: str, exports: dict[str, str]):
    """A module `__getattr__` that imports `package.<exports[name]>` when `name` is first used."""
    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f".{exports[name]}", package), name)
    return __getattr__
