"""Which runs and recordings exist under RUNS_DIR, and the only way a name from the browser
becomes a path: `safe_join` refuses anything that would leave RUNS_DIR.

    safe_join(Path("runs"), "austen", "recordings", "val")   # -> /abs/runs/austen/recordings/val
    safe_join(Path("runs"), "..", "etc")                       # PathError
"""

from __future__ import annotations

from pathlib import Path


class PathError(ValueError):
    """A run or recording name that is not a plain name inside RUNS_DIR."""


def check_name(name) -> str:
    """A single path component: not empty, not . or .., no separators or NUL."""
    if not isinstance(name, str) or name in ("", ".", "..") or any(c in name for c in "/\\\0"):
        raise PathError(f"{name!r} is not a run or recording name")
    return name


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
    return safe_join(root, run, "recordings", recording)


def list_runs(root: str | Path) -> list[str]:
    """Names of the run folders (those with a config.json) directly under root, sorted."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "config.json").is_file() and _inside(root, p))


def list_recordings(root: str | Path, run: str) -> list[str]:
    """Names of the recordings (folders with a meta.json) of one run, sorted."""
    folder = safe_join(root, run, "recordings")
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / "meta.json").is_file() and _inside(root, p))


def _inside(root: Path, path: Path) -> bool:
    root = root.resolve()
    resolved = path.resolve()
    return resolved != root and resolved.is_relative_to(root)
