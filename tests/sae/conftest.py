"""Fixtures for the autoencoder tests: an in-memory recording of given states, and a real
recording of the tiny run's validation text.

    pytest -q tests/sae
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from charnn.recording import open_recording, record
from charnn.sae.model import SAEConfig, SparseAutoencoder


class ArrayRecording:
    """The part of charnn.Recording that training reads: n_chars, layers, hidden, kinds, iter_chunks."""

    def __init__(self, states: np.ndarray, layer: int = 0, kind: str = "c"):
        self.states, self.key = np.asarray(states, np.float32), (layer, kind)
        self.n_chars, self.hidden = self.states.shape
        self.layers, self.kinds, self.path, self.meta = layer + 1, [kind], "in memory", {}

    def iter_chunks(self, kinds=None, chunk_chars=65536, layers=None, start=0, stop=None):
        end = self.n_chars if stop is None else min(stop, self.n_chars)
        for a in range(start, end, chunk_chars):
            b = min(end, a + chunk_chars)
            block = self.states[a:b]
            block.flags.writeable = False
            yield a, b, {self.key: block}


def unit_pairs(layer: int, kind: str, hidden: int) -> SparseAutoencoder:
    """An autoencoder that is exactly the identity: latent u reads and writes +e_u, latent H + u
    reads and writes -e_u, every latent selected (k = 2H), so ReLU keeps each unit's positive
    part in one latent and its negative part in the other."""
    sae = SparseAutoencoder(SAEConfig(layer=layer, kind=kind, hidden=hidden, latents=2 * hidden, k=2 * hidden,
                                      refit=False))  # the encoder's values are exact here
    eye = torch.eye(hidden)
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([eye, -eye]))
        sae.W_dec.copy_(torch.cat([eye, -eye]))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae.eval()


@pytest.fixture(scope="session")
def make_array_rec():
    return ArrayRecording


@pytest.fixture(scope="session")
def make_unit_pairs():
    return unit_pairs


@pytest.fixture(scope="session")
def tiny_rec(tiny_run):
    """The tiny run's validation text, recorded in float32 (c, h)."""
    return open_recording(record(tiny_run, "val", name="sae-val", dtype="float32", progress=False))
