"""Adding a kind to a finished recording, across every part: a gate materialised for DuckDB or
pandas users, or a sparse autoencoder's latents stored like any kind (widths may differ per
(layer, kind)).

    rec.add_kind(0, "f", rec.hidden, lambda a, b: rec.activations(0, "f", start=a, stop=b))
    rec.add_kind(0, "sae-c", 8 * rec.hidden, lambda a, b: encode(rec.activations(0, "c", start=a, stop=b)))

fn(start, stop) gives the values of rows [start, stop), asked for one chunk of the reader's at a
time (`PartPlan.chunks`: whole row groups merged up to `max_rows` rows, or at most `max_rows`
rows of one group, so memory stays flat however long the recording's streams are), which go
through the recorder's `pack` into new state files (hidden names until all are written), then
the manifest is rewritten (atomically) to list them with their unit statistics. A failure or a
kill before that leaves the recording as it was.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from ..fsio import write_json
from ..units import check_kind
from . import layout, manifest
from .manifest import RecordingError
from .pack import UnitStats, pack
from .statefile import StateFile, StateLayout

MAX_ROWS = 8192


def add_kind(rec, layer: int, kind: str, width: int, fn, max_rows: int = MAX_ROWS) -> None:
    from .writer import recording_lock
    if not 0 <= layer < rec.layers:
        raise RecordingError(f"layer {layer} is not recorded: layers are 0..{rec.layers - 1}")
    check_kind(kind)
    if rec.stored(layer, kind):
        raise RecordingError(f"kind {kind!r} is already stored in layer {layer} of {rec.path}")
    if width < 1:
        raise ValueError(f"width must be >= 1, not {width}")
    with recording_lock(rec.path):
        written, stats = [], UnitStats(width)
        try:
            for p in rec.parts:
                path = layout.states_file(rec.path, layer, kind, p.index)
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
                written.append((tmp, path))
                _write_part(tmp, StateLayout(p.rows, p.segment, width, rec.meta["dtype"], p.start), p, fn, stats,
                            max(1, max_rows))
            for tmp, path in written:
                os.replace(tmp, path)
        finally:
            for tmp, _ in written:
                tmp.unlink(missing_ok=True)
        meta = json.loads(json.dumps(rec.meta))  # a copy: rec.meta changes only once the new one is written
        meta["stored"][str(layer)][kind] = width
        for _, path in written:
            meta["files"][str(path.relative_to(rec.path))] = manifest.durable(path)
        mean, std = stats.mean_std()
        meta["unit_stats"][f"{layer}:{kind}"] = {"n": stats.n, "min": stats.lo.tolist(), "max": stats.hi.tolist(),
                                                 "mean": mean.tolist(), "std": std.tolist()}
        write_json(rec.path / manifest.META, meta)
    rec.meta = meta
    rec._stored[layer][kind] = width
    rec.__dict__.pop("unit_stats", None)


def _write_part(path: Path, shape: StateLayout, p, fn, stats: UnitStats, max_rows: int) -> None:
    """A part's state file of the new kind, fn asked for one chunk of the reader's (`PartPlan.chunks`) at a time."""
    f, L = StateFile.create(path, shape), p.segment
    try:
        for a, b in p.chunks(max_rows):
            values = np.asarray(fn(a, b), np.float32)
            if values.shape != (b - a, shape.width):
                raise ValueError(f"fn({a}, {b}) gave {values.shape}, expected {(b - a, shape.width)}")
            rows, whole = torch.from_numpy(np.ascontiguousarray(values)), p.whole_groups(a, b)
            if whole is not None:  # whole groups: (G * L, width) rows -> (L, G, width), time-major
                pack(rows.view(-1, L, shape.width).transpose(0, 1), f.groups[whole], stats)
                continue
            g, lo = divmod(a - p.start, L)
            group = f.groups[g:g + 1] if g < p.full_streams else f.last[None]  # (1, width, rows of the group)
            pack(rows[:, None], group[:, :, lo:lo + b - a], stats)  # (rows, 1, width)
        f.finish()
    finally:
        f.close()
