"""Training: the shuffle buffer, the input scale, and recovering a known sparse dictionary.

    pytest -q tests/sae/test_sae_training.py
"""

import numpy as np
import pytest
import torch

from charnn.sae.data import ShuffleBuffer, input_scale
from charnn.sae.training import TrainOptions, fit, lr_at


def sparse_states(n: int, hidden: int, atoms: int, active: int, seed: int = 0):
    """n states, each the sum of `active` of `atoms` random unit directions with random positive
    weights, and unit scales that differ by 100x; returns (states (n, H), directions (atoms, H))."""
    rng = np.random.default_rng(seed)
    directions = rng.standard_normal((atoms, hidden))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    codes = np.zeros((n, atoms))
    rows = np.repeat(np.arange(n), active)
    cols = np.argsort(rng.random((n, atoms)), axis=1)[:, :active].reshape(-1)
    codes[rows, cols] = rng.uniform(0.5, 2.0, n * active)
    unit_scale = np.logspace(0, 2, hidden)  # like an LSTM's c: some units 100x wider than others
    return (codes @ directions * unit_scale).astype(np.float32), directions * unit_scale


@pytest.mark.slow
def test_training_recovers_a_known_sparse_dictionary(make_array_rec):
    states, truth = sparse_states(n=40_000, hidden=32, atoms=64, active=3)
    rec = make_array_rec(states)
    sae, log = fit(rec, TrainOptions(latents=128, k=3, steps=1500, batch=512, lr=3e-3, seed=0, eval_fraction=0.1,
                                     dead_after=20_000), progress=False)
    learned = sae.W_dec.detach() * sae.input_scale  # (L, H): each latent's direction in the state's units
    normalize = torch.nn.functional.normalize
    cos = normalize(torch.from_numpy(truth).float(), dim=1) @ normalize(learned, dim=1).t()
    best = cos.max(1).values  # (atoms,): the closest latent to each true direction
    assert (best >= 0.9).float().mean() >= 0.8, f"recovered {(best >= 0.9).float().mean():.2f} of the directions"
    assert log["steps"] == 1500 and log["train_chars"] == [0, 36_000]


def test_the_shuffle_buffer_serves_every_row_in_random_order(make_array_rec):
    rows = np.arange(1000, dtype=np.float32)[:, None].repeat(2, 1)  # row i holds i
    buffer = ShuffleBuffer(make_array_rec(rows), 0, "c", stop=900, batch=50, capacity=300, seed=0)
    it = iter(buffer)
    seen = torch.cat([next(it)[:, 0] for _ in range(18 * 10)])  # ten passes over the 900 training rows
    counts = np.bincount(seen.long().numpy(), minlength=1000)
    assert counts[900:].sum() == 0  # held-out rows never served
    assert counts[:900].min() >= 4 and counts[:900].max() <= 16  # every row, about ten times
    first = seen[:50].numpy()
    assert not np.all(np.diff(first) > 0) and np.ptp(first) > 100  # not in text order


def test_input_scale_is_each_units_spread_or_one_number(make_array_rec):
    rng = np.random.default_rng(0)
    states = rng.standard_normal((5000, 4)) * np.array([1, 10, 100, 0]) + np.array([5, 0, -3, 7])
    rec = make_array_rec(states)
    scale, mean = input_scale(rec, 0, "c", 5000, "unit")
    np.testing.assert_allclose(scale[:3], states[:, :3].std(0), rtol=1e-4)
    assert 0 < scale[3] < 1  # a constant unit gets a small floor, not zero
    np.testing.assert_allclose(mean, states.mean(0), rtol=1e-4, atol=1e-3)
    scale, _ = input_scale(rec, 0, "c", 5000, "global")
    centered = states - states.mean(0)
    np.testing.assert_allclose(scale, np.sqrt((centered**2).sum(1).mean() / 4), rtol=1e-4)


def test_lr_warms_up_holds_and_decays_to_zero():
    opts = TrainOptions(steps=1000, lr=1e-3, warmup=100)
    assert lr_at(opts, 0, 0) == pytest.approx(1e-5)
    assert lr_at(opts, 500, 0) == pytest.approx(1e-3)
    assert lr_at(opts, 900, 0) == pytest.approx(5e-4)
    timed = TrainOptions(steps=None, minutes=1, lr=1e-3, warmup=1)
    assert lr_at(timed, 10, 57) == pytest.approx(2.5e-4)


@pytest.mark.parametrize("kwargs, message", [
    (dict(kind="f"), "kind must be c or h"), (dict(steps=None), "steps or a number of minutes"),
    (dict(eval_fraction=1.0), "eval_fraction"), (dict(normalize="x"), "normalize"), (dict(lr=0), "lr"),
])
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainOptions(**kwargs)


def test_the_l1_variant_trades_active_latents_for_its_penalty(make_array_rec):
    states, _ = sparse_states(n=4000, hidden=16, atoms=32, active=2)
    rec = make_array_rec(states)
    l0 = {}
    for l1 in (0.0, 0.2):
        sae, log = fit(rec, TrainOptions(activation="relu", l1=l1, latents=64, steps=150, batch=256, lr=3e-3), progress=False)
        assert not sae.config.refit and log["last_steps"]["nmse"] < 0.4
        l0[l1] = log["last_steps"]["l0"]
    assert l0[0.2] < 0.8 * l0[0.0]


def test_states_that_are_not_recorded_are_named(make_array_rec):
    rec = make_array_rec(np.zeros((100, 4)), layer=0, kind="c")
    with pytest.raises(ValueError, match="kind 'h' is not recorded .* --kinds c,h"):
        fit(rec, TrainOptions(kind="h"), progress=False)
    with pytest.raises(ValueError, match="layer 1 is not in"):
        fit(rec, TrainOptions(layer=1), progress=False)
