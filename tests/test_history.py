"""Neuron history and unit matching on models with a planted line-position counter:
`pytest tests/test_history.py`."""

import numpy as np
import pytest
import torch

from charnn.history import concept_history, match_units, probe_recordings, unit_history
from charnn.model import CharRNN, ModelConfig
from charnn.recording import RecordingError, open_recording, record
from charnn.run import create_run
from charnn.vocab import Vocab

HIDDEN = 8


def probe_text(tmp_path):
    rng = np.random.default_rng(0)
    lines = ["".join(rng.choice(list("abcdefgh "), size=rng.integers(5, 60))) for _ in range(120)]
    path = tmp_path / "probe.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def planted_model(vocab: Vocab, unit: int | None, seed: int) -> CharRNN:
    """A 1-layer LSTM with random small weights; if `unit` is given, its cell counts characters
    since the last newline (c = 0.1 per character, reset by the newline)."""
    torch.manual_seed(seed)
    model = CharRNN(ModelConfig(vocab_size=len(vocab), layers=1, hidden=HIDDEN, embed=len(vocab))).eval()
    with torch.no_grad():
        model.embedding.weight.copy_(torch.eye(len(vocab)))  # one-hot characters
        for name in ("weight_ih_l0", "weight_hh_l0"):
            getattr(model.rnn, name).mul_(0.5)
        if unit is not None:
            w_ih, b = model.rnn.weight_ih_l0, model.rnn.bias_ih_l0
            model.rnn.weight_hh_l0[unit :: HIDDEN] = 0
            w_ih[unit :: HIDDEN] = 0
            model.rnn.bias_hh_l0[unit :: HIDDEN] = 0
            newline = vocab.char_to_id["\n"]
            b[unit], b[HIDDEN + unit], b[3 * HIDDEN + unit] = 10.0, 10.0, 10.0  # input, forget, output gates open
            b[2 * HIDDEN + unit] = float(np.arctanh(0.1))  # candidate: +0.1 per character
            w_ih[HIDDEN + unit, newline] = -20.0  # the newline closes the forget gate...
            w_ih[2 * HIDDEN + unit, newline] = -float(np.arctanh(0.1))  # ...and adds nothing
    return model


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("planted")
    text = probe_text(tmp)
    vocab = Vocab.from_texts([text.read_text()])
    runs = {}
    for name, unit, seed in (("a", 3, 0), ("b", 6, 1)):
        run = tmp / name
        for step, plant in ((10, None), (20, unit), (30, unit)):
            create_run(run, planted_model(vocab, plant, seed + step), vocab)
            record(run, text, kinds="c,h", out=run / "recordings" / f"step-{step:07d}", progress=False)
        runs[name] = run
    return runs


def test_concept_history_shows_when_the_counter_appears(planted):
    history = concept_history(planted["a"], concept="line_position", kinds=["c"])
    assert history.step.tolist() == [10, 20, 30]
    # c resets on the newline itself, whose column is the line's length: r is 0.90, not 1
    assert (history.unit.iloc[1:] == 3).all() and (history.r.iloc[1:].abs() > 0.85).all()
    assert abs(history.r.iloc[0]) < abs(history.r.iloc[1]) - 0.2


def test_unit_history_follows_the_unit_back_to_where_it_appeared(planted):
    history = unit_history(planted["a"], (0, "c", 3))
    assert history.match_unit.tolist()[1:] == [3, 3]
    assert history["corr"].iloc[2] == pytest.approx(1.0, abs=1e-6)
    assert abs(history["corr"].iloc[0]) < abs(history["corr"].iloc[1])


def test_units_are_matched_across_seeds(planted):
    a = open_recording(planted["a"] / "recordings" / "step-0000030")
    b = open_recording(planted["b"] / "recordings" / "step-0000030")
    matches = match_units(a, b, kinds=["c"])
    top = matches.iloc[0]
    assert (top.unit, top.match_unit) == (3, 6) and top["corr"] > 0.99


def test_history_without_probe_recordings_says_how_to_make_them(tmp_path):
    with pytest.raises(RecordingError, match="--record-every"):
        probe_recordings(tmp_path)


def test_cli_history_and_match(planted):
    import json
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "charnn.cli", "history", str(planted["a"]), "--concept", "line_position",
                          "--kinds", "c", "--format", "json"], capture_output=True, text=True, check=True).stdout
    assert [row["unit"] for row in json.loads(out)][1:] == [3, 3]
    out = subprocess.run([sys.executable, "-m", "charnn.cli", "match", str(planted["a"] / "recordings" / "step-0000030"),
                          str(planted["b"] / "recordings" / "step-0000030"), "--kinds", "c", "--format", "json"],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out)[0]["match_unit"] == 6
