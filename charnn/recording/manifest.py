"""A recording's plan, part markers and manifest: what makes a folder a recording, and what a
rerun may reuse.

    plan = read_plan(partial)                       # plan.json: settings, kinds, parts (while writing)
    write_marker(partial, plan, part, files, stats)  # part done: written last, after its files are durable
    read_marker(partial, plan, part)                # the marker, or None: missing, damaged or another plan's
    meta = write_manifest(partial, plan, seconds)   # meta.json: the plan, every file and its size, unit stats
    check_files(folder, meta)                       # RecordingError naming a missing or resized file

The plan's `fingerprint` covers everything that decides a recording's content (model, text,
kinds, dtype, parts and streams): a marker counts only for the plan it was written for, so a
rerun with other settings starts over while a rerun of the same command keeps the complete parts.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from ..fsio import write_json
from ..run import build_model
from ..vocab import Vocab
from . import layout
from .pack import UnitStats

MODEL, VOCAB, PLAN = "model.safetensors", "vocab.json", "plan.json"
META = layout.META


class RecordingError(ValueError):
    """A recording folder that is missing, incomplete, damaged, or from another charnn."""


def fingerprint(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def read_json(path: Path, what: str) -> dict:
    """A JSON object from `path`; RecordingError naming the file if it cannot be read."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RecordingError(f"{path} ({what}) cannot be read: {err}") from None
    if not isinstance(value, dict):
        raise RecordingError(f"{path} ({what}) is not a JSON object: it is damaged")
    return value


def written_by_charnn(folder: Path) -> bool:
    """Whether `folder` holds a complete recording's manifest (the only kind of folder a recorder
    may replace): meta.json, a JSON object with the schema version and the list of files."""
    try:
        meta = read_json(Path(folder) / META, "the recording's manifest")
    except RecordingError:
        return False
    return "schema_version" in meta and isinstance(meta.get("files"), dict)


def read_plan(folder: Path) -> dict:
    return read_json(Path(folder) / PLAN, "the recording's plan")


def durable(path: Path) -> int:
    """fsync a file written elsewhere; returns its size."""
    with open(path, "rb") as f:
        os.fsync(f.fileno())
        return os.fstat(f.fileno()).st_size


def write_marker(folder: Path, plan: dict, part: int, files: list[Path], stats: dict[str, UnitStats]) -> dict:
    """Part `part` is complete: its files (already durable) with their sizes, and its unit statistics."""
    marker = {"part": part, "fingerprint": plan["fingerprint"],
              "files": {str(Path(f).relative_to(folder)): os.stat(f).st_size for f in files},
              "stats": {key: s.to_json() for key, s in stats.items()}}
    path = layout.marker_file(folder, part)
    path.parent.mkdir(exist_ok=True)
    write_json(path, marker)
    return marker


def read_marker(folder: Path, plan: dict, part: int) -> dict | None:
    """The marker of a complete part of this plan whose files are all there with their sizes; None
    otherwise (a damaged marker is reported and its part written again)."""
    path = layout.marker_file(folder, part)
    if not path.is_file():
        return None
    try:
        marker = read_json(path, f"the marker of part {part}")
    except RecordingError as err:
        warnings.warn(f"{err}: writing part {part} again", stacklevel=2)
        return None
    if marker.get("fingerprint") != plan["fingerprint"] or marker.get("part") != part:
        return None
    for name, size in marker.get("files", {}).items():
        f = Path(folder) / name
        if not f.is_file() or f.stat().st_size != size:
            return None
    return marker


def merged_stats(markers: list[dict]) -> dict[str, dict]:
    """Per "layer:kind", the statistics over every part: n, min, max, mean, std per unit."""
    out = {}
    for key in markers[0]["stats"]:
        total = UnitStats.from_json(markers[0]["stats"][key])
        for m in markers[1:]:
            total.merge(UnitStats.from_json(m["stats"][key]))
        mean, std = total.mean_std()
        out[key] = {"n": total.n, "min": total.lo.tolist(), "max": total.hi.tolist(), "mean": mean.tolist(),
                    "std": std.tolist()}
    return out


def write_manifest(folder: Path, plan: dict, markers: list[dict], extra: dict) -> dict:
    """meta.json, written last: the plan, `extra`, every part's files with their sizes, unit statistics."""
    files = {}
    for part, marker in enumerate(markers):
        files.update(marker["files"])
        name = str(layout.marker_file(folder, part).relative_to(folder))
        files[name] = durable(layout.marker_file(folder, part))
    for name in (MODEL, VOCAB):
        files[name] = durable(Path(folder) / name)
    meta = {k: v for k, v in plan.items()}
    meta.update(extra)
    meta["files"] = files
    meta["unit_stats"] = merged_stats(markers)
    write_json(Path(folder) / META, meta)
    return meta


def check_files(folder: Path, meta: dict) -> None:
    """Every file the manifest lists is there with its size, else RecordingError naming it. A
    listed name must stay inside the folder (a damaged or hostile manifest is not followed out)."""
    for name, size in meta["files"].items():
        path = inside(folder, name)
        try:
            actual = path.stat().st_size
        except OSError:
            raise RecordingError(f"{path} is missing: the recording {folder} is incomplete; "
                                 "record it again") from None
        if actual != size:
            raise RecordingError(f"{path} has {actual:,} bytes where the recording's meta.json says {size:,}: "
                                 "it is truncated or damaged; record it again")


def check_sizes(folder: Path, meta: dict, parts, layers: int, hidden: int, stored: dict[int, dict]) -> None:
    """The sizes meta.json states (layers, hidden, each kind's width, each part's rows) agree with the
    files it lists, else RecordingError naming the manifest: every array a reader allocates from
    them is then bounded by bytes that exist on disk (at least 2 bytes per stored value)."""
    def damaged(what: str):
        return RecordingError(f"{Path(folder) / META} is damaged ({what}): record it again")

    if len(stored) != layers or sorted(stored) != list(range(len(stored))) or not isinstance(meta.get("model"), dict) \
            or meta["model"].get("hidden") != hidden:
        raise damaged(f"{layers} layers of {hidden} units do not match its stored kinds and model")
    for layer, kinds in stored.items():
        if kinds.get("h") != hidden:
            raise damaged(f"layer {layer} does not store h with {hidden} units")
        for kind, width in kinds.items():
            if isinstance(width, bool) or not isinstance(width, int) or width < 1:
                raise damaged(f"kind {kind} of layer {layer} has width {width!r}")
            for p in parts:
                name = str(layout.states_file(Path(""), layer, kind, p.index))
                size = meta["files"].get(name)
                if not isinstance(size, int) or p.rows < 0 or width * p.rows * 2 > size:
                    raise damaged(f"{width} units x {p.rows} rows do not fit in {name} of {size} bytes")


def inside(folder: Path, name: str) -> Path:
    """folder / name for a file a manifest lists, refused unless it is a relative path that stays
    inside the folder (no absolute path, no `..`, no symbolic link leading out)."""
    root = Path(folder).resolve()
    path = (root / str(name)).resolve()
    if Path(str(name)).is_absolute() or ".." in Path(str(name)).parts or not path.is_relative_to(root) or path == root:
        raise RecordingError(f"{Path(folder) / META} lists the file {str(name)[:80]!r}, which is not inside the "
                             "recording: the manifest is damaged; record it again")
    return Path(folder) / name


def load_model(folder: Path, meta: dict) -> tuple[torch.nn.Module, Vocab]:
    """The model and vocabulary a recording was made with (its own copy, not the run's)."""
    model = build_model(meta.get("model"), Path(folder) / MODEL, Path(folder) / META, RecordingError)
    return model, Vocab.load(Path(folder) / VOCAB)


def model_hash(model: torch.nn.Module) -> str:
    """sha256 over the weights in state-dict order (the same for a run and its probe recordings)."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode() + tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def stats_arrays(meta: dict, layer: int, kind: str) -> dict[str, np.ndarray]:
    """min, max, mean, std (W,) float32 of one (layer, kind), from the manifest."""
    s = meta["unit_stats"][f"{layer}:{kind}"]
    return {k: np.asarray(s[k], np.float32) for k in ("min", "max", "mean", "std")}
