"""Latents as units: an autoencoder's latents stored as kind sae-NAME of its recording, then searched,
put in the atlas beside the units, explained, ablated and clamped like any unit, end to end on a
recording of the tiny run.

    pytest -q tests/sae/test_sae_units.py
"""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from charnn import cli
from charnn.causal import ablate, clamp_step_fn, parse_clamp
from charnn.explanations import explain
from charnn.recording import RecordingError, open_recording, record
from charnn.run import load_run
from charnn.sae.kind import add_latents
from charnn.sae.model import SAEConfig, SparseAutoencoder
from charnn.sae.store import SAEError, check_name, load, load_folder, save, trained_chars
from charnn.sae.training import TrainOptions, train
from charnn.search import atlas, concept_target, search
from charnn.units import Unit

NAME, KIND = "units", "sae-units"


@pytest.fixture(scope="module")
def rec(tiny_run):
    """The tiny run's validation text with a 64-latent autoencoder over layer 1's c, trained with
    `train` (which adds its latents as kind sae-units), and a one-hot autoencoder `eye` beside it (kind sae-eye)."""
    rec = open_recording(record(tiny_run, "val", name="sae-units", dtype="float32", progress=False))
    train(rec, TrainOptions(layer=1, kind="c", latents=64, k=4, steps=30, batch=256), name=NAME, progress=False)
    save(rec, "eye", one_hot(rec.hidden, layer=1), {}, {}, {})
    add_latents(rec, "eye", progress=False)
    return open_recording(rec.path)


def one_hot(hidden: int, layer: int) -> SparseAutoencoder:
    """Latent u writes e_u; every latent is active (b_enc large) and the refit gives it the unit's own
    value (both signs), so setting latent u is setting unit u (up to the refit's 1e-4 ridge)."""
    sae = SparseAutoencoder(SAEConfig(layer=layer, kind="c", hidden=hidden, latents=hidden, k=hidden))
    with torch.no_grad():
        sae.W_enc.copy_(torch.eye(hidden))
        sae.W_dec.copy_(torch.eye(hidden))
        sae.b_enc.fill_(100.0)
        sae.b_dec.zero_()
    return sae.eval()


def test_training_stores_the_latents_as_a_kind_of_their_layer(rec):
    assert rec.stored(1, KIND) and not rec.has(0, KIND) and rec.width(1, KIND) == 64
    sae = load(rec, NAME)
    with torch.no_grad():
        expected = sae.encode(torch.from_numpy(rec.activations(1, "c"))).numpy()
    np.testing.assert_allclose(rec.activations(1, KIND), expected, atol=1e-5)
    assert (np.count_nonzero(rec.activations(1, KIND), axis=1) <= 4).all()
    assert Unit.parse(f"1:{KIND}:63").check(rec.layers, rec.kinds, rec.width(1, KIND))
    with pytest.raises(RecordingError, match="already stores kind sae-units"):  # before any training
        train(rec, TrainOptions(layer=1, kind="c", latents=64, k=4, steps=10 ** 9), name=NAME, progress=False)


def test_cli_adds_a_kind_once_and_names_must_fit_a_kind(tiny_run, rec, capsys):
    other = open_recording(record(tiny_run, "val", name="sae-add", max_chars=1000, progress=False))
    save(other, "eye2", one_hot(rec.hidden, layer=1), {}, {}, {})
    assert cli.main(["sae", "add", str(other.path), "eye2"]) == 0
    assert "added kind sae-eye2 to layer 1" in capsys.readouterr().out
    assert open_recording(other.path).width(1, "sae-eye2") == rec.hidden
    assert cli.main(["sae", "add", str(other.path), "eye2"]) == 2
    assert "already stored" in capsys.readouterr().err
    for bad in ("C0", "c0.5", "x" * 29, "../up"):
        with pytest.raises(ValueError, match="lowercase letters|not a plain name"):
            check_name(bad)


def test_search_ranks_latents_like_units(rec, capsys):
    assert cli.main(["search", str(rec.path), "--kinds", KIND, "--concept", "whitespace", "--top", "64", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["kind"] for r in rows} == {KIND} and len(rows) == 64 and {r["layer"] for r in rows} == {1}
    best = rows[0]
    y = concept_target(rec.string, "whitespace")
    x = rec.activations(1, KIND, units=[best["unit"]])[:, 0]
    assert best["r"] == pytest.approx(np.corrcoef(x, y)[0, 1], abs=2e-3)


def test_atlas_puts_the_best_latent_beside_the_best_unit(rec, capsys):
    per_concept, per_unit = atlas(open_recording(rec.path), progress=False)  # default: every stored kind
    assert KIND in set(per_unit["kind"]) and {"c", "h"} <= set(per_unit["kind"])
    rows = {r["concept"]: r for r in per_concept.attrs["units_vs_latents"]}
    assert set(rows) == set(per_concept["concept"])
    ws = rows["whitespace"]
    assert Unit.parse(ws["unit"]).kind in ("c", "h") and Unit.parse(ws["latent"]).kind.startswith("sae-")
    assert ws["difference"] == pytest.approx(ws["latent_score"] - ws["unit_score"])
    latents = search(rec, concept="whitespace", kinds=[KIND, "sae-eye"], progress=False)
    assert set(latents["kind"]) == {KIND, "sae-eye"}
    assert ws["latent_score"] == pytest.approx(max(latents["auroc"].max(), 1 - latents["auroc"].min()), abs=1e-6)
    split = trained_chars(rec, NAME)  # held out: only what no autoencoder trained on
    assert ws["heldout_chars"] == [split, rec.n_chars] and split > rec.n_chars // 2
    latent = Unit.parse(ws["latent_heldout"])
    x = rec.activations(latent.layer, latent.kind, units=[latent.index])[split:, 0]
    y = concept_target(rec.string, "whitespace")[split:].astype(bool)
    ranks = pd.Series(x).rank().to_numpy()
    auroc = (ranks[y].sum() - y.sum() * (y.sum() + 1) / 2) / (y.sum() * (~y).sum())
    assert ws["latent_heldout_score"] == pytest.approx(max(auroc, 1 - auroc), abs=1e-9)
    assert cli.main(["atlas", str(rec.path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "units against latents" in out and f"latent - unit {ws['difference']:+.3f}" in out
    assert f"held out: on characters {split:,}-{rec.n_chars:,}" in out


def test_explain_explains_latents(rec):
    df = explain(rec, kinds=[KIND], max_terms=1, top=1, progress=False, save=False)
    assert set(df["kind"]) == {KIND} and set(df["layer"]) == {1} and df["unit"].nunique() == 64
    trained = load_folder(rec.path / "sae" / NAME)  # scored only on what the autoencoder never saw
    assert df.attrs["n_fit"] == trained_chars(rec, NAME) > rec.n_chars // 2 and trained is not None
    assert df.attrs["n_fit"] + df.attrs["n_heldout"] == rec.n_chars and "never trained on" in df.attrs["settings"]["heldout"]


@pytest.mark.parametrize("mode", ["zero", "mean", "clamp=0.5"])
def test_a_one_hot_latent_ablates_and_clamps_like_its_unit(tiny_run, rec, mode):
    unit = ablate(tiny_run, "val", "1:c:3", mode=mode, where="e", random_units=0, max_chars=1200,
                  progress=False)
    latent = ablate(tiny_run, "val", "1:sae-eye:3", mode=mode, where="e", random_units=2, max_chars=1200,
                    progress=False)
    np.testing.assert_allclose(latent.per_char_delta, unit.per_char_delta, atol=2e-4, equal_nan=True)
    assert latent.unit == "1:sae-eye:3" and len(latent.random_units) == 2 and 3 not in latent.random_units


def test_cli_ablates_a_trained_latent_against_random_latents(tiny_run, rec, capsys):
    assert cli.main(["ablate", str(tiny_run), "val", "--unit", f"1:{KIND}:5", "--where", " ", "--random", "3",
                     "--max-chars", "1200", "--format", "json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["unit"] == f"1:{KIND}:5" and len(payload["random_units"]) == 3
    assert all(0 <= j < 64 and j != 5 for j in payload["random_units"])
    assert cli.main(["ablate", str(tiny_run), "val", "--unit", f"1:{KIND}:64"]) == 2
    assert "unit 64 does not exist" in capsys.readouterr().err
    assert cli.main(["ablate", str(tiny_run), "val", "--unit", f"0:{KIND}:5"]) == 2
    assert "reads layer 1" in capsys.readouterr().err
    assert cli.main(["ablate", str(tiny_run), "val", "--unit", "0:sae-nope:5"]) == 2
    assert "--sae" in capsys.readouterr().err


def test_clamping_a_one_hot_latent_while_sampling_clamps_its_unit(tiny_run, rec):
    run = load_run(tiny_run)
    ids = torch.as_tensor(run.vocab.encode("It is a truth universally acknowledged")).view(-1, 1)  # (T, 1)
    by_unit = clamp_step_fn(run, [parse_clamp("1:c:3=0.5", run)])(ids, None)[0]
    by_latent = clamp_step_fn(run, [parse_clamp("1:sae-eye:3=0.5", run)])(ids, None)[0]
    plain = clamp_step_fn(run, [])(ids, None)[0]
    torch.testing.assert_close(by_latent, by_unit, atol=1e-4, rtol=0)
    assert not torch.allclose(by_unit, plain, atol=1e-3)


def test_an_autoencoder_is_found_by_folder(tiny_run, rec):
    folder = rec.path / "sae" / "eye"
    result = ablate(tiny_run, "val", "1:sae-eye:3", mode="zero", random_units=0, max_chars=500, progress=False,
                    sae=folder)
    assert result.n_chars == 500
    with pytest.raises(SAEError, match="not an autoencoder"):
        ablate(tiny_run, "val", "1:sae-eye:3", random_units=0, progress=False, sae=rec.path)
