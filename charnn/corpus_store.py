"""Where corpora live: the bundled ones that ship with charnn, and the ones `charnn corpus build`
makes in the user's cache. Both the loader (charnn.corpus) and the recipes (charnn.recipes) ask here.

    corpus_root("austen")       # the bundled corpus folder
    corpus_root("linux")        # ~/.cache/charnn/corpora/linux once built (its MARKER written last)
    bundled_corpora()           # ["austen", "mdn-bcd"]
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

MARKER = ".complete"  # the manifest a recipe's build writes last: a folder with it is a complete corpus


def corpora_dir() -> Path:
    """Where bundled corpora live: $CHARNN_CORPORA, else the `corpora/` an installed wheel carries
    inside the package (setup.py copies it there), else the checkout's top-level `corpora/`."""
    if os.environ.get("CHARNN_CORPORA"):
        return Path(os.environ["CHARNN_CORPORA"])
    packaged = Path(str(resources.files("charnn") / "corpora"))
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[1] / "corpora"


def bundled_corpora() -> list[str]:
    root = corpora_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def cache_root() -> Path:
    """Where built corpora live: ``$CHARNN_CACHE/corpora``, ``$XDG_CACHE_HOME/charnn/corpora`` or ``~/.cache/charnn/corpora``."""
    if os.environ.get("CHARNN_CACHE"):
        return Path(os.environ["CHARNN_CACHE"]).expanduser() / "corpora"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "charnn" / "corpora"


def corpus_root(spec: str | Path) -> Path:
    """A corpus spec as a path: itself if it exists, else a bundled corpus, else one built by
    `charnn corpus build NAME`."""
    path, name = Path(spec), str(spec)
    if not path.exists() and (corpora_dir() / name).is_dir():
        return corpora_dir() / name
    if not path.exists() and (cache_root() / name / MARKER).is_file():
        return cache_root() / name
    return path
