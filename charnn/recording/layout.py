"""Where a recording keeps what (schema version 2).

    runs/<run>/recordings/<name>/                    (the run's part of the path: charnn.run.RunFolder)
      meta.json                                      the manifest, written last: sizes, settings, parts
      model.safetensors, vocab.json                  the weights and vocabulary it was recorded with
      parts/part-<n>.json                            part n's marker: its files, their sizes, unit statistics
      text/part-<n>.parquet                          pos, char, id, doc, line, col, loss_bits, p, next_top, next_top_p
      states/layer=<l>/kind=<k>/part-<n>.parquet     pos, u0000 ... (one column per unit; see statefile)
      boundary/part-<n>.npy                          (layers, streams, H) float32: h before each stream's first row
      cache/                                         derived (search summaries, memory spans, features), rebuilt if deleted

A recording is valid only when meta.json lists every part and every listed file has the listed
size. While it is written, everything is in `.<name>.partial` beside it (with `plan.json` instead
of meta.json), renamed into place when complete.
"""

from __future__ import annotations

from pathlib import Path

from ..run import RunFolder

SCHEMA_VERSION = 2
META = "meta.json"  # the manifest: its presence is what makes a folder a complete recording


def is_recording(path: str | Path) -> bool:
    """Whether a folder holds a complete recording: its manifest, meta.json, is written last, in a
    hidden folder (.NAME.partial) that is then renamed into place."""
    return not Path(path).name.startswith(".") and (Path(path) / META).is_file()


def recordings(run: str | Path) -> list[str]:
    """Names of the complete recordings of a run, sorted."""
    folder = RunFolder(run).recordings_dir
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if is_recording(p))


def probe_steps(run: str | Path) -> dict[int, Path]:
    """{training step: recording folder} of the probe recordings made during training, in step order."""
    folder = RunFolder(run)
    found = ((folder.probe_step(name), name) for name in recordings(run))
    return {step: folder.recording_path(name) for step, name in sorted(found) if step is not None}


def part_name(part: int) -> str:
    return f"part-{part:05d}"


def states_file(root: Path, layer: int, kind: str, part: int) -> Path:
    return Path(root) / "states" / f"layer={layer}" / f"kind={kind}" / f"{part_name(part)}.parquet"


def text_file(root: Path, part: int) -> Path:
    return Path(root) / "text" / f"{part_name(part)}.parquet"


def boundary_file(root: Path, part: int) -> Path:
    return Path(root) / "boundary" / f"{part_name(part)}.npy"


def marker_file(root: Path, part: int) -> Path:
    return Path(root) / "parts" / f"{part_name(part)}.json"


def cache_dir(root: str | Path) -> Path:
    """The recording's folder of derived files (safe to delete: each is rebuilt when wanted)."""
    return Path(root) / "cache"


def cache_file(rec, name: str) -> Path | None:
    """A derived file of `rec` keyed by its recording_id, or None for a recording without a folder or
    an id (an in-memory test double), which is not cached."""
    meta = getattr(rec, "meta", None)
    if getattr(rec, "path", None) is None or not isinstance(meta, dict) or not meta.get("recording_id"):
        return None
    return cache_dir(rec.path) / name


def partial_folder(target: Path) -> Path:
    """The hidden folder a recording of `target` is written in."""
    return Path(target).with_name(f".{Path(target).name}.partial")


def lock_file(target: Path) -> Path:
    return Path(target).with_name(f".{Path(target).name}.lock")
