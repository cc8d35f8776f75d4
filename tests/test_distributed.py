"""Training with torchrun (DistributedDataParallel, gloo on the CPU): the same numbers as one
process, and resumable on the same or another number of processes. Run: pytest tests/test_distributed.py
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

JOB = Path(__file__).with_name("ddp_job.py")
pytestmark = pytest.mark.slow  # each test starts several Python processes


def train(corpus, out, steps, processes=1, *flags):
    launcher = [sys.executable] if processes == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
    result = subprocess.run([*launcher, str(JOB), str(corpus), str(out), str(steps), *flags],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return torch.load(Path(out) / "checkpoint.pt", weights_only=True)


def assert_same_training(a: dict, b: dict, atol=1e-5):
    assert a["step"] == b["step"] and a["pos"] == b["pos"]
    for key, value in a["model"].items():
        torch.testing.assert_close(b["model"][key], value, rtol=0, atol=atol)
    assert len(a["state"]) == len(b["state"]) == 2  # LSTM (h, c) of every stream
    for x, y in zip(a["state"], b["state"]):
        assert x.shape == y.shape == (1, 16, 32)
        torch.testing.assert_close(y, x, rtol=0, atol=atol)


@pytest.fixture(scope="module")
def single(small_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "run"
    return train(small_corpus, out, 12), out


def test_two_processes_train_what_one_does(single, small_corpus, tmp_path):
    one, one_out = single
    two = train(small_corpus, tmp_path / "ddp", 12, 2)
    assert_same_training(one, two)
    assert len(two["rng_ranks"]) == 2
    summaries = [json.loads((p / "summary.json").read_text()) for p in (one_out, tmp_path / "ddp")]
    assert summaries[0]["best_val_bpc"] == pytest.approx(summaries[1]["best_val_bpc"], abs=1e-4)
    assert summaries[0]["test_bpc"] == pytest.approx(summaries[1]["test_bpc"], abs=1e-4)
    rows = (tmp_path / "ddp" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 13  # one writer: rank 0


@pytest.mark.parametrize("resume_processes", [2, 1])
def test_a_stopped_distributed_run_resumes_on_the_same_or_another_number_of_processes(
        single, small_corpus, tmp_path, resume_processes):
    out = tmp_path / "ddp"
    stopped = train(small_corpus, out, 12, 2, "--stop-at", "6")
    assert stopped["step"] == 6
    resumed = train(small_corpus, out, 12, resume_processes, "--resume")
    assert_same_training(single[0], resumed)


def test_a_batch_the_processes_cannot_share_is_refused(small_corpus, tmp_path):
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "3",
                "-m", "charnn", "train", str(small_corpus), "--out", str(tmp_path / "r"), "--batch-size", "16",
                "--layers", "1", "--hidden", "8", "--max-steps", "2"]
    result = subprocess.run(launcher, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "--batch-size 16 cannot be shared by 3 processes" in result.stderr
