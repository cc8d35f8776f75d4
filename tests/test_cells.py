"""The cell protocol: a cell written here, against `charnn.cells.Cell` only, records, searches,
explains and ablates like charnn's own; minGRU and minLSTM train with a parallel scan that equals
their steps.

    pytest -q tests/test_cells.py
"""

import numpy as np
import pytest
import torch

from charnn import cells
from charnn.attribution.circuit import circuit
from charnn.attribution.writes import write_attribution
from charnn.causal import ablate
from charnn.cells import Cell
from charnn.cli import main
from charnn.explanations import explain
from charnn.gates import saturation
from charnn.model import CharRNN, ModelConfig
from charnn.recording import open_recording, record
from charnn.run import create_run, load_run
from charnn.search import search
from charnn.stepper import Intervention, Stepper
from charnn.units import Unit
from charnn.vocab import Vocab

TEXT = ('"Yes," said she, "it is." He was silent. "No!" ' * 60)


@cells.register
class LeakyCell(Cell):
    """A user's cell: h_t = a * h_{t-1} + (1 - a) * u, with a leak gate a and a candidate u that
    read (x_t, h_{t-1}); a and u derive from stored h."""

    name = "leaky-test"
    kinds = ("a", "u", "h")
    derived = ("a", "u")

    @classmethod
    def parameters_of(cls, input_size, hidden):
        k = hidden ** -0.5
        return [torch.nn.Parameter(torch.empty(2 * hidden, n).uniform_(-k, k)) for n in (input_size, hidden)] + [
            torch.nn.Parameter(torch.zeros(2 * hidden))]

    def project(self, x):
        w, _, b = self.weights
        return torch.addmm(b, x, w.t())  # (n, 2H)

    def step(self, p, state, edit=lambda kind, value: None):
        (h,) = state
        H = self.hidden
        pre = torch.addmm(p, h, self.weights[1].t())  # (B, 2H)
        a = torch.sigmoid(pre[:, :H])
        edit("a", a)
        u = torch.tanh(pre[:, H:])
        edit("u", u)
        h = a * h + (1 - a) * u
        edit("h", h)
        return (h,), {"a": a, "u": u, "h": h}


def train_steps(model: CharRNN, ids: torch.Tensor, steps: int = 30) -> CharRNN:
    """A few Adam steps of next-character prediction over ids (1, n), through the model's fast path."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = ids[:, :-1].reshape(8, -1)  # (8, n / 8)
    y = ids[:, 1:].reshape(8, -1)
    for _ in range(steps):
        logits, _ = model(x[:, :48])
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y[:, :48].flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def leaky_run(tmp_path_factory):
    vocab = Vocab.from_texts([TEXT])
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=len(vocab), cell="leaky-test", layers=2, hidden=12, embed=6))
    ids = torch.from_numpy(vocab.encode(TEXT[: 8 * 60 + 1]))[None]
    folder = tmp_path_factory.mktemp("cells") / "leaky"
    create_run(folder, train_steps(model, ids), vocab)
    (folder / "text.txt").write_text(TEXT)
    return folder


def test_a_users_cell_records_searches_explains_and_ablates(leaky_run):
    run = load_run(leaky_run)
    assert isinstance(run.model.rnn, cells.protocol.SteppedStack)
    rec = open_recording(record(run, str(leaky_run / "text.txt"), streams=4, burn_in=16, progress=False))
    assert rec.stored_kinds == ["h"] and rec.kinds == ["a", "u", "h"]
    full = open_recording(record(run, str(leaky_run / "text.txt"), name="all", kinds="a,u,h", dtype="float32",
                                 streams=4, burn_in=16, progress=False))
    for layer in (0, 1):  # derived on read from h = what the stepper computed
        np.testing.assert_allclose(rec.activations(layer, "a"), full.activations(layer, "a"), atol=2e-3)
    # the fast path (the protocol's default stack) and the stepped path agree
    ids = torch.from_numpy(run.vocab.encode(TEXT[:200]))[None]
    with torch.no_grad():
        fast, _ = run.model(ids)
    stepped, _, _ = Stepper(run.model).run(ids)
    torch.testing.assert_close(stepped, fast, atol=1e-5, rtol=0)

    found = search(rec, regex=r'"[^"]*"', kinds=rec.kinds, progress=False)
    assert set(found["kind"]) == {"a", "u", "h"} and len(found) == 2 * 3 * 12
    assert found["auroc"].iloc[0] > 0.7  # something tracks the quotes after 30 steps
    explained = explain(rec, kinds=["h"], progress=False, save=False)
    assert set(explained["kind"]) == {"h"} and explained["unit"].nunique() == 12

    best = found.iloc[0]
    unit = f"{best['layer']}:{best['kind']}:{best['unit']}"
    result = ablate(run, str(leaky_run / "text.txt"), unit, random_units=3, streams=4, burn_in=16, progress=False)
    assert result.unit == unit and np.isfinite(result.delta_selected) and result.delta_selected != 0


def test_a_hook_on_a_users_cell_acts_in_the_recurrence(leaky_run):
    run = load_run(leaky_run)
    ids = torch.from_numpy(run.vocab.encode(TEXT[:100]))[None]
    stepper = Stepper(run.model)
    _, _, clean = stepper.run(ids, kinds={"a", "h"}, stepped=True)
    _, _, held = stepper.run(ids, kinds={"a", "h"}, interventions=[Intervention(0, "a", 3, 1.0)], stepped=True)
    assert (held[(0, "a")][:, :, 3] == 1).all()
    h = held[(0, "h")][:, 0, 3]  # a = 1 keeps h_3 at its initial 0 at every step
    assert (h == 0).all() and (clean[(0, "h")][:, 0, 3] != 0).any()


def test_register_refuses_a_cell_that_breaks_the_protocol():
    class NoH(Cell):
        name, kinds = "no-h", ("a",)

    class BadKind(Cell):
        name, kinds = "bad-kind", ("A", "h")

    for cell in (NoH, BadKind):
        with pytest.raises(ValueError, match=cell.name):
            cells.register(cell)
    with pytest.raises(ValueError, match="not known"):
        ModelConfig(vocab_size=5, cell="no-such-cell")


def test_a_cell_that_lists_no_kinds_has_its_derived_kinds_then_its_carried_state():
    class Gated(Cell):
        name, derived, carried = "gated", ("a", "u"), ("h", "m")

    class Plain(Cell):
        name = "plain"

    class Listed(Gated):
        kinds = ("m", "a", "u", "h")

    assert Gated.kinds == ("a", "u", "h", "m") and Plain.kinds == ("h",) and Listed.kinds == ("m", "a", "u", "h")
    assert cells.get("gru").kinds == ("r", "z", "n", "h") and cells.get("rnn").kinds == ("h",)
    assert cells.get("minlstm").kinds == ("f", "i", "g", "h") and cells.get("lstm").kinds == ("i", "f", "g", "o", "c", "h")


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_minimal_cells_scan_equals_their_steps_and_derives_exactly(cell):
    torch.manual_seed(1)
    model = CharRNN(ModelConfig(vocab_size=20, cell=cell, layers=2, hidden=16, embed=8)).eval()
    ids = torch.randint(0, 20, (3, 40))
    with torch.no_grad():
        scanned, scan_state = model(ids)  # the parallel scan in log space
    stepper = Stepper(model)
    kinds = set(model.cell.kinds)
    logits, state, states = stepper.run(ids, kinds=kinds)
    torch.testing.assert_close(logits, scanned, atol=1e-5, rtol=0)
    torch.testing.assert_close(state, scan_state, atol=1e-5, rtol=0)
    _, _, windowed = stepper.run(ids, kinds=kinds, fused=True)
    for key, value in states.items():
        torch.testing.assert_close(windowed[key], value, atol=1e-5, rtol=0)
    layer = model.layer(1)
    x = states[(0, "h")].flatten(0, 1)  # (T*B, H): layer 1's input
    for kind in model.cell.derived:
        derived = layer.derive(kind, x, torch.zeros_like(x), units=[2, 5])  # h_prev is not read
        torch.testing.assert_close(derived, states[(1, kind)].flatten(0, 1)[:, [2, 5]], atol=1e-6, rtol=0)
    assert (states[(0, "h")] > 0).all()  # the positive candidate keeps h > 0, as the log-space scan needs


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_minimal_cells_train_with_gradients_through_the_scan(cell):
    torch.manual_seed(2)
    model = CharRNN(ModelConfig(vocab_size=12, cell=cell, layers=2, hidden=8, embed=4))
    ids = torch.randint(0, 12, (4, 30))
    logits, state = model(ids[:, :-1])
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten())
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)
    logits2, _ = model(ids[:, :10], state)  # a carried, positive state scans on
    assert torch.isfinite(logits2).all()


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_charnn_train_cell_minimal_trains_records_searches_and_splits_exactly(tmp_path, small_corpus, cell):
    out = tmp_path / cell
    code = main(["train", str(small_corpus), "--cell", cell, "--out", str(out), "--max-steps", "40", "--layers", "2",
                 "--hidden", "16", "--embed", "8", "--seq-len", "32", "--batch-size", "8", "--eval-every", "20",
                 "--warmup-steps", "5"])
    assert code == 0
    run = load_run(out)
    assert run.model_config.cell == cell and run.folder.summary()["best_val_bpc"] < 6
    rec = open_recording(record(run, "val", max_chars=3000, streams=4, burn_in=32, progress=False))
    assert rec.stored_kinds == ["h"] and rec.kinds == list(cells.get(cell).kinds)
    found = search(rec, concept="inside_quotes", kinds=rec.kinds, progress=False)
    assert len(found) == 2 * len(rec.kinds) * 16
    sat = saturation(rec)  # the cell's sigmoid gates, derived on read
    assert list(dict.fromkeys(sat["gate"])) == list(cells.get(cell).saturating) and len(sat) == 2 * len(set(sat["gate"])) * 16
    # h is linear given gates that read only the input: the write split sums to the stored value
    split = write_attribution(rec, Unit(1, "h", 3), at=1500, start=1400)
    total = split.contributions["contribution"].sum() + split.remainder
    assert abs(total - split.value) < 2e-3  # float16 storage of h and its derived gates
    with pytest.raises(ValueError, match=f"not {cell}: use charnn attribute"):
        circuit(rec, "1:h:3", at=1500)
