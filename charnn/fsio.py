"""Crash-safe file writes: write beside the target, fsync, then rename over it.

A kill or a full disk mid-write leaves the previous file (or none), never a truncated one
that looks valid.
"""

from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

_UMASK = os.umask(0)  # read once: os.umask can only be read by setting it
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK  # what open() gives a new file; tools that write their own file may not


@contextmanager
def atomic_path(path: Path):
    """Yield a temporary path next to `path`; on success rename it onto `path`."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path: Path, payload) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


@contextmanager
def atomic_dir(path: Path):
    """Yield a temporary folder next to `path`; on success rename it onto `path`.

    An existing `path` is replaced only after the new folder is complete. What a killed process
    left beside `path` (its own temporary or old folder) is removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(path)
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
        install_dir(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def install_dir(complete: Path, path: Path) -> None:
    """Rename the folder `complete` onto `path`, replacing an existing `path` only now, and make
    the rename durable (fsync of the parent folder)."""
    if path.exists():
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        os.replace(path, old)
        os.replace(complete, path)
        shutil.rmtree(old)
    else:
        os.replace(complete, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_leftovers(path: Path) -> list[Path]:
    """Remove the `.NAME.partial-PID` and `.NAME.old-PID` folders of `path` whose process is gone
    (killed mid-write); returns what was removed. A live writer's folders are left alone."""
    removed = []
    for leftover in Path(path).parent.glob(f".{Path(path).name}.*-*"):
        kind, _, pid = leftover.name[len(Path(path).name) + 2:].rpartition("-")
        if kind in ("partial", "old") and pid.isdigit() and not _alive(int(pid)) and leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
            removed.append(leftover)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True
