"""Crash-safe writes: pytest tests/test_fsio.py"""

import os
import subprocess
import sys

from charnn.fsio import atomic_dir, atomic_path


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_atomic_dir_removes_what_a_killed_writer_left(tmp_path):
    target = tmp_path / "rec"
    stale = tmp_path / f".rec.partial-{dead_pid()}"
    stale_old = tmp_path / f".rec.old-{dead_pid()}"
    live = tmp_path / f".rec.partial-{os.getppid()}"  # a live process's folder stays
    other = tmp_path / f".other.partial-{dead_pid()}"  # another target's folder stays
    for folder in (stale, stale_old, live, other):
        folder.mkdir()
        (folder / "half.bin").write_bytes(b"x")
    with atomic_dir(target, lambda folder: True) as tmp:
        (tmp / "done").write_text("yes")
    assert (target / "done").read_text() == "yes"
    assert not stale.exists() and not stale_old.exists() and live.exists() and other.exists()


def test_atomic_path_leaves_the_old_file_on_failure(tmp_path):
    target = tmp_path / "f.json"
    target.write_text("old")
    try:
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise OSError("disk full")
    except OSError:
        pass
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]
