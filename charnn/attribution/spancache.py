"""The per-recording cache of memory spans: each (layer, kind)'s rows of `memory_spans`, kept beside
the recording in its derived `cache/` folder (cache/memory-spans.parquet).

    spancache.load(rec)          # the cached rows, or None (no file, another recording's, unreadable)
    spancache.save(rec, rows)    # merged with what the file already holds, written atomically

The spans need a matmul per character for every gate they read, and depend only on the recording,
so the first command that wants them (`charnn memory`, the atlas, `charnn explain`, the dashboard)
computes them and the others read them back. The file carries the recording's `recording_id` (a
re-recorded folder gets a new id) and a format number; a file that does not match, or cannot be
read, is ignored and rebuilt. A recording without a folder or id (an in-memory test double) is not
cached; a read-only folder is not an error (charnn.search.summaries caches the same way).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..fsio import atomic_path
from ..recording import layout

FORMAT = 1
KEY = b"charnn.memory_spans"


def cache_path(rec) -> Path | None:
    """cache/memory-spans.parquet of a recording folder, or None when the recording has none."""
    return layout.cache_file(rec, "memory-spans.parquet")


def load(rec, warn: bool = True) -> pd.DataFrame | None:
    """The cached rows of this recording, or None."""
    path = cache_path(rec)
    if path is None or not path.is_file():
        return None
    try:
        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {}).get(KEY, b"{}"))
    except (OSError, ValueError, pa.ArrowException) as err:
        if warn:
            warnings.warn(f"ignoring unreadable memory-span cache {path}: {err}", stacklevel=2)
        return None
    if meta.get("format") != FORMAT or meta.get("recording_id") != rec.meta["recording_id"]:
        return None
    return table.to_pandas()


def save(rec, rows: pd.DataFrame) -> Path | None:
    """Add `rows` (whole (layer, kind) blocks) to the cache file; its path, or None if not written."""
    path = cache_path(rec)
    if path is None or rows.empty:
        return None
    old = load(rec, warn=False)
    if old is not None:
        blocks = set(zip(rows["layer"], rows["kind"]))
        old = old[[(layer, kind) not in blocks for layer, kind in zip(old["layer"], old["kind"])]]
        rows = pd.concat([old, rows], ignore_index=True) if len(old) else rows
    table = pa.Table.from_pandas(rows.reset_index(drop=True), preserve_index=False)
    meta = {"format": FORMAT, "recording_id": rec.meta["recording_id"]}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), KEY: json.dumps(meta).encode()})
    try:
        path.parent.mkdir(exist_ok=True)
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
    except OSError as err:  # a read-only recording still gets its spans, just not cached
        warnings.warn(f"could not write the memory-span cache {path}: {err}", stacklevel=2)
        return None
    return path
