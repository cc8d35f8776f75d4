"""The feature matrix of a text, built once and kept beside the recording.

    fm = features(rec)                     # FeatureMatrix: library, memory maps, column centres
    F = fm.chunk(0, 65536)                 # (p, 65536) float32, binary rows first, continuous rows centred

Stored in `<recording>/cache/explain-features/` as `binary.npy` ((pb, n) uint8, one row per 0/1
atom), `continuous.npy` ((pc, n) float32) and `features.json` (the atoms' texts, one-hot groups,
column means, the text's sha256, the library VERSION). Feature-major rows, so a chunk of characters
is one slice per row and a column is one contiguous read. Written with `atomic_dir`, so a kill
leaves the previous cache or none; loaded only when the text's hash, the library version and the
array shapes all match (a stale or damaged cache is rebuilt, a read-only recording folder builds
it in memory).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..fsio import atomic_dir
from ..recording import layout
from ..text.atoms import TextIndex
from ..text.parser import parse
from . import library as libmod

CACHE_DIR = "explain-features"


@dataclass
class FeatureMatrix:
    lib: libmod.Library
    B: np.ndarray  # (pb, n) uint8 (a memory map when cached)
    C: np.ndarray  # (pc, n) float32
    centre: np.ndarray  # (p,) float32 subtracted from each row in `chunk` (the column mean), for accurate sums

    @property
    def n(self) -> int:
        return self.B.shape[1] if self.B.shape[0] else self.C.shape[1]

    @property
    def p(self) -> int:
        return self.B.shape[0] + self.C.shape[0]

    def chunk(self, start: int, stop: int, centred: bool = True) -> np.ndarray:
        """(p, stop - start) float32 rows of every feature over characters [start, stop)."""
        out = np.empty((self.p, stop - start), np.float32)
        pb = self.B.shape[0]
        out[:pb] = self.B[:, start:stop]
        out[pb:] = self.C[:, start:stop]
        if centred:
            out -= self.centre[:, None]
        return out

    def binary(self, start: int, stop: int) -> np.ndarray:
        """(pb, stop - start) bool rows of the 0/1 features over characters [start, stop)."""
        return self.B[:, start:stop].astype(bool)


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def compute(text: str, lib: libmod.Library | None = None) -> FeatureMatrix:
    """The feature matrix of `text` in memory: its own library, or `lib`'s atoms re-run on it."""
    ix = TextIndex(text)
    if lib is None:
        lib, B, C = libmod.build(ix, keep_values=True)
    else:
        binary = lib.binary
        rows = [a.values(ix) for a in lib.atoms]
        B = np.stack([r.astype(np.uint8) for r, b in zip(rows, binary) if b]) if binary.any() \
            else np.zeros((0, ix.n), np.uint8)
        C = np.stack([r for r, b in zip(rows, binary) if not b]) if (~binary).any() \
            else np.zeros((0, ix.n), np.float32)
    centre = np.concatenate([B.mean(1), C.mean(1)]).astype(np.float32) if ix.n else np.zeros(len(lib), np.float32)
    return FeatureMatrix(lib, B, C, centre)


def _manifest(fm: FeatureMatrix, sha: str) -> dict:
    return {"version": libmod.VERSION, "sha256": sha, "n": fm.n, "atoms": fm.lib.names,
            "groups": {k: {"codes": g.codes.tolist(), "columns": g.columns.tolist()} for k, g in fm.lib.groups.items()},
            "centre": fm.centre.tolist(), "binary_rows": int(fm.B.shape[0]), "continuous_rows": int(fm.C.shape[0])}


def _load(folder: Path, sha: str, atoms: list[str] | None) -> FeatureMatrix | None:
    try:
        meta = json.loads((folder / "features.json").read_text())
        if meta["version"] != libmod.VERSION or meta["sha256"] != sha or (atoms is not None and meta["atoms"] != atoms):
            return None
        n, pb, pc = meta["n"], meta["binary_rows"], meta["continuous_rows"]
        B = np.load(folder / "binary.npy", mmap_mode="r")
        C = np.load(folder / "continuous.npy", mmap_mode="r")
        if B.shape != (pb, n) or C.shape != (pc, n) or B.dtype != np.uint8 or C.dtype != np.float32:
            return None
        lib = libmod.Library([parse(a).root for a in meta["atoms"]],
                             {k: libmod.Group(k, np.array(g["codes"]), np.array(g["columns"]))
                              for k, g in meta["groups"].items()})
        return FeatureMatrix(lib, B, C, np.array(meta["centre"], np.float32))
    except (OSError, ValueError, KeyError, TypeError) as err:
        warnings.warn(f"rebuilding the explain feature cache {folder}: {err}", stacklevel=3)
        return None


def features(rec, text: str | None = None, lib: libmod.Library | None = None) -> FeatureMatrix:
    """The recording's feature matrix (of `text`, default rec.string), from its cache or built and cached.

    lib: re-run these atoms instead of the text's own library (a held-out recording is scored with
    the fitting recording's library)."""
    text = rec.string if text is None else text
    sha = text_sha256(text)
    path = getattr(rec, "path", None)
    folder = layout.cache_dir(path) / CACHE_DIR if path is not None else None
    if lib is not None and folder is not None:
        folder = folder.with_name(f"{CACHE_DIR}-{hashlib.sha256(json.dumps(lib.names).encode()).hexdigest()[:12]}")
    if folder is not None and (folder / "features.json").is_file():
        fm = _load(folder, sha, None if lib is None else lib.names)
        if fm is not None:
            return fm
    fm = compute(text, lib)
    if folder is None:
        return fm
    try:
        with atomic_dir(folder, lambda f: (f / "features.json").is_file(), "feature cache") as tmp:
            np.save(tmp / "binary.npy", np.ascontiguousarray(fm.B))
            np.save(tmp / "continuous.npy", np.ascontiguousarray(fm.C))
            (tmp / "features.json").write_text(json.dumps(_manifest(fm, sha)))
    except OSError as err:  # a read-only recording still explains, without the cache
        warnings.warn(f"could not write the explain feature cache {folder}: {err}", stacklevel=2)
        return fm
    return _load(folder, sha, None if lib is None else lib.names) or fm
