"""The per-recording cache of the search's target-independent statistics.

    summaries.load(rec, bins)          # {(layer, kind): UnitSummary} from cache/histograms-<bins>.npz
    summaries.save(rec, bins, {...})   # merged with what the file already holds, written atomically

For every (layer, kind), a search needs each unit's count, sum, sum of squares and histogram of
every character (`stats.UnitSummary`); none depends on the query, so the first search of a
recording computes them in its own pass and stores them beside the recording, in its derived
`cache/` folder, and later searches histogram only the characters the target marks. The file
is keyed by the recording's `recording_id` (a re-recorded folder gets a new id) and holds each
block's unit ranges and bin count, which must match on load; anything that does not match, or a
file that cannot be read, is ignored (and rebuilt by the next pass). A recording without a
folder or id (an in-memory test double) is not cached; a read-only folder is not an error.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from ..fsio import atomic_path
from ..recording import layout
from .stats import UnitSummary

FORMAT = 1
FIELDS = ("n", "lo", "hi", "sx", "sxx", "hist_all")


def cache_path(rec, bins: int) -> Path | None:
    """cache/histograms-<bins>.npz of a recording folder, or None when the recording has none."""
    return layout.cache_file(rec, f"histograms-{int(bins)}.npz")


def cacheable(rec) -> bool:
    return layout.cache_file(rec, "") is not None


def load(rec, bins: int, warn: bool = True) -> dict[tuple[int, str], UnitSummary]:
    """The cached summaries of this recording (empty when there are none or they are stale)."""
    path = cache_path(rec, bins)
    if path is None or not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["format"]) != FORMAT or str(z["recording_id"]) != rec.meta["recording_id"]:
                return {}
            out = {}
            for name in z.files:
                m = re.fullmatch(r"layer=(\d+)-kind=(\w+)-n", name)
                if not m:
                    continue
                prefix = name[:-1]
                layer, kind = int(m.group(1)), m.group(2)
                f = {k: z[prefix + k] for k in FIELDS}
                if int(f["n"]) != rec.n_chars or f["hist_all"].shape[1] != bins:
                    continue
                out[(layer, kind)] = UnitSummary(int(f["n"]), f["lo"], f["hi"], int(bins), f["sx"], f["sxx"],
                                                 f["hist_all"])
            return out
    except (OSError, ValueError, KeyError, EOFError) as err:
        if warn:
            warnings.warn(f"ignoring unreadable search cache {path}: {err}", stacklevel=2)
        return {}


def save(rec, bins: int, built: dict[tuple[int, str], UnitSummary]) -> Path | None:
    """Add `built` to the cache file (atomically); returns its path, or None if not written."""
    path = cache_path(rec, bins)
    if path is None:
        return None
    summaries = {**load(rec, bins, warn=False), **built}
    arrays = {"format": np.array(FORMAT), "recording_id": np.array(rec.meta["recording_id"])}
    for (layer, kind), s in summaries.items():
        prefix = f"layer={layer}-kind={kind}-"
        arrays.update({prefix + "n": np.array(s.n), prefix + "lo": s.lo, prefix + "hi": s.hi,
                       prefix + "sx": s.sx, prefix + "sxx": s.sxx, prefix + "hist_all": s.hist_all})
    try:
        path.parent.mkdir(exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)
    except OSError as err:  # a read-only recording still searches, just without the cache
        warnings.warn(f"could not write the search cache {path}: {err}", stacklevel=2)
        return None
    return path
