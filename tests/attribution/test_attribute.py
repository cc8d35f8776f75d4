"""Attribution through time: the write decomposition adds up to the stored value for every unit of a
2-layer LSTM and of a GRU; integrated gradients are complete; bad input is refused in one line.

    .venv/bin/python -m pytest tests/attribution/test_attribute.py -q
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from charnn.attribution import attribute
from charnn.attribution.ablation import rerun
from charnn.attribution.integrated import TOLERANCE, integrated_gradients
from charnn.cli import main
from charnn.units import Unit

FLOAT16 = 1e-3  # relative rounding of a stored float16 value, and of gates derived from the stored h


def positions(rec) -> list[int]:
    """Positions near the text's start, mid-stream, and just after a stream boundary."""
    second = int(rec.streams()[1][0])
    return [7, second - 1, second, rec.n_chars - 1]


@pytest.mark.parametrize("which", ["lstm_rec", "gru_rec"])
def test_write_adds_up_to_the_stored_value_for_every_unit(which, request):
    rec = request.getfixturevalue(which)
    kind = "c" if rec.meta["cell"] == "lstm" else "h"
    worst = 0.0
    for layer in range(rec.layers):
        for u in range(rec.hidden):
            for at in positions(rec):
                a = attribute(rec, f"{layer}:{kind}:{u}", at)
                assert a.method == "write" and a.value == rec.activations(layer, kind, [u], at, at + 1)[0, 0]
                total = a.contributions["contribution"].sum() + a.remainder
                worst = max(worst, abs(total - a.value) / max(abs(a.value), 1.0))
    assert worst <= FLOAT16


def test_write_of_a_window_is_its_terms(lstm_rec):
    """One term by hand: the write at s = i_s g_s, kept by the forget gates after it."""
    at, u = 500, 4
    a = attribute(lstm_rec, f"1:c:{u}", at, window=10)
    f, i, g = (lstm_rec.activations(1, k, [u], at - 9, at + 1)[:, 0].astype(np.float64) for k in "fig")
    s = 3
    assert a.contributions["contribution"].iloc[s] == pytest.approx(i[s] * g[s] * np.prod(f[s + 1:]), rel=1e-9)
    assert list(a.contributions["pos"]) == list(range(at - 9, at + 1))
    assert "".join(a.contributions["char"]) == lstm_rec.string[at - 9:at + 1]
    c_before = lstm_rec.activations(1, "c", [u], at - 10, at - 9)[0, 0]
    assert a.remainder == pytest.approx(np.prod(f) * c_before, rel=1e-9)


@pytest.mark.parametrize("spec", ["1:c:3", "1:h:5", "0:f:2", "1:o:7", "0:g:1"])
def test_integrated_gradients_are_complete(lstm_rec, spec):
    a = attribute(lstm_rec, spec, 700, window=40, method="ig")
    total = a.contributions["contribution"].sum() + a.remainder
    assert abs(total - a.value) <= TOLERANCE * abs(a.value - a.remainder) + FLOAT16 * max(abs(a.value), 1.0)


@pytest.mark.parametrize("baseline", ["space", "zero"])
def test_integrated_gradients_from_either_baseline_are_complete(lstm_rec, baseline):
    """The remainder is the value with every character of the window at the baseline: for spaces, the
    stepped model's own rerun of a window of spaces."""
    at, window = 900, 60
    a = attribute(lstm_rec, "0:c:4", at, window=window, method="ig", baseline=baseline)
    total = a.contributions["contribution"].sum() + a.remainder
    assert abs(total - a.value) <= TOLERANCE * abs(a.value - a.remainder) + FLOAT16 * max(abs(a.value), 1.0)
    if baseline == "space":
        spaces = np.full(window, int(lstm_rec.ids(*_a_space(lstm_rec))[0]))
        assert a.remainder == pytest.approx(rerun(lstm_rec, Unit.parse("0:c:4"), at, at - window + 1, ids=spaces), abs=1e-4)


def _a_space(rec) -> tuple[int, int]:
    pos = rec.string.index(" ")
    return pos, pos + 1


def test_adaptive_quadrature_resolves_a_swing_a_fixed_rule_misses():
    """A value that swings within 1e-4 of the path: the intervals around it are halved until each
    one's integral equals F's change across it."""
    weights = torch.linspace(0, 1, 6)[:, None].expand(6, 3)  # F swings at alpha = 0.37 / 9

    def F(emb):  # (B, 6, 3) -> (B,)
        return torch.tanh(2e4 * ((emb * weights).sum((1, 2)) - 0.37))

    emb = torch.ones(6, 3)
    attr, f_x, f_b, error = integrated_gradients(F, emb, torch.zeros_like(emb))
    assert error <= TOLERANCE and abs(float(attr.sum()) - (f_x - f_b)) <= TOLERANCE * abs(f_x - f_b)


def test_gru_gates_by_gradients(gru_rec):
    for method in ("gradxinput", "ig"):
        a = attribute(gru_rec, "1:z:3", gru_rec.streams()[2][0] + 12, window=13, method=method)
        assert len(a.contributions) == 13 and np.isfinite(a.contributions["contribution"]).all()
    a = attribute(gru_rec, "0:n:3", 300, window=20, method="ig")
    total = a.contributions["contribution"].sum() + a.remainder
    assert abs(total - a.value) <= TOLERANCE * abs(a.value - a.remainder) + FLOAT16


def test_write_at_the_top_is_larger_than_random(lstm_rec):
    """The largest write, deleted, moves the cell more than a random position's: the split is not noise."""
    a = attribute(lstm_rec, "0:c:9", 900, window=50)
    c = a.contributions["contribution"].abs()
    assert c.max() > 3 * c.median()


def test_cli_json(lstm_rec, capsys):
    assert main(["attribute", str(lstm_rec.path), "--unit", "0:c:3", "--at", "100", "--window", "5",
                 "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"unit", "at", "value", "method", "remainder", "contributions"}
    assert [c["pos"] for c in out["contributions"]] == [96, 97, 98, 99, 100]
    assert set(out["contributions"][0]) == {"pos", "char", "contribution"}


@pytest.mark.parametrize("argv, message", [
    (["--unit", "0:c:3", "--at", "999999"], "position 999999 is outside the recording (positions 0..3999)"),
    (["--unit", "0:c:99", "--at", "5"], "units [99] do not exist: units are 0..31"),
    (["--unit", "0:c:3", "--at", "1005", "--window", "10"], "reaches before the start of its stream at position 1000"),
    (["--unit", "0:c:3", "--at", "10", "--window", "0"], "window must be at least 1 character, not 0"),
    (["--unit", "0:h:3", "--at", "10", "--method", "write"], "method write decomposes an LSTM's c or a GRU's h"),
])
def test_bad_input_is_one_line_and_writes_nothing(lstm_rec, capsys, argv, message):
    before = sorted(p.relative_to(lstm_rec.path) for p in lstm_rec.path.rglob("*"))
    assert main(["attribute", str(lstm_rec.path), *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1 and message in captured.err
    assert sorted(p.relative_to(lstm_rec.path) for p in lstm_rec.path.rglob("*")) == before


def test_write_reports_the_half_life_of_its_window(lstm_rec):
    from charnn.attribution import half_life_at
    for at in (300, 2500):
        a = attribute(lstm_rec, "0:c:11", at, window=at - lstm_rec.stream_start(at) + 1)
        assert a.half_life == half_life_at(lstm_rec, "0:c:11", at)
