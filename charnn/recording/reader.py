"""Reading a recording back: the only code besides the writer that knows the layout.

    rec = charnn.open_recording("runs/austen/recordings/val")
    rec.text                                   # pandas: pos, char, doc, line, col, loss_bits, p, ...
    rec.activations(1, "c", units=[37], start=0, stop=5000)   # (5000, 1) float32
    for start, stop, block in rec.iter_chunks(kinds=["c"]):   # block[(layer, kind)]: (n, H)
        ...

A few units over a window come from Parquet (a column projection of the row groups that hold
the window); scans over every unit come from the raw row-major cache, rebuilt from Parquet when
it is missing.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ..fsio import atomic_path
from . import layout

FEW_UNITS = 32  # up to this many units, read Parquet columns; more, read the row-major cache


class RecordingError(ValueError):
    """A recording folder that is missing, incomplete, or from a newer charnn."""


def is_recording(path: str | Path) -> bool:
    """Whether a folder holds a complete recording (its manifest, meta.json, is written last)."""
    return (Path(path) / "meta.json").is_file()


def open_recording(path: str | Path) -> "Recording":
    return Recording(path)


class Recording:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        meta_path = self.path / "meta.json"
        if not meta_path.is_file():
            raise RecordingError(f"{self.path} is not a recording (no meta.json): record one with `charnn record RUN TEXT`")
        self.meta = json.loads(meta_path.read_text())
        version = self.meta.get("schema_version")
        if not isinstance(version, int) or version > layout.SCHEMA_VERSION:
            raise RecordingError(f"{self.path} has schema version {version}, newer than this charnn reads "
                                 f"({layout.SCHEMA_VERSION}): upgrade charnn")
        self.n_chars: int = self.meta["n_chars"]
        self.layers: int = self.meta["layers"]
        self.hidden: int = self.meta["hidden"]
        self.kinds: list[str] = self.meta["kinds"]
        self.dtype = np.dtype(self.meta["dtype"])
        self._parquet: dict = {}

    def __repr__(self) -> str:
        return (f"Recording({str(self.path)!r}, {self.n_chars:,} chars, {self.layers}x{self.hidden} "
                f"{self.meta['cell']}, kinds {','.join(self.kinds)}, {self.meta['dtype']})")

    @cached_property
    def text(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / "text.parquet")

    @cached_property
    def string(self) -> str:
        return "".join(pq.read_table(self.path / "text.parquet", columns=["char"]).column("char").to_pylist())

    @cached_property
    def unit_stats(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / "unit_stats.parquet")

    def units(self) -> pd.DataFrame:
        return self.unit_stats[["layer", "kind", "unit"]].copy()

    def unit_range(self, layer: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
        stats = self.unit_stats
        rows = stats[(stats.layer == layer) & (stats.kind == kind)].sort_values("unit")
        return rows["min"].to_numpy(np.float32), rows["max"].to_numpy(np.float32)

    def check(self, layer: int, kind: str, units=None) -> None:
        if not 0 <= layer < self.layers:
            raise RecordingError(f"layer {layer} is not recorded: layers are 0..{self.layers - 1}")
        if kind not in self.kinds:
            raise RecordingError(f"kind {kind!r} is not recorded: kinds are {','.join(self.kinds)}")
        bad = [u for u in (units if units is not None else []) if not 0 <= int(u) < self.hidden]
        if bad:
            raise RecordingError(f"units {bad} do not exist: units are 0..{self.hidden - 1}")

    def activations(self, layer: int, kind: str, units=None, start: int = 0, stop: int | None = None) -> np.ndarray:
        """(stop - start, len(units)) float32 values of `units` (default all) over [start, stop)."""
        self.check(layer, kind, units)
        stop = self.n_chars if stop is None else min(stop, self.n_chars)
        start = max(0, start)
        if units is not None and len(units) <= FEW_UNITS:
            return self._parquet_window(layer, kind, [int(u) for u in units], start, stop)
        block = self._cache(layer, kind).read(start, stop)  # (n, H)
        block = block if units is None else block[:, np.asarray(units, dtype=np.int64)]
        return block.astype(np.float32, copy=False)

    def _parquet_window(self, layer, kind, units, start, stop) -> np.ndarray:
        key = (layer, kind)
        if key not in self._parquet:
            self._parquet[key] = pq.ParquetFile(layout.states_file(self.path, layer, kind))
        pf = self._parquet[key]
        group = self.meta["row_group"]
        groups = list(range(start // group, (max(start, stop - 1)) // group + 1))
        if stop <= start:
            return np.zeros((0, len(units)), np.float32)
        table = pf.read_row_groups(groups, columns=[layout.unit_column(u) for u in units])
        offset = start - groups[0] * group
        out = np.empty((stop - start, len(units)), np.float32)
        for j, column in enumerate(table.columns):
            out[:, j] = column.to_numpy()[offset : offset + stop - start]
        return out

    def iter_chunks(self, kinds=None, chunk_chars: int = 65536, layers=None):
        """(start, stop, {(layer, kind): (stop - start, H) float32}) over the whole text, in order."""
        kinds = list(kinds or self.kinds)
        layers = list(range(self.layers)) if layers is None else list(layers)
        for kind in kinds:
            for layer in layers:
                self.check(layer, kind)
        files = {(l, k): self._cache(l, k) for l in layers for k in kinds}
        for start in range(0, self.n_chars, chunk_chars):
            stop = min(self.n_chars, start + chunk_chars)
            yield start, stop, {key: f.read(start, stop).astype(np.float32) for key, f in files.items()}

    def row_map(self, layer: int, kind: str) -> np.ndarray:
        """Every row of (layer, kind) as stored: a read-only (n_chars, hidden) memory map of the
        row-major cache, in `self.dtype` (not converted). Opened once and kept, so repeated scans
        (searches) neither copy the file nor fault its pages in again."""
        self.check(layer, kind)
        key = ("map", layer, kind)
        if key not in self._parquet:
            self._cache(layer, kind)  # rebuilt from Parquet when missing
            self._parquet[key] = np.memmap(layout.cache_file(self.path, layer, kind), dtype=self.dtype, mode="r",
                                           shape=(self.n_chars, self.hidden))
        return self._parquet[key]

    def _cache(self, layer: int, kind: str) -> layout.RowFile:
        path = layout.cache_file(self.path, layer, kind)
        key = ("cache", layer, kind)
        if key not in self._parquet:
            if not path.exists():
                self.rebuild_cache(layer, kind)
            self._parquet[key] = layout.RowFile(path, self.n_chars, self.dtype, self.hidden)
        return self._parquet[key]

    def rebuild_cache(self, layer: int, kind: str) -> None:
        """Write the raw row-major cache of one (layer, kind) from its Parquet file."""
        path = layout.cache_file(self.path, layer, kind)
        path.parent.mkdir(exist_ok=True)
        pf = pq.ParquetFile(layout.states_file(self.path, layer, kind))
        columns = [layout.unit_column(u) for u in range(self.hidden)]
        with atomic_path(path) as tmp:
            raw = layout.RowFile(tmp, self.n_chars, self.dtype, self.hidden, create=True)
            row = 0
            for i in range(pf.num_row_groups):
                table = pf.read_row_group(i, columns=columns)
                block = np.stack([c.to_numpy() for c in table.columns], axis=1)  # (n, H)
                raw.write(row, block.astype(self.dtype, copy=False))
                row += len(block)
            raw.close()
