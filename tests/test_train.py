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
from charnn.train import TrainConfig, Trainer


def config(corpus, out, steps, **kw):
    settings = dict(seq_len=32, batch_size=16, max_steps=steps, eval_every=10, warmup_steps=5, eval_chars=4000)
    return TrainConfig(corpus=str(corpus), out=str(out), **{**settings, **kw})


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
    """A disabled tqdm has no .unit; the time budget still ends training."""
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


@pytest.mark.slow
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


def run_cli(*argv, timeout=120):
    return subprocess.run([sys.executable, "-m", "charnn.cli", *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def stopped_run(small_corpus, tmp_path_factory):
    """A run stopped at step 10 of 20 (as Ctrl-C would), trained with split 0.8,0.1,0.1 and seq-len 32."""
    out = tmp_path_factory.mktemp("stopped") / "run"
    cfg = config(small_corpus, out, 20, split=(0.8, 0.1, 0.1))
    trainer = Trainer(cfg, dict(layers=1, hidden=16, embed=8))
    trainer.on_eval.append(lambda t, step: setattr(t, "stop_requested", True))
    trainer.fit(progress=False)
    return out


@pytest.mark.parametrize("flag, value, theirs", [
    ("--split", "0.9,0.05,0.05", "0.8,0.1,0.1"), ("--seq-len", "64", "32"), ("--batch-size", "4", "16"),
    ("--lr", "0.01", "0.006"), ("--hidden", "32", "16"), ("--cell", "gru", "lstm")])
def test_resume_refuses_flags_that_change_the_data_or_model(stopped_run, small_corpus, flag, value, theirs):
    before = (stopped_run / "config.json").read_text(), (stopped_run / "checkpoint.pt").read_bytes()
    result = run_cli("train", small_corpus, "--out", stopped_run, "--resume", flag, value)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = result.stderr.strip()
    assert "\n" not in line and f"{flag} " in line and f"the run's {theirs}" in line, line
    assert ((stopped_run / "config.json").read_text(), (stopped_run / "checkpoint.pt").read_bytes()) == before


def test_resume_takes_the_run_settings_and_a_new_budget(stopped_run, small_corpus, tmp_path):
    import shutil
    out = tmp_path / "run"
    shutil.copytree(stopped_run, out)
    result = run_cli("train", small_corpus, "--out", out, "--resume", "--max-steps", 14, "--eval-every", 2)
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    saved = json.loads((out / "config.json").read_text())["train"]
    assert summary["steps"] == 14 and summary["train_chars_seen"] == 14 * 16 * 32
    assert saved["split"] == [0.8, 0.1, 0.1] and saved["seq_len"] == 32  # config.json still tells the truth


@pytest.mark.parametrize("damage", [b"", b"PK\x03\x04 truncated"])
def test_damaged_checkpoint_is_named_with_what_still_works(stopped_run, small_corpus, tmp_path, damage):
    import shutil
    out = tmp_path / "run"
    shutil.copytree(stopped_run, out)
    (out / "checkpoint.pt").write_bytes(damage)
    result = run_cli("train", small_corpus, "--out", out, "--resume")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "checkpoint.pt is damaged" in result.stderr and "model.safetensors" in result.stderr
    load_run(out)  # the best weights still load


@pytest.mark.parametrize("flag, value", [("--seq-len", "0"), ("--batch-size", "-3"), ("--lr", "nan"),
                                         ("--max-minutes", "0"), ("--layers", "0"), ("--split", "0.5,0.6,-0.1"),
                                         ("--dropout", "1.5"), ("--eval-every", "x")])
def test_bad_numbers_are_refused_before_a_run_folder_exists(small_corpus, tmp_path, flag, value):
    out = tmp_path / "run"
    result = run_cli("train", small_corpus, "--out", out, flag, value, "--max-steps", 1)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert flag in result.stderr or flag.lstrip("-").replace("-", "_") in result.stderr or "dropout" in result.stderr
    assert not out.exists()


def test_python_api_checks_settings_before_writing(small_corpus, tmp_path):
    with pytest.raises(ValueError, match="--seq-len must be an integer >= 1"):
        Trainer(config(small_corpus, tmp_path / "r", 5, seq_len=0), dict(layers=1, hidden=8, embed=4))
    assert not (tmp_path / "r").exists()


def test_run_files_share_one_permission_mode(tiny_run):
    modes = {p.name: p.stat().st_mode & 0o777 for p in tiny_run.iterdir() if p.is_file()}
    assert len(set(modes.values())) == 1, modes


def test_time_budget_lifts_the_step_limit_and_cpu_defaults_are_small_batches(small_corpus, tmp_path):
    cfg = TrainConfig(corpus=str(small_corpus), out=str(tmp_path), max_minutes=1)
    assert cfg.max_steps > 10**9 and cfg.batch_size == 32 and cfg.lr == 6e-3
    cfg = TrainConfig(corpus=str(small_corpus), out=str(tmp_path))
    assert cfg.max_steps == 3000
    assert TrainConfig(corpus="x", out="y", device="cuda").batch_size == 64
