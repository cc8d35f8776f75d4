"""Shared fixtures: a small corpus cut from the bundled Austen novels and a tiny trained run.

Run the suite with `bash scripts/test.sh` (sets everything up) or `.venv/bin/pytest -q`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from charnn.corpus_store import corpora_dir
from charnn.train import TrainConfig, Trainer

torch.set_num_threads(1)  # tests run beside other work; one thread keeps them predictable


@pytest.fixture(scope="session")
def austen_text() -> str:
    return (corpora_dir() / "austen" / "02-pride-and-prejudice.txt").read_text()[:80_000]


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory, austen_text) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "pride.txt"
    path.write_text(austen_text)
    return path


def train_tiny(corpus: Path, out: Path, steps: int = 60, cell: str = "lstm", layers: int = 1, **kw) -> dict:
    cfg = TrainConfig(corpus=str(corpus), out=str(out), seq_len=32, batch_size=16, max_steps=steps,
                      eval_every=max(1, steps // 2), warmup_steps=5, eval_chars=5000, **kw)
    trainer = Trainer(cfg, dict(cell=cell, layers=layers, hidden=32, embed=16))
    return trainer.fit()


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, small_corpus) -> Path:
    """A 2x32 LSTM trained for 80 steps on 80k characters of Pride and Prejudice."""
    out = tmp_path_factory.mktemp("runs") / "tiny"
    cfg = TrainConfig(corpus=str(small_corpus), out=str(out), seq_len=32, batch_size=16, max_steps=80,
                      eval_every=40, warmup_steps=5, eval_chars=5000, lr=1e-2)
    Trainer(cfg, dict(cell="lstm", layers=2, hidden=32, embed=16)).fit()
    return out


@pytest.fixture(scope="session")
def tiny_gru_run(tmp_path_factory, small_corpus) -> Path:
    """A 2x32 GRU trained for 40 steps."""
    out = tmp_path_factory.mktemp("runs") / "gru"
    train_tiny(small_corpus, out, steps=40, cell="gru", layers=2, lr=1e-2)
    return out
