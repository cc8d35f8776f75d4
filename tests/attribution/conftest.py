"""Recordings of tiny trained models (a 2-layer LSTM and a GRU) for the attribution tests.

    .venv/bin/python -m pytest tests/attribution -q
"""

from __future__ import annotations

from pathlib import Path

import pytest

from charnn.recording import open_recording, record
from charnn.train import Trainer, TrainConfig


@pytest.fixture(scope="session")
def lstm_rec(tiny_run):
    """The 2x32 LSTM's validation text, 4 streams with a burn-in, float16, every kind but i f g o stored."""
    return open_recording(record(tiny_run, "val", name="attr", streams=4, burn_in=32, progress=False))


@pytest.fixture(scope="session")
def gru_run(tmp_path_factory, small_corpus) -> Path:
    out = tmp_path_factory.mktemp("runs") / "gru"
    cfg = TrainConfig(corpus=str(small_corpus), out=str(out), seq_len=32, batch_size=16, max_steps=40,
                      eval_every=20, warmup_steps=5, eval_chars=5000, lr=1e-2)
    Trainer(cfg, dict(cell="gru", layers=2, hidden=32, embed=16)).fit()
    return out


@pytest.fixture(scope="session")
def gru_rec(gru_run):
    return open_recording(record(gru_run, "val", name="attr", streams=4, burn_in=32, progress=False))
