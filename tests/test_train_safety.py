"""A run's history survives a forgotten --resume, a second trainer and a kill -9.
Run: pytest tests/test_train_safety.py  (the kill test is marked slow)"""

import csv
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from charnn.cli import main
from charnn.train import RunBusy, TrainConfig, Trainer

MODEL = dict(layers=1, hidden=16, embed=8)


def config(corpus, out, steps, **kw):
    return TrainConfig(corpus=str(corpus), out=str(out), seq_len=32, batch_size=8, max_steps=steps, eval_every=5,
                       warmup_steps=2, eval_chars=2000, **kw)


def rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))[1:]


def test_training_into_an_existing_run_without_resume_is_refused(small_corpus, tmp_path, capsys):
    out = tmp_path / "run"
    Trainer(config(small_corpus, out, 10), MODEL).fit(progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    code = main(["train", str(small_corpus), "--out", str(out), "--max-steps", "3", "--layers", "1", "--hidden", "8"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and str(out) in err[0] and "--resume" in err[0] and "another --out" in err[0]
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_a_second_trainer_on_the_same_folder_is_refused(small_corpus, tmp_path):
    out = tmp_path / "run"
    first = Trainer(config(small_corpus, out, 6), MODEL)
    with pytest.raises(RunBusy, match="another trainer is writing"):
        Trainer(config(small_corpus, out, 6), MODEL)
    first.fit(progress=False)
    assert [int(r[0]) for r in rows(out / "metrics.csv")] == list(range(1, 7))
    resumed = Trainer(config(small_corpus, out, 12), resume=True)  # the lock went with the first trainer's fit
    resumed.fit(progress=False)


def test_resume_with_a_step_budget_already_spent_says_so(small_corpus, tmp_path):
    out = tmp_path / "run"
    Trainer(config(small_corpus, out, 10), MODEL).fit(progress=False)
    with pytest.raises(ValueError, match="trained 10 steps already, so --max-steps 5 leaves nothing to do"):
        Trainer(config(small_corpus, out, 5), resume=True)


def test_a_default_run_name_from_a_corpus_without_a_name_needs_out(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.txt").write_text("abc " * 200)
    assert main(["train", ".", "--max-steps", "1"]) == 2
    assert "give --out" in capsys.readouterr().err and not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_sigkill_mid_training_then_resume_keeps_every_row(small_corpus, tmp_path):
    out, steps = tmp_path / "run", 120
    argv = [sys.executable, "-m", "charnn", "train", str(small_corpus), "--out", str(out), "--max-steps", str(steps),
            "--eval-every", "10", "--layers", "1", "--hidden", "16", "--embed", "8", "--seq-len", "32",
            "--batch-size", "8", "--threads", "1", "--device", "cpu"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_after = random.Random().randint(25, 90)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (out / "metrics.csv").is_file() and len(rows(out / "metrics.csv")) >= kill_after:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = rows(out / "metrics.csv")
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)["step"]
    assert len(before) >= kill_after and len(before) >= checkpoint >= 20, (len(before), checkpoint)
    resumed = subprocess.run(argv + ["--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = rows(out / "metrics.csv")
    assert [int(r[0]) for r in after] == list(range(1, steps + 1))
    assert after[:checkpoint] == [r for r in before if int(r[0]) <= checkpoint]
