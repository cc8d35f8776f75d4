"""Reading a recording back: the only code besides the writer that knows the layout.

    rec = charnn.open_recording("runs/austen/recordings/val")
    rec.text                                   # pandas: pos, char, id, doc, line, col, loss_bits, p, ...
    rec.activations(1, "c", units=[37], start=0, stop=5000)   # (5000, 1) float32, read in place
    rec.activations(0, "f", start=0, stop=5000)               # a gate: derived from the stored h
    for start, stop, block in rec.iter_chunks(kinds=["c"]):   # block[(layer, kind)]: (n, width) float32
        ...

Every chunked read of a recording goes through `iter_chunks`, whose chunks follow the row groups
(`PartPlan.chunks`: whole streams merged up to CHUNK_ROWS rows): a scan reads the stored bytes in
place (`unit_major`), and row-major readers get the same chunks as float32 rows.

Stored kinds are read in place from memory maps of the state files (each unit's rows of a row
group are contiguous, see `statefile`); derived kinds (the gates, see `derive`) are computed from
the stored h with the recording's own weights. Opening a recording checks that every file its
manifest lists is there with the listed size, so a truncated or missing file is an error naming it
before anything is read.
"""

from __future__ import annotations

import threading
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from . import layout, manifest
from .derive import Gates
from .manifest import RecordingError
from .statefile import StateFile, StateLayout
from .streams import PartPlan

CHUNK_ROWS = 65536  # rows per chunk at the most: 16 MB of float32 for 64 units, a few row groups


def open_recording(path: str | Path) -> "Recording":
    return Recording(path)


def scan_blocks(rec, kinds=None) -> list[tuple[int, str]]:
    """(layer, kind) of every block a scan (search, atlas, probe, explain) reads: `kinds`, default
    every stored (layer, kind) where a recording says which are stored (a derived kind costs a
    matmul per character; an added kind, such as an autoencoder's latents, is stored in its own
    layer), in layer then kind order. Works for any object with layers and kinds (test doubles)."""
    stored = getattr(rec, "stored", None)
    if kinds is None and stored is not None:  # every stored (layer, kind): an added kind may be in one layer only
        return [(layer, kind) for layer in range(rec.layers) for kind in rec.kinds if stored(layer, kind)]
    kinds = list((getattr(rec, "stored_kinds", None) or rec.kinds) if kinds is None else kinds)
    unknown = sorted(set(kinds) - set(rec.kinds))
    if unknown:
        raise ValueError(f"kinds {unknown} not in this recording (it has {', '.join(rec.kinds)})")
    has = getattr(rec, "has", lambda layer, kind: True)
    return [(layer, kind) for layer in range(rec.layers) for kind in rec.kinds if kind in kinds and has(layer, kind)]


def _rerecord_hint(path: Path, meta: dict) -> str:
    source = str(meta.get("source", "TEXT"))
    text = source.rsplit(":", 1)[1] if source.rsplit(":", 1)[-1] in ("train", "val", "test") else source
    return f"`charnn record {meta.get('run', 'RUN')} {text} --name {path.name}`"


class Recording:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        meta_path = self.path / manifest.META
        if not meta_path.is_file():
            raise RecordingError(f"{self.path} is not a recording (no meta.json): record one with `charnn record RUN TEXT`")
        self.meta = meta = manifest.read_json(meta_path, "the recording's manifest")
        version = meta.get("schema_version")
        if version == 1:
            raise RecordingError(f"{self.path} was recorded by an older charnn (schema version 1), which this one "
                                 f"does not read: record it again with {_rerecord_hint(self.path, meta)}")
        if not isinstance(version, int) or version > layout.SCHEMA_VERSION:
            raise RecordingError(f"{self.path} has schema version {version}, newer than this charnn reads "
                                 f"({layout.SCHEMA_VERSION}): upgrade charnn")
        try:
            self.n_chars: int = int(meta["n_chars"])
            self.layers: int = int(meta["layers"])
            self.hidden: int = int(meta["hidden"])
            self.dtype = np.dtype(meta["dtype"])
            self.parts = [PartPlan(**p) for p in meta["parts"]]
            self._stored = {int(l): dict(kinds) for l, kinds in meta["stored"].items()}
            self._derived = list(meta["derived"])
            meta["files"], meta["unit_stats"], meta["model"]  # noqa: B018 - present, or the manifest is damaged
        except (KeyError, TypeError, ValueError) as err:
            raise RecordingError(f"{meta_path} is damaged (bad or missing {err}): record it again with "
                                 f"{_rerecord_hint(self.path, meta)}") from None
        if [p.start for p in self.parts] != [0] + [p.stop for p in self.parts[:-1]] or self.parts[-1].stop != self.n_chars:
            raise RecordingError(f"{meta_path} is damaged: its parts do not cover the text")
        manifest.check_files(self.path, meta)
        manifest.check_sizes(self.path, meta, self.parts, self.layers, self.hidden, self._stored)
        self._starts = np.array([p.start for p in self.parts])
        self._lock = threading.Lock()
        self._files: dict = {}  # (layer, kind, part) -> StateFile
        self._part_data: dict = {}  # ("ids" | "boundary", part) -> array

    def __repr__(self) -> str:
        return (f"Recording({str(self.path)!r}, {self.n_chars:,} chars, {self.layers}x{self.hidden} "
                f"{self.meta['cell']}, kinds {','.join(self.kinds)} ({','.join(self.stored_kinds)} stored), "
                f"{self.meta['dtype']})")

    # ------------------------------------------------------------ what it holds
    @property
    def kinds(self) -> list[str]:
        """Every kind it serves, stored or derived, in the cell's order (then added kinds)."""
        seen = list(self.meta["kinds"])
        for kinds in self._stored.values():
            seen += [k for k in kinds if k not in seen]
        return seen

    @property
    def stored_kinds(self) -> list[str]:
        """The kinds stored in every layer: what scans read by default (a derived kind costs a matmul
        per character)."""
        return [k for k in self.kinds if all(k in self._stored[l] for l in range(self.layers))]

    def has(self, layer: int, kind: str) -> bool:
        return 0 <= layer < self.layers and (kind in self._stored[layer] or kind in self._derived)

    def stored(self, layer: int, kind: str) -> bool:
        return kind in self._stored.get(layer, {})

    def width(self, layer: int, kind: str) -> int:
        """Units of (layer, kind): the hidden size, or an added kind's own width."""
        self.check(layer, kind)
        return int(self._stored[layer].get(kind, self.hidden))

    def check(self, layer: int, kind: str, units=None) -> None:
        if not 0 <= layer < self.layers:
            raise RecordingError(f"layer {layer} is not recorded: layers are 0..{self.layers - 1}")
        if not self.has(layer, kind):
            raise RecordingError(f"kind {kind!r} is not recorded in layer {layer}: kinds are "
                                 f"{','.join(k for k in self.kinds if self.has(layer, k))}")
        width = int(self._stored[layer].get(kind, self.hidden))
        bad = [u for u in (units if units is not None else []) if not 0 <= int(u) < width]
        if bad:
            raise RecordingError(f"units {bad} do not exist: units are 0..{width - 1}")

    def streams(self) -> np.ndarray:
        """(n_streams, 2) [start, stop) of every stream, in text order. A stream's first row follows
        from its burn-in (from the characters before it, read from a zero state), not from the row
        stored before it: a recurrence read from the recording stops at a stream's start."""
        bounds = [(p.start + b * p.segment, min(p.stop, p.start + (b + 1) * p.segment))
                  for p in self.parts for b in range(p.streams)]
        return np.array(bounds, np.int64).reshape(-1, 2)

    def stream_start(self, pos: int) -> int:
        """The first position of the stream that recorded `pos` (0 <= pos < n_chars)."""
        p = self.parts[int(np.searchsorted(self._starts, pos, side="right")) - 1]
        return p.start + (pos - p.start) // p.segment * p.segment

    def stream_origin(self, pos: int) -> int:
        """Where the stream that recorded `pos` began reading, from a zero state: its start less its
        burn-in (0 for the text's first stream, which reads from position 0)."""
        p = self.parts[int(np.searchsorted(self._starts, pos, side="right")) - 1]
        return max(0, self.stream_start(pos) - p.burn_in)

    def ids(self, start: int, stop: int) -> np.ndarray:
        """The model's input ids of positions [start, stop)."""
        return np.concatenate([self._part("ids", p)[max(start, p.start) - p.start:min(stop, p.stop) - p.start]
                               for p in self._parts_between(start, stop)] or [np.zeros(0, np.int64)])

    # ------------------------------------------------------------ text
    @cached_property
    def text(self) -> pd.DataFrame:
        return pd.concat([pd.read_parquet(layout.text_file(self.path, p.index)) for p in self.parts],
                         ignore_index=True)

    @cached_property
    def string(self) -> str:
        """The recorded text (the `char` column joined), read from the Arrow buffers directly."""
        pieces = []
        for p in self.parts:
            column = pq.read_table(layout.text_file(self.path, p.index), columns=["char"]).column("char")
            for chunk in column.chunks:
                width = np.int64 if chunk.type == pa.large_string() else np.int32
                offsets = np.frombuffer(chunk.buffers()[1], width)[chunk.offset:chunk.offset + len(chunk) + 1]
                pieces.append(chunk.buffers()[2].to_pybytes()[offsets[0]:offsets[-1]])
        return b"".join(pieces).decode("utf-8")

    def text_column(self, name: str) -> np.ndarray:
        """One column of the text table over the whole recording (e.g. "loss_bits"), without the rest."""
        return np.concatenate([pq.read_table(layout.text_file(self.path, p.index), columns=[name]).column(name)
                               .to_numpy() for p in self.parts])

    def text_rows(self, start: int, stop: int) -> pd.DataFrame:
        """Rows [start, stop) of the text table, read from the parts that hold them."""
        frames = [pd.read_parquet(layout.text_file(self.path, p.index), filters=[("pos", ">=", start), ("pos", "<", stop)])
                  for p in self._parts_between(start, stop)]
        if not frames:
            return pq.read_schema(layout.text_file(self.path, 0)).empty_table().to_pandas()
        return pd.concat(frames, ignore_index=True)

    # ------------------------------------------------------------ unit statistics
    @cached_property
    def unit_stats(self) -> pd.DataFrame:
        frames = []
        for key, s in self.meta["unit_stats"].items():
            layer, kind = key.split(":", 1)
            w = len(s["min"])
            frames.append(pd.DataFrame({"layer": np.full(w, int(layer), np.int32), "kind": kind,
                                        "unit": np.arange(w, dtype=np.int32),
                                        **{k: np.asarray(s[k], np.float32) for k in ("min", "max", "mean", "std")}}))
        return pd.concat(frames, ignore_index=True)

    def unit_range(self, layer: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """(min, max) per unit, float32: of the values as stored (a derived kind: of the stepper's
        values in every 8th window when it recorded, so a rare value may lie beyond them)."""
        self.check(layer, kind)
        s = manifest.stats_arrays(self.meta, layer, kind)
        return s["min"], s["max"]

    # ------------------------------------------------------------ values
    def activations(self, layer: int, kind: str, units=None, start: int = 0, stop: int | None = None) -> np.ndarray:
        """(stop - start, len(units)) float32 values of `units` (default all) over [start, stop)."""
        self.check(layer, kind, units)
        stop = self.n_chars if stop is None else min(stop, self.n_chars)
        start = max(0, start)
        if self.stored(layer, kind):
            return self._read(layer, kind, units, start, stop)
        if stop - start <= CHUNK_ROWS:
            return self._derive(layer, kind, units, start, stop)
        out = np.empty((stop - start, self.hidden if units is None else len(units)), np.float32)
        for a, b in self.spans(start, stop, CHUNK_ROWS):  # the inputs of a chunk at a time: memory stays bounded
            out[a - start:b - start] = self._derive(layer, kind, units, a, b)
        return out

    def spans(self, start: int = 0, stop: int | None = None, max_rows: int = CHUNK_ROWS) -> list[tuple[int, int]]:
        """[a, b) of each chunk of characters [start, stop) (default all): the parts' chunks
        (`PartPlan.chunks`, which follow the row groups), cut at start and stop."""
        stop = self.n_chars if stop is None else min(stop, self.n_chars)
        return [(max(a, start), min(b, stop)) for p in self._parts_between(start, stop)
                for a, b in p.chunks(max_rows) if a < stop and b > start]

    def iter_chunks(self, kinds=None, chunk_chars: int = CHUNK_ROWS, layers=None, start: int = 0,
                    stop: int | None = None, blocks=None, unit_major: bool = False):
        """(start, stop, {(layer, kind): values}) over characters [start, stop) (default all), in
        order, a chunk at a time (`spans`: at most `chunk_chars` rows, following the row groups).

        Which (layer, kind): `blocks`, or `kinds` (default the stored ones: a derived kind costs a
        matmul per character) in `layers` (default every layer that has the kind: an added kind,
        such as an autoencoder's latents, is in one). Values: (n, width) float32 rows, a copy; with
        `unit_major`, as a scan reads them: a stored kind as its file holds it ((groups, width,
        rows) for whole row groups, else (width, n); float16 as stored, a view, nothing copied), a
        derived kind computed ((width, n) float32)."""
        blocks = self._blocks(kinds, layers) if blocks is None else list(blocks)
        for layer, kind in blocks:
            self.check(layer, kind)
        read = self._unit_major if unit_major else self.activations
        for a, b in self.spans(start, stop, chunk_chars):
            yield a, b, {(layer, kind): read(layer, kind, None, a, b) for layer, kind in blocks}

    def add_kind(self, layer: int, kind: str, width: int, fn, max_rows: int | None = None) -> None:
        """Store a new kind for `layer`, across every part: fn(start, stop) -> (stop - start, width)
        float32 values (it may read this recording), asked for at most `max_rows` rows at a time.
        Atomic: the manifest is rewritten last. See `charnn.recording.materialise`."""
        from .materialise import MAX_ROWS, add_kind
        add_kind(self, layer, kind, width, fn, max_rows or MAX_ROWS)

    def release(self) -> None:
        """Drop this process's mapped pages of the state files read so far (MADV_DONTNEED): they count
        in its RSS. The maps stay open; a later read faults its pages in again from the page cache,
        or from disk when the kernel has dropped them."""
        with self._lock:
            for f in self._files.values():
                f.release()

    # ------------------------------------------------------------ internals
    def _blocks(self, kinds, layers) -> list[tuple[int, str]]:
        """(layer, kind) of `kinds` (default the stored ones) in `layers` (default those that have it);
        a kind in none of them is an error naming the kinds there are."""
        kinds = list(kinds or self.stored_kinds)
        given = layers is not None
        layers = list(range(self.layers)) if layers is None else list(layers)
        blocks = [(l, k) for l in layers for k in kinds if given or self.has(l, k)]
        for kind in kinds:
            if not any(k == kind for _, k in blocks):
                self.check(layers[0] if layers else 0, kind)
        return blocks

    def _unit_major(self, layer: int, kind: str, units, start: int, stop: int) -> np.ndarray:
        """Characters [start, stop) of one chunk, unit-major (see iter_chunks): a view of the state
        file where they are whole row groups or lie in one group, else computed or copied."""
        p = self._parts_between(start, stop)[0]
        a, b, L = start - p.start, stop - p.start, p.segment
        if self.stored(layer, kind) and b <= p.rows:
            f, whole = self._file(layer, kind, p), p.whole_groups(start, stop)
            if whole is not None:
                return f.groups[whole]  # (groups, width, L)
            if a // L == (b - 1) // L:
                g = a // L
                return (f.groups[g] if g < p.full_streams else f.last)[:, a - g * L:b - g * L]  # (width, n)
        return np.ascontiguousarray(self.activations(layer, kind, units, start, stop).T)  # (width, n) float32

    def _parts_between(self, start: int, stop: int) -> list[PartPlan]:
        if stop <= start:
            return []
        first = int(np.searchsorted(self._starts, start, side="right")) - 1
        last = int(np.searchsorted(self._starts, stop - 1, side="right")) - 1
        return self.parts[max(first, 0):last + 1]

    def _file(self, layer: int, kind: str, part: PartPlan) -> StateFile:
        key = (layer, kind, part.index)
        with self._lock:
            if key not in self._files:
                shape = StateLayout(part.rows, part.segment, self.width(layer, kind), self.meta["dtype"], part.start)
                path = layout.states_file(self.path, layer, kind, part.index)
                try:
                    self._files[key] = StateFile.open(path, shape)
                except (OSError, ValueError) as err:
                    raise RecordingError(f"{path} cannot be read: {err}") from None
            return self._files[key]

    def _read(self, layer: int, kind: str, units, start: int, stop: int) -> np.ndarray:
        """Stored values over [start, stop), (n, len(units)) float32."""
        idx = None if units is None else np.asarray(units, np.int64)
        out = np.empty((max(stop - start, 0), self.width(layer, kind) if idx is None else len(idx)), np.float32)
        for p in self._parts_between(start, stop):
            f, L = self._file(layer, kind, p), p.segment
            a, b = max(start, p.start) - p.start, min(stop, p.stop) - p.start
            for g0 in range(a - a % L, b, L):  # the row groups that hold part rows [a, b)
                lo, hi = max(a, g0), min(b, g0 + L)
                block = (f.groups[g0 // L] if g0 // L < p.full_streams else f.last)[:, lo - g0:hi - g0]  # (width, n)
                out[p.start + lo - start:p.start + hi - start] = (block if idx is None else block[idx]).T
        return out

    def _part(self, what: str, p: PartPlan) -> np.ndarray:
        """A part's ids (rows,) or boundary states (layers, streams, H), loaded once."""
        key = (what, p.index)
        with self._lock:
            if key not in self._part_data:
                if what == "ids":
                    path = layout.text_file(self.path, p.index)
                    data = pq.read_table(path, columns=["id"]).column("id").to_numpy()
                else:
                    path = layout.boundary_file(self.path, p.index)
                    try:
                        data = np.load(path, allow_pickle=False)
                    except (OSError, ValueError) as err:
                        raise RecordingError(f"{path} cannot be read: {err}") from None
                self._part_data[key] = data
            return self._part_data[key]

    @cached_property
    def _gates(self) -> Gates:
        model, _ = manifest.load_model(self.path, self.meta)
        return Gates(model)

    def _derive(self, layer: int, kind: str, units, start: int, stop: int) -> np.ndarray:
        """A gate over [start, stop) from the stored h (see `derive`): (n, len(units)) float32."""
        if stop <= start:
            return np.zeros((0, self.hidden if units is None else len(units)), np.float32)
        if layer == 0:
            x = self._gates.embed(self.ids(start, stop))  # (n, E)
        else:
            x = torch.from_numpy(self._read(layer - 1, "h", None, start, stop))  # (n, H)
        h_prev = np.zeros((stop - start, self.hidden), np.float32)  # (n, H): h at t - 1
        lo = max(start, 1)
        h_prev[lo - start:] = self._read(layer, "h", None, lo - 1, stop - 1)
        for p in self._parts_between(start, stop):  # each stream's first row: its state after burn-in
            firsts = p.start + p.segment * np.arange(p.streams)
            inside = (firsts >= start) & (firsts < stop)
            h_prev[firsts[inside] - start] = self._part("boundary", p)[layer][inside]
        return self._gates(layer, kind, x, torch.from_numpy(h_prev), units).numpy()

