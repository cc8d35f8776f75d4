"""Crash-safe file writes: write beside the target, fsync, then rename over it; and the lock a
writer holds so that a second one of the same target stops with a clear error.

    with atomic_dir(folder, replaceable=is_mine) as tmp:   # is_mine(folder): may an existing one go?
        (tmp / "data.bin").write_bytes(...)
    with exclusive_lock(lock_path, "another recorder is writing runs/x/recordings/val"):
        ...

A kill or a full disk mid-write leaves the previous file (or none), never a truncated one
that looks valid. A folder is only ever replaced by one of the same kind: each writer says what
it may replace (a recording, an autoencoder), and any other existing folder is refused, untouched.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

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


class NotReplaceable(FileExistsError):
    """An existing folder a writer would replace, which is not one it writes."""

    def __str__(self) -> str:
        return self.args[0]


def check_replaceable(path: Path, replaceable: Callable[[Path], bool], what: str) -> None:
    """Refuse (NotReplaceable) when `path` exists and is not a `what` charnn wrote (`replaceable`
    says which are), or is a symbolic link: nothing of it is touched."""
    path = Path(path)
    if path.is_symlink() or (path.exists() and not (path.is_dir() and replaceable(path))):
        raise NotReplaceable(f"{path} exists and is not a {what} charnn wrote: it is left as it is; "
                             "choose another name, or move it away first")


@contextmanager
def atomic_dir(path: Path, replaceable: Callable[[Path], bool], what: str = "folder"):
    """Yield a temporary folder next to `path`; on success rename it onto `path`.

    An existing `path` is replaced only after the new folder is complete, and only if
    `replaceable(path)` (else NotReplaceable, before anything is written). What a killed process
    left beside `path` (its own temporary or old folder) is removed first.
    """
    path = Path(path)
    check_replaceable(path, replaceable, what)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(path)
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
        install_dir(tmp, path, replaceable, what)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def install_dir(complete: Path, path: Path, replaceable: Callable[[Path], bool], what: str = "folder") -> None:
    """Rename the folder `complete` onto `path`, replacing an existing `path` only now and only if
    `replaceable(path)` (see check_replaceable), and make the rename durable (fsync of the parent)."""
    check_replaceable(path, replaceable, what)
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


@contextmanager
def exclusive_lock(path: Path, busy: str):
    """Hold the lock file `path` (flock: released if the process dies) for the block; a second
    holder gets OSError(`busy` + how to go on) at once. The file is removed on release."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockBusy(f"{busy} (it holds {path}): wait for it to finish, or stop it, then run this again") from None
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break  # the file we locked is still the lock file (a finishing holder removes it)
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


def remove_free_locks(folder: Path) -> list[Path]:
    """Remove the `.*.lock` files in `folder` that no live process holds (left by a killed writer);
    returns them. A held lock is left alone; a writer that opens one just now sees it replaced and
    locks the new file (exclusive_lock checks the inode it locked)."""
    removed = []
    for path in sorted(Path(folder).glob(".*.lock")) if Path(folder).is_dir() else []:
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            path.unlink(missing_ok=True)
            removed.append(path)
        except BlockingIOError:
            pass
        finally:
            os.close(fd)
    return removed


class LockBusy(BlockingIOError):
    """A lock another live process holds."""

    def __str__(self) -> str:
        return self.args[0]


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
