"""The trainer, checkpoints and sampling: `pytest tests/test_train.py`."""

import csv
import json
import math
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from charnn.model import CharRNN, ModelConfig
from charnn.run import RunError, load_run
from charnn.sample import generate
from charnn.train import Trainer, TrainConfig


def config(corpus, out, steps, **kw):
    return TrainConfig(corpus=str(corpus), out=str(out), seq_len=32, batch_size=16, max_steps=steps,
                       eval_every=10, warmup_steps=5, eval_chars=4000, **kw)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_every_cell_trains_and_beats_uniform(small_corpus, tmp_path, cell):
    summary = Trainer(config(small_corpus, tmp_path, 40, lr=1e-2), dict(cell=cell, layers=2, hidden=32, embed=16)).fit()
    run = load_run(tmp_path)
    assert summary["best_val_bpc"] < math.log2(len(run.vocab)) - 1  # well under the uniform guess
    assert summary["test_bpc"] is not None
    for name in ["config.json", "vocab.json", "model.safetensors", "checkpoint.pt", "metrics.csv", "summary.json"]:
        assert (tmp_path / name).exists()
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert len(rows) == 40 and rows[9]["val_bpc"] != ""


def test_time_budget_with_progress_bars_disabled(small_corpus, tmp_path):
    """A disabled tqdm has no .unit (the study once crashed on it); the time budget still ends training."""
    cfg = config(small_corpus, tmp_path, 10**6, max_minutes=0.02)
    summary = Trainer(cfg, dict(layers=1, hidden=16, embed=8)).fit(progress=False)
    assert 0 < summary["steps"] < 10**6 and summary["seconds"] >= 0.02 * 60


def test_resume_continues_exactly(small_corpus, tmp_path):
    straight = Trainer(config(small_corpus, tmp_path / "a", 20), dict(layers=1, hidden=32, embed=16, dropout=0.1))
    straight.fit()
    first = Trainer(config(small_corpus, tmp_path / "b", 20), dict(layers=1, hidden=32, embed=16, dropout=0.1))
    first.on_eval.append(lambda trainer, step: setattr(trainer, "stop_requested", True))  # as Ctrl-C at step 10
    assert first.fit()["interrupted"]
    resumed = Trainer(config(small_corpus, tmp_path / "b", 20), resume=True)
    assert resumed.step == 10
    resumed.fit()
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=0)
    rows = list(csv.DictReader(open(tmp_path / "b" / "metrics.csv")))
    assert [int(r["step"]) for r in rows] == list(range(1, 21))


def test_resume_refuses_a_different_corpus(small_corpus, tmp_path):
    Trainer(config(small_corpus, tmp_path / "run", 10), dict(layers=1, hidden=16, embed=8)).fit()
    other = tmp_path / "other.txt"
    other.write_text(small_corpus.read_text()[::-1])
    with pytest.raises(ValueError, match="differs"):
        Trainer(config(other, tmp_path / "run", 20), resume=True)


def test_killed_training_resumes_from_its_checkpoint(small_corpus, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "charnn.cli", "train", str(small_corpus), "--out", str(out), "--layers", "1",
           "--hidden", "32", "--seq-len", "32", "--batch-size", "8", "--eval-every", "5", "--threads", "1"]
    proc = subprocess.Popen(cmd + ["--max-steps", "100000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while not (out / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130 and b"--resume" in stdout
    step = torch.load(out / "checkpoint.pt", weights_only=True)["step"]
    assert step >= 5
    result = subprocess.run(cmd + ["--max-steps", str(step + 5), "--resume"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "summary.json").read_text())["steps"] == step + 5


def test_checkpoints_hold_no_code(tiny_run):
    torch.load(tiny_run / "checkpoint.pt", weights_only=True)  # refuses pickled objects
    assert set(load_file(str(tiny_run / "model.safetensors"))) == set(load_run(tiny_run).model.state_dict())


def test_sampling_is_deterministic_and_handles_unknown_characters(tiny_run):
    run = load_run(tiny_run)
    a = generate(run.model, run.vocab, "Elizabeth ☃", 80, temperature=0.8, top_k=10, seed=3)
    b = generate(run.model, run.vocab, "Elizabeth ☃", 80, temperature=0.8, top_k=10, seed=3)
    assert a == b and len(a) == 80
    assert generate(run.model, run.vocab, "Elizabeth", 80, seed=4) != a


def test_missing_run_gives_clear_error(tmp_path):
    with pytest.raises(RunError, match="does not exist"):
        load_run(tmp_path / "nope")
    (tmp_path / "half").mkdir()
    with pytest.raises(RunError, match="config.json"):
        load_run(tmp_path / "half")


def test_cli_reports_bad_corpus_without_traceback(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    result = subprocess.run([sys.executable, "-m", "charnn.cli", "train", str(empty), "--out", str(tmp_path / "r")],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "empty" in result.stderr and "Traceback" not in result.stderr


def test_model_config_validates():
    with pytest.raises(ValueError, match="cell"):
        ModelConfig(vocab_size=10, cell="transformer")
    model = CharRNN(ModelConfig(vocab_size=10, cell="gru", layers=3, hidden=8, embed=4))
    logits, state = model(torch.zeros(2, 5, dtype=torch.long))
    assert logits.shape == (2, 5, 10) and state.shape == (3, 2, 8)
