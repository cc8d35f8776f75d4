"""Which runs and recordings exist under RUNS_DIR, and the only way a name from the browser
becomes a path: `safe_join` refuses anything that would leave RUNS_DIR. Where a run keeps its
recordings is charnn.run.RunFolder's to say, which of them are complete charnn.recording's.

    run_path(Path("runs"), "austen")                 # -> /abs/runs/austen
    recording_path(Path("runs"), "austen", "val")    # -> /abs/runs/austen/recordings/val
    run_path(Path("runs"), "..")                     # PathError
"""

from __future__ import annotations

from pathlib import Path

from charnn.names import BadName
from charnn.names import check_name as check_plain_name
from charnn.recording import recordings
from charnn.run import RunFolder


class PathError(ValueError):
    """A run or recording name that is not a plain name inside RUNS_DIR."""


def check_name(name) -> str:
    """A plain name (charnn.names: one path component, no leading dot), else PathError."""
    try:
        return check_plain_name(name, "run or recording name")
    except BadName as err:
        raise PathError(str(err)) from None


def safe_join(root: str | Path, *names: str) -> Path:
    """root / names, resolved (symlinks followed); refused unless it stays strictly inside root."""
    root = Path(root).resolve()
    path = root.joinpath(*(check_name(n) for n in names)).resolve()
    if path == root or not path.is_relative_to(root):
        raise PathError(f"{'/'.join(names)!r} leads outside the runs folder {root}")
    return path


def run_path(root: str | Path, run: str) -> Path:
    return safe_join(root, run)


def recording_path(root: str | Path, run: str, recording: str) -> Path:
    path = RunFolder(run_path(root, run)).recording_path(check_name(recording)).resolve()
    if not _inside(Path(root), path):
        raise PathError(f"recording {recording!r} of {run!r} leads outside the runs folder {Path(root).resolve()}")
    return path


def list_runs(root: str | Path) -> list[str]:
    """Names of the run folders directly under root that stay inside it (a symlink may not lead out), sorted."""
    root = Path(root)
    return [name for name in RunFolder.list(root) if _inside(root, root / name)]


def list_recordings(root: str | Path, run: str) -> list[str]:
    """Names of the complete recordings of one run that stay inside root, sorted."""
    folder = RunFolder(safe_join(root, run))
    return [name for name in recordings(folder.path) if _inside(root, folder.recording_path(name))]


def _inside(root: Path, path: Path) -> bool:
    root = root.resolve()
    resolved = path.resolve()
    return resolved != root and resolved.is_relative_to(root)
