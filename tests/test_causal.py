"""Ablation, clamping and clamped generation: `pytest tests/test_causal.py`."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from charnn.causal import StreamScorer, ablate, check_unit, clamp_step_fn, parse_clamp
from charnn.recording import open_recording, record
from charnn.recording.sources import text_corpus
from charnn.run import load_run
from charnn.sample import generate


def test_scorer_loss_matches_the_recording(tiny_run):
    run = load_run(tiny_run)
    ids = text_corpus(run, "val").encode(run.vocab)
    loss, _ = StreamScorer(run, ids, streams=4, burn_in=64).loss()
    rec = open_recording(record(run, "val", name="score", streams=4, burn_in=64, dtype="float32", progress=False))
    np.testing.assert_allclose(loss[1:], rec.text.loss_bits.to_numpy()[1:], atol=1e-4)


def test_ablation_reports_selected_other_and_random_baseline(tiny_run):
    result = ablate(tiny_run, "val", "1:c:3", mode="clamp=5", where=r"\s", random_units=4, progress=False)
    assert result.n_selected > 0 and len(result.random_units) == 4 and 3 not in result.random_units
    assert result.random_units == sorted(set(result.random_units)) and len(result.random_delta_selected) == 4
    assert result.delta_selected != 0 and np.isfinite(result.effect_ratio)
    assert result.effect_ratio == pytest.approx(result.delta_selected / result.random_median_selected)
    assert result.per_char_delta.shape == (result.n_chars,)


def test_a_unit_planted_to_predict_spaces_moves_the_loss_the_way_and_by_the_size_it_should(tiny_run):
    """h unit 5 of the last layer writes +8 into the space's logit and nothing else: held at +1 it
    makes every space nearly certain and every other character dearer; held at -1 the spaces cost
    bits. Random units, unplanted, move the loss far less."""
    run = load_run(tiny_run)
    space = int(run.vocab.encode(" ")[0])
    with torch.no_grad():
        run.model.head.weight[:, 5] = 0
        run.model.head.weight[space, 5] = 8.0
    up = ablate(run, "val", "1:h:5", mode="clamp=1", where=" ", random_units=4, progress=False)
    down = ablate(run, "val", "1:h:5", mode="clamp=-1", where=" ", random_units=4, progress=False)
    spaces_up, spaces_down = up.base_bpc_selected + up.delta_selected, down.base_bpc_selected + down.delta_selected
    assert spaces_up < 0.5 and spaces_down > spaces_up + 5  # bits per space
    assert up.delta_other > down.delta_other  # what the spaces gain, the other characters pay
    assert down.delta_selected - up.delta_selected > 10 * max(up.random_median_selected, down.random_median_selected)


def test_ablation_only_inside_matches_leaves_the_text_before_the_first_match_alone(tiny_run):
    run = load_run(tiny_run)
    string = open_recording(record(run, "val", name="v", streams=1, progress=False)).string
    first_quote = string.index('"')
    result = ablate(run, "val", "0:h:1", mode="clamp=1", apply_inside='"', random_units=1, streams=1, progress=False)
    assert np.all(result.per_char_delta[1 : first_quote + 1] == 0)
    assert np.any(result.per_char_delta[first_quote + 1 :] != 0)


def test_cli_json_carries_the_effect_ratio(tiny_run):
    out = subprocess.run([sys.executable, "-m", "charnn.cli", "ablate", str(tiny_run), "val", "--unit", "0:c:1",
                          "--where", "e", "--random", "3", "--format", "json"], capture_output=True, text=True, check=True)
    payload = json.loads(out.stdout)
    assert payload["unit"] == "0:c:1" and payload["mode"] == "zero" and len(payload["random_units"]) == 3
    assert 1 not in payload["random_units"] and len(payload["random_delta_selected"]) == 3
    assert payload["random_median_selected"] == pytest.approx(np.median(np.abs(payload["random_delta_selected"])))
    assert payload["effect_ratio"] == pytest.approx(payload["delta_selected"] / payload["random_median_selected"])
    assert 0 < payload["n_selected"] < payload["n_chars"] and np.isfinite(payload["delta_other"])


def test_clamped_generation_is_deterministic_and_differs(tiny_run):
    run = load_run(tiny_run)
    step = clamp_step_fn(run, [parse_clamp("1:h:5=5.0", run)])
    a = generate(run.model, run.vocab, "The ", 120, seed=7, step_fn=step)
    b = generate(run.model, run.vocab, "The ", 120, seed=7, step_fn=step)
    plain = generate(run.model, run.vocab, "The ", 120, seed=7)
    assert a == b and a != plain


@pytest.mark.parametrize("spec, message", [
    ("0:c", "LAYER:KIND:UNIT"), ("7:c:1", "layer 7"), ("0:q:1", "kind 'q'"), ("0:c:999", "unit 999"),
])
def test_bad_units_are_refused(tiny_run, spec, message):
    with pytest.raises(ValueError, match=message):
        check_unit(spec, load_run(tiny_run))


def test_bad_clamp_values_are_refused(tiny_run):
    run = load_run(tiny_run)
    with pytest.raises(ValueError, match="not a number"):
        parse_clamp("0:c:1=abc", run)
    for value in ("nan", "inf", "-inf"):
        with pytest.raises(ValueError, match="finite"):
            parse_clamp(f"0:c:1={value}", run)
        with pytest.raises(ValueError, match="finite"):
            ablate(run, "val", "0:c:1", mode=f"clamp={value}", progress=False)
    with pytest.raises(ValueError, match="clamp=V"):
        ablate(run, "val", "0:c:1", mode="double", progress=False)
