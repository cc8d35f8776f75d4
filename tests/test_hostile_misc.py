"""Weak spots a hostile but fair user finds: symlinks in a corpus, Ctrl-C, leftovers of a killed
recorder, a one-character recording, a diverging run, a held-out copy. Run: pytest tests/test_hostile_misc.py"""

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from charnn.cli import main
from charnn.corpus import document_paths
from charnn.explanations.engine import explain
from charnn.recording import open_recording, record
from charnn.recording.layout import lock_file, partial_folder
from charnn.train import Diverged, TrainConfig, Trainer


def test_symlinks_inside_a_corpus_folder_are_skipped_with_a_notice(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("plain text " * 20)
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0")
    (corpus / "b.txt").symlink_to(secret)
    (corpus / "sub").symlink_to(tmp_path, target_is_directory=True)
    with pytest.warns(UserWarning, match="skipped 2 symbolic link"):
        assert document_paths(corpus) == [corpus / "a.txt"]


def test_a_killed_recorders_lock_is_removed_and_its_partial_named(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("recordings"))
    stale = run / "recordings" / "old"
    partial_folder(stale).mkdir(parents=True)
    lock_file(stale).write_text("12345\n")  # no process holds it: its recorder was killed
    held = run / "recordings" / ".busy.lock"
    fd = os.open(held, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a live recorder's lock stays
    try:
        with pytest.warns(UserWarning, match=r"\.old\.partial is an unfinished recording"):
            record(run, "val", name="new", max_chars=300, progress=False)
        assert not lock_file(stale).exists() and held.exists() and partial_folder(stale).is_dir()
    finally:
        os.close(fd)


def test_a_one_character_recording_reports_no_nan(tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("recordings"))
    one = tmp_path / "one.txt"
    one.write_text("a")
    assert main(["record", str(run), str(one), "--name", "one"]) == 0
    out = capsys.readouterr().out
    assert "nan" not in out and "no character predicted" in out


def test_a_diverging_run_says_so(small_corpus, tmp_path):
    cfg = TrainConfig(corpus=str(small_corpus), out=str(tmp_path / "run"), seq_len=32, batch_size=8, max_steps=50,
                      eval_every=100, warmup_steps=0, eval_chars=2000, lr=1e9, clip=1e9)
    with pytest.raises(Diverged, match="training diverged at step .*lower --lr"):
        Trainer(cfg, dict(layers=1, hidden=16, embed=8)).fit(progress=False)
    Trainer(cfg, dict(layers=1, hidden=16, embed=8))  # the lock went with the failed fit


def test_explain_refuses_a_heldout_copy_of_the_same_text(tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("recordings"))
    rec = record(run, "val", name="val", max_chars=2000, progress=False)
    copy = shutil.copytree(rec, run / "recordings" / "val-copy")
    with pytest.raises(ValueError, match="holds the same text"):
        explain(open_recording(rec), heldout=open_recording(copy), progress=False)
    assert main(["explain", str(rec), "--heldout", str(rec)]) == 2
    assert "holds the same text" in capsys.readouterr().err


@pytest.mark.slow
def test_ctrl_c_during_explain_is_one_line(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("recordings"))
    rec = record(run, "train", name="train", progress=False)
    proc = subprocess.Popen([sys.executable, "-m", "charnn", "explain", str(rec)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    seen, deadline = b"", time.time() + 120
    while b"%|" not in seen and time.time() < deadline:  # the progress bar: the work has begun
        seen += os.read(proc.stderr.fileno(), 4096)
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=120)
    err = (seen + rest).decode()
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip() and "%|" not in line]
    assert proc.returncode == 130 and "Traceback" not in err and lines[-1] == (
        "charnn explain: interrupted; files already complete are kept"), err[-2000:]
