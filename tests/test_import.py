"""`charnn import`: models trained here by plain PyTorch and by min-char-rnn's own numpy code become
runs whose recorded states and per-character loss equal the original forward pass; bad input is
refused in one line, with nothing written.

    pytest -q tests/test_import.py
"""

import json

import numpy as np
import pytest
import torch
import torch.nn as nn

from charnn.cli import main
from charnn.importers import import_min_char_rnn, import_torch
from charnn.recording import open_recording, record
from charnn.run import RunFolder, load_run

TEXT = 'She said, "Yes." He said, "No, not at all." (They left.)\n' * 12
CHARS = sorted(set(TEXT))
TOL = 1e-5


class UserLM(nn.Module):
    """A user's own character model: embedding (or one-hot) -> nn.LSTM/nn.GRU -> Linear."""

    def __init__(self, rnn: type[nn.Module], layers: int, embed: int | None):
        super().__init__()
        V, H = len(CHARS), 24
        self.emb = nn.Embedding(V, embed) if embed else None
        self.core = rnn(embed or V, H, num_layers=layers, batch_first=True)
        self.decoder = nn.Linear(H, V)

    def forward(self, ids):  # (B, T) -> logits (B, T, V), states (B, T, H)
        x = self.emb(ids) if self.emb is not None else nn.functional.one_hot(ids, len(CHARS)).float()
        out, _ = self.core(x)
        return self.decoder(out), out


def train_user_model(rnn, layers, embed, steps=40):
    """The plain PyTorch loop a user writes: random windows, Adam, cross-entropy."""
    torch.manual_seed(0)
    ids = torch.tensor([CHARS.index(c) for c in TEXT])
    model = UserLM(rnn, layers, embed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        starts = torch.randint(0, len(ids) - 33, (8,))
        batch = torch.stack([ids[s:s + 33] for s in starts])  # (8, 33)
        logits, _ = model(batch[:, :-1])
        loss = nn.functional.cross_entropy(logits.reshape(-1, len(CHARS)), batch[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def original_forward(model, text):
    """Per-character loss in bits (position t: predicting t from 0..t-1) and the last layer's states."""
    ids = torch.tensor([[CHARS.index(c) for c in text]])
    with torch.no_grad():
        logits, states = model(ids)
    logp = torch.log_softmax(logits[0, :-1], -1)
    loss = -logp.gather(1, ids[0, 1:, None])[:, 0] / np.log(2)
    return np.concatenate([[np.nan], loss.numpy()]), states[0].numpy()


def record_one_stream(run, text_path, tmp_path):
    """One stream from position 0 (no burn-in): the same pass as the original's."""
    return open_recording(record(run, str(text_path), dtype="float32", streams=1, burn_in=0, progress=False,
                                 out=tmp_path / "rec"))


@pytest.mark.parametrize("rnn, layers, embed", [(nn.LSTM, 2, 10), (nn.GRU, 1, None)], ids=["lstm-2-embedding", "gru-1-onehot"])
def test_a_users_torch_model_imports_and_records_as_it_runs(tmp_path, rnn, layers, embed):
    model = train_user_model(rnn, layers, embed)
    torch.save(model.state_dict(), tmp_path / "model.pt")
    (tmp_path / "vocab.txt").write_text("".join(CHARS))  # the characters in id order, as the file's text
    out = import_torch(tmp_path / "model.pt", tmp_path / "vocab.txt", tmp_path / "run")
    run = load_run(out)
    assert run.config["imported"]["from"] == "torch" and RunFolder(out).metrics().empty
    assert run.model_config.cell == rnn.__name__.lower() and run.model_config.layers == layers
    assert run.model_config.encoding == ("embedding" if embed else "onehot")

    (tmp_path / "text.txt").write_text(TEXT[:300])
    loss, states = original_forward(model, TEXT[:300])
    rec = record_one_stream(run, tmp_path / "text.txt", tmp_path)
    np.testing.assert_allclose(rec.text["loss_bits"].to_numpy(), loss, atol=TOL, equal_nan=True)
    np.testing.assert_allclose(rec.activations(layers - 1, "h"), states, atol=TOL)


def min_char_rnn(data: str, hidden=16, seq_length=12, steps=60, lr=1e-1):
    """Karpathy's min-char-rnn.py (its lossFun and Adagrad loop), trained for a few steps."""
    chars = list(dict.fromkeys(data))
    V = len(chars)
    ix = {ch: i for i, ch in enumerate(chars)}
    rng = np.random.default_rng(0)
    Wxh, Whh, Why = (rng.standard_normal(s) * 0.01 for s in ((hidden, V), (hidden, hidden), (V, hidden)))
    bh, by = np.zeros((hidden, 1)), np.zeros((V, 1))

    def loss_fun(inputs, targets, hprev):
        xs, hs, ps = {}, {-1: np.copy(hprev)}, {}
        for t in range(len(inputs)):
            xs[t] = np.zeros((V, 1))
            xs[t][inputs[t]] = 1
            hs[t] = np.tanh(Wxh @ xs[t] + Whh @ hs[t - 1] + bh)
            ys = Why @ hs[t] + by
            ps[t] = np.exp(ys) / np.sum(np.exp(ys))
        dWxh, dWhh, dWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
        dbh, dby, dhnext = np.zeros_like(bh), np.zeros_like(by), np.zeros_like(hs[0])
        for t in reversed(range(len(inputs))):
            dy = np.copy(ps[t])
            dy[targets[t]] -= 1
            dWhy += dy @ hs[t].T
            dby += dy
            dhraw = (1 - hs[t] * hs[t]) * (Why.T @ dy + dhnext)
            dbh += dhraw
            dWxh += dhraw @ xs[t].T
            dWhh += dhraw @ hs[t - 1].T
            dhnext = Whh.T @ dhraw
        for d in (dWxh, dWhh, dWhy, dbh, dby):
            np.clip(d, -5, 5, out=d)
        return dWxh, dWhh, dWhy, dbh, dby, hs[len(inputs) - 1]

    params = (Wxh, Whh, Why, bh, by)
    mem = [np.zeros_like(p) for p in params]
    p, hprev = 0, np.zeros((hidden, 1))
    for _ in range(steps):
        if p + seq_length + 1 >= len(data):
            p, hprev = 0, np.zeros((hidden, 1))
        inputs = [ix[c] for c in data[p:p + seq_length]]
        targets = [ix[c] for c in data[p + 1:p + seq_length + 1]]
        *grads, hprev = loss_fun(inputs, targets, hprev)
        for param, dparam, m in zip(params, grads, mem):
            m += dparam * dparam
            param += -lr * dparam / np.sqrt(m + 1e-8)
        p += seq_length
    return chars, dict(zip(("Wxh", "Whh", "Why", "bh", "by"), params))


def test_min_char_rnn_imports_and_records_as_it_runs(tmp_path):
    chars, params = min_char_rnn(TEXT)
    np.savez(tmp_path / "params.npz", **params)
    (tmp_path / "vocab.json").write_text(json.dumps(chars))
    run = load_run(import_min_char_rnn(tmp_path / "params.npz", tmp_path / "vocab.json", tmp_path / "run"))
    assert run.model_config.cell == "rnn" and run.model_config.encoding == "onehot"

    text = TEXT[:250]
    (tmp_path / "text.txt").write_text(text)
    h, hs, loss, p = np.zeros((16, 1)), [], [np.nan], None
    for t, c in enumerate(text):  # min-char-rnn's forward pass (its sample() without sampling)
        x = np.zeros((len(chars), 1))
        x[chars.index(c)] = 1
        if t:
            loss.append(-np.log2(p[chars.index(c), 0]))
        h = np.tanh(params["Wxh"] @ x + params["Whh"] @ h + params["bh"])
        y = params["Why"] @ h + params["by"]
        p = np.exp(y) / np.sum(np.exp(y))
        hs.append(h[:, 0])
    rec = record_one_stream(run, tmp_path / "text.txt", tmp_path)
    np.testing.assert_allclose(rec.text["loss_bits"].to_numpy(), loss, atol=TOL, equal_nan=True)
    np.testing.assert_allclose(rec.activations(0, "h"), np.array(hs), atol=TOL)


def test_the_cli_imports_and_refuses_bad_input_in_one_line(tmp_path, capsys):
    def charnn_cli(*argv):
        code = main([str(a) for a in argv])
        return code, capsys.readouterr().err

    model = train_user_model(nn.LSTM, 1, 8, steps=2)
    torch.save(model.state_dict(), tmp_path / "model.pt")
    (tmp_path / "vocab.json").write_text(json.dumps(CHARS))
    ok = charnn_cli("import", "torch", tmp_path / "model.pt", "--vocab", tmp_path / "vocab.json", "--out", tmp_path / "run")
    assert ok[0] == 0 and load_run(tmp_path / "run").model_config.cell == "lstm"

    (tmp_path / "dup.json").write_text(json.dumps(CHARS + ["a"]))
    (tmp_path / "short.txt").write_text("".join(CHARS[:-3]))
    torch.save(model, tmp_path / "module.pt")  # a whole module: code, not weights
    torch.save({"fc.weight": torch.zeros(4, 4), "fc.bias": torch.zeros(4)}, tmp_path / "mlp.pt")
    cases = {
        ("torch", "mlp.pt", "vocab.json"): "not a recurrent char model",
        ("torch", "model.pt", "short.txt"): "emb.weight is (24, 8) but the vocabulary has 21 characters",
        ("torch", "module.pt", "vocab.json"): "not a weights-only file",
        ("torch", "model.pt", "dup.json"): "appears twice",
        ("min-char-rnn", "model.pt", "vocab.json"): "model.pt",
    }
    for (source, model_file, vocab), message in cases.items():
        code, err = charnn_cli("import", source, tmp_path / model_file, "--vocab", tmp_path / vocab, "--out", tmp_path / "bad")
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and message in lines[0], (source, model_file, vocab, err)
        assert not (tmp_path / "bad").exists() and not list(tmp_path.glob(".bad*"))
    again = charnn_cli("import", "torch", tmp_path / "model.pt", "--vocab", tmp_path / "vocab.json", "--out", tmp_path / "run")
    assert again[0] == 2 and "exists" in again[1]  # an existing folder is left as it is
