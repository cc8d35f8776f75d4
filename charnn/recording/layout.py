"""Where a recording keeps what (schema version 2).

    runs/<run>/recordings/<name>/
      meta.json                                      the manifest, written last: sizes, settings, parts
      model.safetensors, vocab.json                  the weights and vocabulary it was recorded with
      parts/part-<n>.json                            part n's marker: its files, their sizes, unit statistics
      text/part-<n>.parquet                          pos, char, id, doc, line, col, loss_bits, p, next_top, next_top_p
      states/layer=<l>/kind=<k>/part-<n>.parquet     pos, u0000 ... (one column per unit; see statefile)
      boundary/part-<n>.npy                          (layers, streams, H) float32: h before each stream's first row
      cache/                                         derived (search summaries), rebuilt if deleted

A recording is valid only when meta.json lists every part and every listed file has the listed
size. While it is written, everything is in `.<name>.partial` beside it (with `plan.json` instead
of meta.json), renamed into place when complete.
"""

from __future__ import annotations

from pathlib import Path

SCHEMA_VERSION = 2


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


def partial_folder(target: Path) -> Path:
    """The hidden folder a recording of `target` is written in."""
    return Path(target).with_name(f".{Path(target).name}.partial")


def lock_file(target: Path) -> Path:
    return Path(target).with_name(f".{Path(target).name}.lock")
