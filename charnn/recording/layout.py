"""Where a recording keeps what, and the raw row files behind its cache.

    runs/<run>/recordings/<name>/
      meta.json                                   schema version, sizes, source, model hash, dtype
      text.parquet                                pos, char, doc, line, col, loss_bits, p, next_top, next_top_p
      states/layer=<l>/kind=<k>/part-0.parquet    pos, u0000 ... u<H-1> (one column per unit)
      unit_stats.parquet                          layer, kind, unit, min, max, mean, std
      cache/layer=<l>-kind=<k>.raw                the same states, row-major (n_chars, H), for scans

Parquet is the interchange format; `cache/` is derived (rebuilt from Parquet when missing) and
lets a search over every unit run at memory speed instead of Parquet-decoding speed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

SCHEMA_VERSION = 1
ROW_GROUP = 65536  # rows per Parquet row group: a 5,000-char window of one unit reads one or two


def states_file(root: Path, layer: int, kind: str) -> Path:
    return Path(root) / "states" / f"layer={layer}" / f"kind={kind}" / "part-0.parquet"


def cache_file(root: Path, layer: int, kind: str) -> Path:
    return Path(root) / "cache" / f"layer={layer}-kind={kind}.raw"


def unit_column(unit: int) -> str:
    return f"u{unit:04d}"


class RowFile:
    """A raw file of fixed-size rows (`width` items of `dtype`, or one record of a structured
    dtype), written at any row with pwrite and read back as numpy with preadv."""

    def __init__(self, path: Path, n_rows: int, dtype, width: int | None = None, create: bool = False):
        self.path, self.n_rows, self.dtype, self.width = Path(path), n_rows, np.dtype(dtype), width
        self.row_bytes = self.dtype.itemsize * (width or 1)
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "wb") as f:
                f.truncate(n_rows * self.row_bytes)
        elif self.path.stat().st_size != n_rows * self.row_bytes:
            raise ValueError(f"{self.path} has {self.path.stat().st_size} bytes, expected {n_rows * self.row_bytes}")
        self.fd = os.open(self.path, os.O_RDWR if create else os.O_RDONLY)

    def write(self, row: int, rows: np.ndarray) -> None:
        assert rows.dtype == self.dtype and row + len(rows) <= self.n_rows, "row write out of range"
        os.pwrite(self.fd, np.ascontiguousarray(rows).data.cast("B"), row * self.row_bytes)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) as (n, width) or (n,) for a structured dtype."""
        start, stop = max(0, start), min(self.n_rows, stop)
        n = max(0, stop - start)
        out = np.empty((n, self.width) if self.width else n, dtype=self.dtype)
        if n:
            os.preadv(self.fd, [out.data.cast("B")], start * self.row_bytes)
        return out

    def close(self) -> None:
        os.close(self.fd)
