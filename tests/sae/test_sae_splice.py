"""The held-out metrics and latent ablation, on a real recording of the tiny run.

    pytest -q tests/sae/test_sae_splice.py
"""

import json

import numpy as np
import pytest
import torch

from charnn import cli
from charnn.causal import ablate
from charnn.recording import RecordingError, open_recording, record
from charnn.recording.manifest import model_hash
from charnn.recording.replay import recording_ids, recording_run
from charnn.recording.sources import text_corpus
from charnn.run import load_run
from charnn.sae.metrics import ce_metrics, evaluate
from charnn.sae.model import SAEConfig, SparseAutoencoder
from charnn.sae.store import SAEError, load, save
from charnn.vocab import DOC_ID


def test_recording_ids_are_the_ids_the_model_read(tiny_run, tiny_rec):
    run, original = recording_run(tiny_rec), load_run(tiny_run)
    assert model_hash(run.model) == model_hash(original.model)  # the recording's own copy of the weights
    np.testing.assert_array_equal(recording_ids(tiny_rec, run), text_corpus(original, "val").encode(run.vocab))


def test_recording_ids_keep_the_document_boundaries(tiny_run, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("It is a truth universally acknowledged.\n" * 20)
    (folder / "b.txt").write_text('"My dear Mr. Bennet," said his lady.\n' * 20)
    rec = open_recording(record(tiny_run, folder, out=tmp_path / "rec", streams=2, progress=False))
    original = load_run(tiny_run)
    ids = recording_ids(rec, recording_run(rec))
    np.testing.assert_array_equal(ids, text_corpus(original, str(folder)).encode(original.vocab))
    assert (ids == DOC_ID).sum() == 1
    meta = json.loads((rec.path / "meta.json").read_text())
    (rec.path / "meta.json").write_text(json.dumps({**meta, "model_sha256": "0" * 64}))
    with pytest.raises(RecordingError, match="not the ones"):
        recording_run(open_recording(rec.path))


def test_an_exact_dictionary_scores_one_everywhere(tiny_rec, make_unit_pairs):
    sae = make_unit_pairs(1, "c", tiny_rec.hidden)
    start = tiny_rec.n_chars // 2
    metrics = evaluate(tiny_rec, sae, start=start, streams=4)
    assert metrics["explained_variance"] == pytest.approx(1.0, abs=1e-6)
    assert metrics["dead_features"] < 0.5 and metrics["eval_chars"] == [start, tiny_rec.n_chars]
    assert metrics["ce_loss_score_readout"] == pytest.approx(1.0, abs=1e-4)
    assert metrics["ce_loss_score_recurrent"] == pytest.approx(1.0, abs=1e-4)
    assert metrics["ce_zero_ablated_bits"] > metrics["ce_clean_bits"] + 0.1


def test_a_lossy_dictionary_loses_more_when_fed_back(tiny_rec, make_unit_pairs):
    sae = make_unit_pairs(0, "c", tiny_rec.hidden)
    with torch.no_grad():  # every state read at 0.7 of its size: the readout loses a little, the recurrence compounds it
        sae.W_dec.mul_(0.7)
    scores = ce_metrics(tiny_rec, sae, start=tiny_rec.n_chars // 2, streams=4)
    assert 0 < scores["ce_loss_score_recurrent"] < scores["ce_loss_score_readout"] < 1


def test_ablating_the_two_latents_of_a_unit_equals_zeroing_the_unit(tiny_run, tiny_rec, make_unit_pairs):
    hidden = tiny_rec.hidden
    sae = make_unit_pairs(1, "c", hidden)
    unit = ablate(tiny_run, "val", "1:c:3", mode="zero", where='"', random_units=0, progress=False)
    latent = ablate(recording_run(tiny_rec), tiny_rec, ["1:sae-pairs:3", f"1:sae-pairs:{hidden + 3}"], "remove",
                    where='"', random_units=3, progress=False, sae=sae)
    np.testing.assert_allclose(latent.per_char_delta, unit.per_char_delta, atol=1e-5, equal_nan=True)
    assert latent.unit == "1:sae-pairs:3,1:sae-pairs:35" and latent.n_selected == unit.n_selected
    assert latent.mode == "zero"  # remove is zero's other name
    assert len(latent.random_units) == 3 and all(len(group) == 2 for group in latent.random_units)


def test_one_latent_removes_only_its_sign_of_the_unit(tiny_rec, make_unit_pairs):
    h = tiny_rec.activations(0, "h")  # (n, H)
    unit = int(np.argmin(np.abs((h > 0).mean(0) - 0.5)))  # a unit that is positive about half the time
    sae = make_unit_pairs(0, "h", tiny_rec.hidden)
    run = recording_run(tiny_rec)
    positive = ablate(run, tiny_rec, f"0:sae-pairs:{unit}", random_units=2, progress=False, sae=sae)
    both = ablate(run, tiny_rec, f"0:sae-pairs:{unit},0:sae-pairs:{tiny_rec.hidden + unit}", random_units=0,
                  progress=False, sae=sae)
    assert np.isfinite(positive.effect_ratio) and len(positive.random_units) == 2
    assert not np.allclose(positive.per_char_delta[1:], both.per_char_delta[1:])


def test_saved_autoencoders_load_back_and_missing_ones_say_what_exists(tiny_rec):
    torch.manual_seed(0)
    sae = SparseAutoencoder(SAEConfig(layer=1, kind="h", hidden=tiny_rec.hidden, latents=64, k=4))
    with torch.no_grad():
        sae.input_scale.uniform_(0.5, 2)
    folder = save(tiny_rec, "roundtrip", sae, {"k": 4}, {"steps": 0}, {"l0": 4.0})
    back = load(tiny_rec, "roundtrip")
    assert back.config == sae.config
    for name, tensor in sae.state_dict().items():
        assert torch.equal(back.state_dict()[name], tensor)
    assert json.loads((folder / "metrics.json").read_text()) == {"l0": 4.0}
    with pytest.raises(SAEError, match="have: .*roundtrip"):
        load(tiny_rec, "nope")
    with pytest.raises(ValueError, match="not a plain name"):
        load(tiny_rec, "../escape")


def test_cli_trains_prints_metrics_and_ablates(tiny_rec, capsys):
    assert cli.main(["sae", "train", str(tiny_rec.path), "--layer", "1", "--latents", "64", "--k", "4",
                     "--steps", "30", "--batch", "256", "--name", "cli"]) == 0
    out = capsys.readouterr().out
    assert "explained_variance" in out and "ce_loss_score_recurrent" in out
    metrics = json.loads((tiny_rec.path / "sae" / "cli" / "metrics.json").read_text())
    assert {"explained_variance", "l0", "dead_features", "ce_loss_score_readout", "ce_loss_score_recurrent"} <= set(metrics)
    assert metrics["l0"] <= 4
    assert cli.main(["sae", "ablate", str(tiny_rec.path), "cli", "--latent", "7", "--where", "e", "--random", "2",
                     "--format", "json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["unit"] == "1:sae-cli:7" and len(payload["random_units"]) == 2
    # an alias: `charnn ablate` on the run's split, with the autoencoder found under the run, says the same
    assert cli.main(["ablate", str(tiny_rec.path.parents[1]), "val", "--unit", "1:sae-cli:7", "--mode", "remove",
                     "--where", "e", "--random", "2", "--format", "json"]) == 0
    same = json.loads(capsys.readouterr().out)
    assert same["random_units"] == payload["random_units"] and same["mode"] == payload["mode"] == "zero"
    assert same["delta_selected"] == pytest.approx(payload["delta_selected"], abs=1e-6)
    assert cli.main(["sae", "ablate", str(tiny_rec.path), "cli", "--latent", "99"]) == 2
    assert "unit 99 does not exist (units 0..63)" in capsys.readouterr().err
