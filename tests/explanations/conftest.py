"""Synthetic recordings whose units are known functions of the text, for the explain tests.

    pytest -q tests/explanations
"""

from __future__ import annotations

import numpy as np
import pytest

from charnn.text.parser import parse


class SyntheticRecording:
    """text + values {(layer, kind): (n, H) float32}, read through the reader's interface; `path`
    (optional) is where explanations.parquet and the feature cache go."""

    def __init__(self, string: str, acts: dict, path=None):
        self.string, self.n_chars = string, len(string)
        self.acts = {k: np.asarray(v, np.float32) for k, v in acts.items()}
        self.layers = 1 + max(layer for layer, _ in acts)
        self.kinds = list(dict.fromkeys(kind for _, kind in acts))
        self.hidden = next(iter(self.acts.values())).shape[1]
        self.path, self.meta = path, {"recording_id": "synthetic"}

    def iter_chunks(self, kinds=None, chunk_chars=65536, start=0, stop=None, blocks=None, unit_major=False):
        end = self.n_chars if stop is None else stop
        blocks = [k for k in self.acts if k[1] in (kinds or self.kinds)] if blocks is None else blocks
        for a in range(start, end, chunk_chars):
            b = min(a + chunk_chars, end)
            yield a, b, {k: self.acts[k][a:b].T if unit_major else self.acts[k][a:b] for k in blocks}

    def unit_range(self, layer, kind):
        a = self.acts[(layer, kind)]
        return a.min(0), a.max(0)


def synthetic_text(n: int, seed: int = 0) -> str:
    """Words in lines of 30-70 characters, with (parenthesised) and "quoted" spans."""
    rng = np.random.default_rng(seed)
    words = ["the", "a", "cat", "sat", "on", "mat", "and", "it", "was", "very", "happy", "Emma", "said", "no"]
    out, line = [], 0
    while sum(map(len, out)) < n:
        w = str(rng.choice(words))
        r = rng.random()
        if r < 0.08:
            w = "(" + w + " " + str(rng.choice(words)) + ")"
        elif r < 0.14:
            w = '"' + w + " " + str(rng.choice(words)) + '"'
        line += len(w) + 1
        if line > rng.integers(30, 70):
            out.append(w + "\n")
            line = 0
        else:
            out.append(w + " ")
    return "".join(out)[:n]


PLANTED = {  # unit of (0, "h") -> the explanation it is an exact function of (noise and constant aside)
    0: 'inside `(`...`)`',
    1: "distance since newline",
    4: "inside `(`...`)` AND char vowel",
}


def planted(n: int = 24_000, seed: int = 0, path=None) -> SyntheticRecording:
    """h: unit 0 inside parens, 1 distance since newline, 2 noise, 3 constant, 4 a chain, 5 char [aeiou] in
    a scaled copy; c: unit 0 = 2.5 * inside parens - 1 (explained on its stored value), unit 1 noise."""
    text = synthetic_text(n, seed)
    rng = np.random.default_rng(seed + 1)
    h = rng.standard_normal((n, 6)).astype(np.float32)
    h[:, 0] = parse(PLANTED[0]).evaluate(text) + 0.05 * h[:, 0]
    h[:, 1] = 0.05 * parse(PLANTED[1]).evaluate(text)
    h[:, 3] = 0.25
    h[:, 4] = parse(PLANTED[4]).evaluate(text) + 0.02 * h[:, 4]
    h[:, 5] = 0.3 * parse("char [aeiou]").evaluate(text) - 0.7
    c = rng.standard_normal((n, 2)).astype(np.float32)
    c[:, 0] = 2.5 * parse(PLANTED[0]).evaluate(text) - 1 + 0.1 * c[:, 0]
    return SyntheticRecording(text, {(0, "c"): c, (0, "h"): h}, path)


@pytest.fixture(scope="session")
def make_planted():
    """planted(n, seed, path): a SyntheticRecording with the PLANTED units (see `planted`)."""
    return planted


@pytest.fixture(scope="session")
def text_of():
    """synthetic_text(n, seed): words in lines, with parenthesised and quoted spans."""
    return synthetic_text


def real_recording(tmp, text: str, seed: int = 0):
    """A recording (kinds c, h) of `text` by a 1x16 LSTM with random weights (torch seed `seed`) under tmp."""
    import torch

    from charnn.model import CharRNN, ModelConfig
    from charnn.recording import open_recording, record
    from charnn.run import create_run
    from charnn.vocab import Vocab
    vocab = Vocab.from_texts([text])
    torch.manual_seed(seed)
    run = create_run(tmp / "run", CharRNN(ModelConfig(vocab_size=len(vocab), layers=1, hidden=16)).eval(), vocab)
    (tmp / "text.txt").write_text(text)
    return open_recording(record(run, str(tmp / "text.txt"), kinds="c,h", streams=4, burn_in=32, out=tmp / "rec",
                                 progress=False))


@pytest.fixture(scope="session")
def make_real_recording():
    """real_recording(tmp, text, seed): a small random-weight LSTM's recording of the text."""
    return real_recording


@pytest.fixture(scope="session")
def planted_units():
    return dict(PLANTED)


@pytest.fixture(scope="session")
def synthetic_recording():
    return SyntheticRecording


@pytest.fixture(scope="module")
def explained():
    """(recording, explain's rows) of the planted recording, computed once for the module."""
    from charnn.explanations import explain
    rec = planted()
    return rec, explain(rec, progress=False)
