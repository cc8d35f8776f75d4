"""Recordings of tiny trained models (a 2-layer LSTM and a GRU) for the attribution tests.

    .venv/bin/python -m pytest tests/attribution -q
"""

from __future__ import annotations

import pytest

from charnn.recording import open_recording, record


@pytest.fixture(scope="session")
def lstm_rec(tiny_run):
    """The 2x32 LSTM's validation text, 4 streams with a burn-in, float16, every kind but i f g o stored."""
    return open_recording(record(tiny_run, "val", name="attr", streams=4, burn_in=32, progress=False))


@pytest.fixture(scope="session")
def gru_rec(tiny_gru_run):
    return open_recording(record(tiny_gru_run, "val", name="attr", streams=4, burn_in=32, progress=False))
