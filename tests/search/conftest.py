"""An in-memory recording with the reader interface of `charnn.open_recording`, for the search tests.

    pytest -q tests/search
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest


class FakeRecording:
    """text + activations {(layer, kind): (n_chars, hidden) float32}, read the way the real reader is."""

    def __init__(self, string: str, acts: dict[tuple[int, str], np.ndarray]):
        self.string = string
        self.n_chars = len(string)
        self.acts = {k: np.asarray(v, np.float32) for k, v in acts.items()}
        self.layers = 1 + max(layer for layer, _ in acts)
        self.kinds = list(dict.fromkeys(kind for _, kind in acts))
        self.hidden = next(iter(self.acts.values())).shape[1]
        assert all(a.shape == (self.n_chars, self.hidden) for a in self.acts.values())

    def units(self) -> pd.DataFrame:
        return pd.DataFrame([(layer, kind, u) for (layer, kind) in self.acts for u in range(self.hidden)],
                            columns=["layer", "kind", "unit"])

    def activations(self, layer, kind, units=None, start=0, stop=None):
        a = self.acts[(layer, kind)][start:stop]
        return a if units is None else a[:, list(units)]

    def iter_chunks(self, kinds=None, chunk_chars=65536, blocks=None, unit_major=False):
        kinds = self.kinds if kinds is None else kinds
        blocks = [k for k in self.acts if k[1] in kinds] if blocks is None else blocks
        for start in range(0, self.n_chars, chunk_chars):
            stop = min(start + chunk_chars, self.n_chars)
            a = {k: self.acts[k][start:stop].T if unit_major else self.acts[k][start:stop] for k in blocks}
            for v in a.values():
                v.flags.writeable = False  # the real reader hands out read-only views of its files
            yield start, stop, a

    def unit_range(self, layer, kind):
        a = self.acts[(layer, kind)]
        return a.min(0), a.max(0)


@pytest.fixture(scope="session")
def make_rec():
    return FakeRecording


def planted(n: int = 20_000, hidden: int = 16, unit: int = 5, seed: int = 0):
    """Random text with quoted spans; unit `unit` of (1, 'c') is the inside-quote mask plus noise."""
    rng = np.random.default_rng(seed)
    chars = rng.choice(list("abcdefgh ij\n"), n)
    starts = np.sort(rng.choice(np.arange(0, n - 40, 40), n // 200, replace=False))
    for s in starts:
        chars[s], chars[s + rng.integers(3, 30)] = '"', '"'
    text = "".join(chars)
    acts = {(layer, kind): rng.standard_normal((n, hidden)).astype(np.float32)
            for layer in (0, 1) for kind in ("c", "h")}
    return text, acts


class Planted:
    """Planted text with quoted spans, its quote target `y`, and c states of two layers (16 units
    each, unit 5 of layer 1 the quote mask plus noise) that a test may change before it asks for
    the recording: `rec()` is an in-memory FakeRecording (h random), or with backend "recording" a
    real recording read through charnn's memory-mapped reader: a random-weight LSTM's h over the
    text, and these c states stored as its kind c (float16, as recordings store states)."""

    def __init__(self, backend: str, folder, base=None):
        from charnn.text.targets import regex_target
        self.backend, self.folder, self.base = backend, folder, base
        self.text, acts = planted()
        self.y = regex_target(self.text, r'"[^"]*"')
        acts[(1, "c")][:, 5] = self.y + 0.2 * np.random.default_rng(1).standard_normal(len(self.text))
        self.acts = {k: v for k, v in acts.items() if k[1] == "c"}  # what a test plants into
        self.h = {k: v for k, v in acts.items() if k[1] == "h"}
        self.blocks = list(acts)  # (0, c), (0, h), (1, c), (1, h)

    def rec(self):
        if self.backend == "memory":
            return FakeRecording(self.text, {k: self.acts[k] if k in self.acts else self.h[k] for k in self.blocks})
        from charnn.recording import open_recording
        path = self.folder / f"rec-{len(list(self.folder.iterdir()))}"
        shutil.copytree(self.base, path)
        rec = open_recording(path)
        for layer in (0, 1):
            rec.add_kind(layer, "c", 16, lambda a, b, layer=layer: self.acts[(layer, "c")][a:b])
        return open_recording(path)


@pytest.fixture(scope="session")
def planted_base(tmp_path_factory):
    """A recording of the planted text by a random-weight 2x16 LSTM, h only (tests add their c)."""
    import torch

    from charnn.model import CharRNN, ModelConfig
    from charnn.recording import record
    from charnn.run import create_run
    from charnn.vocab import Vocab
    tmp = tmp_path_factory.mktemp("planted")
    text, _ = planted()
    vocab = Vocab.from_texts([text])
    torch.manual_seed(0)
    run = create_run(tmp / "run", CharRNN(ModelConfig(vocab_size=len(vocab), layers=2, hidden=16)).eval(), vocab)
    (tmp / "text.txt").write_text(text)
    return record(run, str(tmp / "text.txt"), kinds="h", streams=4, burn_in=32, out=tmp / "rec", progress=False)


@pytest.fixture(params=["memory", "recording"])
def planted_rec(request, tmp_path):
    """A Planted (see there) read in memory, or through a real recording."""
    base = request.getfixturevalue("planted_base") if request.param == "recording" else None
    return Planted(request.param, tmp_path, base)
