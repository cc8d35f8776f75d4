"""An in-memory recording with the reader interface of `charnn.open_recording`, for the search tests.

    pytest -q tests/search
"""

from __future__ import annotations

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

    def iter_chunks(self, kinds=None, chunk_chars=65536):
        kinds = self.kinds if kinds is None else kinds
        for start in range(0, self.n_chars, chunk_chars):
            stop = min(start + chunk_chars, self.n_chars)
            a = {k: v[start:stop] for k, v in self.acts.items() if k[1] in kinds}
            for v in a.values():
                v.flags.writeable = False  # the real reader may hand out read-only Arrow buffers
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


@pytest.fixture
def planted_rec():
    from charnn.text.targets import regex_target
    text, acts = planted()
    y = regex_target(text, r'"[^"]*"')
    acts[(1, "c")][:, 5] = y + 0.2 * np.random.default_rng(1).standard_normal(len(text))
    return FakeRecording(text, acts), y
