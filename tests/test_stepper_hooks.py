"""Stepper hooks: a function of the whole state in the recurrence, or only in what a layer passes on.

    pytest -q tests/test_stepper_hooks.py
"""

import pytest
import torch

from charnn.cells.lstm import lstm_cell_kernel
from charnn.model import CharRNN, ModelConfig
from charnn.stepper import Intervention, StateHook, Stepper


def model(cell="lstm", layers=2, hidden=8):
    torch.manual_seed(0)
    return CharRNN(ModelConfig(vocab_size=20, cell=cell, layers=layers, hidden=hidden, embed=4)).eval()


def set_unit(unit, value):
    def fn(x):
        out = x.clone()
        out[..., unit] = value
        return out
    return fn


@pytest.mark.parametrize("cell, kind", [("lstm", "c"), ("lstm", "f"), ("gru", "h"), ("rnn", "h")])
def test_a_state_hook_that_sets_a_unit_equals_the_intervention(cell, kind):
    stepper, ids = Stepper(model(cell)), torch.randint(0, 20, (3, 15))
    where = torch.rand(15, 3) > 0.5
    a, _, sa = stepper.run(ids, kinds={kind}, interventions=[Intervention(1, kind, 2, 0.7, where)])
    b, _, sb = stepper.run(ids, kinds={kind}, interventions=[StateHook(1, kind, set_unit(2, 0.7), where)])
    assert torch.equal(a, b) and torch.equal(sa[(1, kind)], sb[(1, kind)])


def test_readout_hooks_change_what_the_layer_passes_on_and_not_its_recurrence():
    m = model(layers=2)
    stepper, ids = Stepper(m), torch.randint(0, 20, (3, 15))
    clean, clean_final, states = stepper.run(ids, kinds={"c", "o", "h"}, stepped=True)
    same, _, _ = stepper.run(ids, interventions=[StateHook(0, "c", torch.clone, readout=True)], stepped=True)
    torch.testing.assert_close(same, clean)
    halve = StateHook(0, "c", lambda c: c * 0.5, readout=True)
    logits, final, spliced = stepper.run(ids, kinds={"c", "h"}, interventions=[halve], stepped=True)
    for s in (0, 1):  # layer 0's own recurrence is untouched, and so is its recorded c
        torch.testing.assert_close(final[s][0], clean_final[s][0])
    torch.testing.assert_close(spliced[(0, "c")], states[(0, "c")])
    # layer 1 reads o * tanh(c / 2) from layer 0: run layer 1 on that by hand
    x1 = states[(0, "o")] * torch.tanh(states[(0, "c")] * 0.5)  # (T, B, H)
    rnn1 = torch.nn.LSTM(8, 8)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(rnn1, f"{name}_l0").copy_(getattr(m.rnn, f"{name}_l1"))
        expected = m.head(rnn1(x1)[0].transpose(0, 1))
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-5)


def test_a_readout_intervention_equals_a_readout_state_hook():
    stepper, ids = Stepper(model()), torch.randint(0, 20, (3, 12))
    where = torch.rand(12, 3) > 0.5
    a, _, _ = stepper.run(ids, interventions=[Intervention(0, "h", 4, -0.5, where, readout=True)], stepped=True)
    b, _, _ = stepper.run(ids, interventions=[StateHook(0, "h", set_unit(4, -0.5), where, readout=True)], stepped=True)
    clean, _, _ = stepper.run(ids, stepped=True)
    assert torch.equal(a, b) and not torch.equal(a, clean)


def test_a_readout_hook_runs_on_the_fused_path_too():
    m = model(layers=1)
    stepper, ids = Stepper(m), torch.randint(0, 20, (2, 10))
    hook = StateHook(0, "h", lambda h: -h, readout=True)
    fused, _, _ = stepper.run(ids, interventions=[hook], fused=True)
    stepped, _, _ = stepper.run(ids, interventions=[hook], stepped=True)
    torch.testing.assert_close(fused, stepped, rtol=1e-4, atol=1e-5)
    _, _, states = stepper.run(ids, kinds={"h"})
    torch.testing.assert_close(fused, m.head(-states[(0, "h")].transpose(0, 1)), rtol=1e-4, atol=1e-5)


def test_a_recurrent_hook_feeds_the_changed_state_back():
    m = model(layers=1)
    stepper, ids = Stepper(m), torch.randint(0, 20, (2, 10))
    _, _, clean = stepper.run(ids, kinds={"c"}, stepped=True)
    _, _, readout = stepper.run(ids, kinds={"c"}, interventions=[StateHook(0, "c", torch.zeros_like, readout=True)])
    _, _, fed_back = stepper.run(ids, kinds={"c"}, interventions=[StateHook(0, "c", torch.zeros_like)])
    assert torch.equal(readout[(0, "c")], clean[(0, "c")]) and (fed_back[(0, "c")] == 0).all()


def test_readout_hooks_on_gates_are_refused():
    with pytest.raises(ValueError, match="readout hook"):
        Stepper(model()).run(torch.randint(0, 20, (1, 4)), interventions=[StateHook(0, "f", torch.clone, readout=True)])


@pytest.mark.parametrize("hidden", [8, 37])  # under one 16-wide vector, and whole vectors plus a tail
def test_the_c_lstm_cell_gives_the_torch_ops_states(monkeypatch, hidden):
    if lstm_cell_kernel() is None:
        pytest.skip("charnn/_lstm_cell.c is not built here, or the CPU has no AVX-512")
    m, ids = model(hidden=hidden), torch.randint(0, 20, (5, 40))
    state = tuple(torch.randn(2, 5, hidden) for _ in range(2))
    native_logits, native_final, native = Stepper(m).run(ids, state, kinds="ifgoch")
    monkeypatch.setenv("CHARNN_NATIVE", "0")
    logits, final, ops = Stepper(m).run(ids, state, kinds="ifgoch")
    assert native.keys() == ops.keys()
    for key in ops:
        torch.testing.assert_close(native[key], ops[key], rtol=0, atol=2e-6)
    torch.testing.assert_close(native_logits, logits, rtol=0, atol=2e-6)
    torch.testing.assert_close(native_final, final, rtol=0, atol=2e-6)


def test_a_layer_asked_stepped_or_hooked_runs_the_torch_ops_so_comparisons_are_exact(monkeypatch):
    m, ids = model(), torch.randint(0, 20, (3, 12))
    _, _, asked = Stepper(m).run(ids, kinds="ch", stepped=True)
    _, _, readout_hooked = Stepper(m).run(ids, kinds="ch", interventions=[
        StateHook(l, "h", torch.clone, readout=True) for l in range(2)])
    monkeypatch.setenv("CHARNN_NATIVE", "0")
    _, _, ops = Stepper(m).run(ids, kinds="ch")
    for key in ops:
        assert torch.equal(asked[key], ops[key]) and torch.equal(readout_hooked[key], ops[key])
