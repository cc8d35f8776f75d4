"""Circuits with the gates frozen: each state splits exactly into its graph's direct effects, the
pruned graph keeps the target, and ablating its largest nodes moves the unit more than random units.

    .venv/bin/python -m pytest tests/attribution/test_circuit.py -q
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from charnn.attribution import circuit
from charnn.attribution.ablation import rerun
from charnn.attribution.circuit import STRONG, _Reader, _split
from charnn.cli import main
from charnn.units import Unit


@pytest.mark.parametrize("which", ["lstm_rec", "gru_rec"])
def test_each_state_is_the_sum_of_its_direct_effects(which, request):
    rec = request.getfixturevalue(which)
    at = 700
    r = _Reader(rec, Unit(1, "h", 0), at, depth=2)
    for layer in (0, 1):
        for child, into in _split(r, layer, at).items():
            total = sum(t.sum(1) for t in into.values())  # (H,)
            stored = torch.from_numpy(rec.activations(layer, child[0], None, at, at + 1)[0])
            assert torch.allclose(total, stored, atol=2e-3, rtol=2e-3), child
        gate = "f" if rec.meta["cell"] == "lstm" else "z"
        into = _split(r, layer, at, gate)[("gate", layer, gate)]
        derived = torch.from_numpy(rec.activations(layer, gate, None, at, at + 1)[0])
        assert torch.allclose(sum(t.sum(1) for t in into.values()), derived, atol=1e-4)


def test_graph_json_keeps_the_target_and_prunes(lstm_rec, capsys):
    assert main(["circuit", str(lstm_rec.path), "--unit", "1:h:6", "--at", "700", "--format", "json"]) == 0
    g = json.loads(capsys.readouterr().out)
    ids = {n["id"] for n in g["nodes"]}
    assert "1:h:6@t" in ids and g["at"] == 700
    assert all(e["source"] in ids and e["target"] in ids for e in g["edges"])
    assert 1 < len(g["nodes"]) < 4 * 2 * 2 * 32  # pruned: fewer than every state of the 4 steps


def test_averaged_over_the_strongest_positions(lstm_rec):
    g = circuit(lstm_rec, "0:c:5")
    values = lstm_rec.activations(0, "c", [5])[:, 0]
    assert len(g.positions) == STRONG
    assert min(values[g.positions]) >= np.sort(values)[-STRONG - 8]


def test_ablating_the_circuit_moves_the_unit_more_than_random_units(lstm_rec):
    """The stepped ablation of the graph's 5 largest state nodes against 5 random units of the same
    layers, kinds and positions, over layer 1's cells at two positions."""
    rng = np.random.default_rng(0)
    ratios = []
    for u in range(0, 32, 4):
        for at in (300, 2300):
            unit = Unit(1, "c", u)
            g = circuit(lstm_rec, unit, at)
            states = g.nodes[g.nodes["kind"].isin(["c", "h"]) & (g.nodes["id"] != f"{unit}@t")].head(5)
            top = [(int(n.layer), n.kind, int(n.unit), at - int(n.offset)) for n in states.itertuples()]
            rand = [(layer, kind, int(rng.integers(32)), pos) for layer, kind, _, pos in top]
            base = rerun(lstm_rec, unit, at, at - 5)
            moved = abs(rerun(lstm_rec, unit, at, at - 5, ablate=top) - base)
            ratios.append(moved / max(abs(rerun(lstm_rec, unit, at, at - 5, ablate=rand) - base), 1e-9))
    assert np.median(ratios) > 5


def test_a_stream_start_is_refused(lstm_rec):
    with pytest.raises(ValueError, match="first row of its stream"):
        circuit(lstm_rec, "0:c:1", int(lstm_rec.streams()[1][0]))
