"""The recording path and recordings: `pytest tests/test_recording.py`."""

import json

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

from charnn import cells
from charnn.model import CharRNN, ModelConfig
from charnn.recording import RecordingError, open_recording, record
from charnn.recording import writer as writer_module
from charnn.run import RunError, load_run
from charnn.stepper import Intervention, Stepper


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers", [1, 2, 3])
def test_recording_path_equals_fast_path(cell, layers):
    torch.manual_seed(layers)
    model = CharRNN(ModelConfig(vocab_size=40, cell=cell, layers=layers, hidden=24, embed=8)).eval()
    ids = torch.randint(0, 40, (3, 50))
    state = model.init_state(3)
    state = tuple(torch.randn_like(s) for s in state) if isinstance(state, tuple) else torch.randn_like(state)
    with torch.no_grad():
        fast_logits, fast_state = model(ids, state)
    logits, final, states = Stepper(model).run(ids, state, kinds={"h"})
    assert (logits - fast_logits).abs().max() <= 1e-5
    for a, b in zip(final if isinstance(final, tuple) else (final,),
                    fast_state if isinstance(fast_state, tuple) else (fast_state,)):
        assert (a - b).abs().max() <= 1e-5
    # the recorded top-layer h is the fast path's output sequence
    with torch.no_grad():
        out, _ = model.rnn(model.embedding(ids), state)
    assert (states[(layers - 1, "h")].transpose(0, 1) - out).abs().max() <= 1e-5
    # the fused path (recording) and the stepped path (interventions) agree on every state
    kinds = set(cells.get(cell).kinds)
    _, _, fused = Stepper(model).run(ids, state, kinds=kinds, fused=True)
    stepped_logits, _, stepped = Stepper(model).run(ids, state, kinds=kinds, stepped=True)
    assert (stepped_logits - fast_logits).abs().max() <= 1e-5
    assert fused.keys() == stepped.keys() == {(l, k) for l in range(layers) for k in kinds}
    for key in fused:
        assert (fused[key] - stepped[key]).abs().max() <= 1e-5, key


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_reused_buffers_give_the_same_windows(cell):
    """reuse_outputs: each window's states equal a fresh stepper's, window after window (windows of
    different lengths, so a buffer is reused at another shape)."""
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=30, cell=cell, layers=2, hidden=16, embed=8)).eval()
    ids = torch.randint(0, 30, (4, 60))
    kinds = set(cells.get(cell).kinds)
    fresh, reused = Stepper(model), Stepper(model, reuse_outputs=True)
    state_a = state_b = None
    for s0, s1 in [(0, 25), (25, 35), (35, 60)]:
        la, state_a, a = fresh.run(ids[:, s0:s1], state_a, kinds)
        lb, state_b, b = reused.run(ids[:, s0:s1], state_b, kinds)
        assert torch.equal(la, lb)
        for key in a:
            assert torch.equal(a[key], b[key]), key


def test_lstm_gates_obey_the_cell_equation():
    model = CharRNN(ModelConfig(vocab_size=20, layers=1, hidden=8, embed=4)).eval()
    _, _, s = Stepper(model).run(torch.randint(0, 20, (2, 10)), kinds="ifgoch")
    c_prev = torch.cat([torch.zeros(1, 2, 8), s[(0, "c")][:-1]])
    torch.testing.assert_close(s[(0, "c")], s[(0, "f")] * c_prev + s[(0, "i")] * s[(0, "g")])
    torch.testing.assert_close(s[(0, "h")], s[(0, "o")] * torch.tanh(s[(0, "c")]))


def test_record_writes_a_readable_recording(tiny_run):
    path = record(tiny_run, "val", name="val", kinds="i,f,g,o,c,h", streams=4, burn_in=64, progress=False)
    rec = open_recording(path)
    meta = json.loads((path / "meta.json").read_text())
    assert meta["schema_version"] == 2 and meta["n_chars"] == rec.n_chars > 1000 and len(meta["source_sha256"]) == 64
    assert rec.stored_kinds == ["i", "f", "g", "o", "c", "h"] and meta["derived"] == []
    from charnn.fsio import FILE_MODE
    assert {f.stat().st_mode & 0o777 for f in path.rglob("*") if f.is_file()} == {FILE_MODE}  # one mode, as a run's
    text = rec.text
    assert list(text.pos) == list(range(rec.n_chars)) and "".join(text.char) == rec.string
    # line and column agree with the string
    lines = rec.string.split("\n")
    row = text.iloc[len(lines[0]) + 3]
    assert (row.line, row.col) == (1, 2)
    assert np.isnan(text.loss_bits.iloc[0]) and (text.loss_bits.iloc[1:] >= 0).all()
    assert text.next_top.str.len().eq(5).all()
    # pandas, pyarrow and DuckDB all read the states, in text order, equal to what the reader serves
    states = pd.read_parquet(path / "states" / "layer=1" / "kind=c")
    assert states.shape == (rec.n_chars, 1 + 32) and (states.pos.to_numpy() == np.arange(rec.n_chars)).all()
    np.testing.assert_array_equal(states.u0005.to_numpy(np.float32), rec.activations(1, "c", units=[5])[:, 0])
    table = pq.read_table(path / "states", filters=[("layer", "=", 0), ("kind", "=", "h")], columns=["pos", "u0007"])
    assert table.num_rows == rec.n_chars
    mean, count = duckdb.sql(
        f"SELECT avg(u0003), count(*) FROM read_parquet('{path}/states/*/*/*.parquet', hive_partitioning=true) "
        "WHERE layer = 1 AND kind = 'c'").fetchall()[0]
    assert count == rec.n_chars
    assert mean == pytest.approx(rec.activations(1, "c", units=[3]).mean(), abs=1e-3)


def test_window_reads_agree_with_full_reads(tiny_run):
    rec = open_recording(record(tiny_run, "val", name="win", streams=4, burn_in=32, progress=False))
    full = rec.activations(1, "h")
    window = rec.activations(1, "h", units=[5, 9], start=700, stop=1900)
    np.testing.assert_array_equal(window, full[700:1900][:, [5, 9]])
    chunks = np.concatenate([block[(1, "h")] for _, _, block in rec.iter_chunks(kinds=["h"], chunk_chars=500)])
    np.testing.assert_array_equal(chunks, full)
    lo, hi = rec.unit_range(1, "h")
    assert (lo <= full.min(0)).all() and (hi >= full.max(0)).all()


def forgetful_copy(run_dir, tmp_path):
    """The tiny run with forget gates biased shut: every state forgets within ~100 characters."""
    import shutil

    from charnn.run import save_weights
    copy = tmp_path / "forgetful"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("recordings"))
    run = load_run(copy)
    with torch.no_grad():
        for layer in range(run.model.config.layers):
            hidden = run.model.config.hidden
            getattr(run.model.rnn, f"bias_ih_l{layer}")[hidden : 2 * hidden] = -3.0
    save_weights(run.model, copy / "model.safetensors")
    return copy


def test_parallel_streams_match_one_sequential_pass(tiny_run, tmp_path):
    """Documented tolerance: once a stream has read its burn-in, c matches one sequential pass
    to 1e-3 for states that forget within the burn-in (see docs/recording.md for real models)."""
    run = forgetful_copy(tiny_run, tmp_path)
    rec = open_recording(record(run, "val", name="streams", kinds="c", streams=8, burn_in=256,
                                dtype="float32", progress=False, part_chars=2100))
    single = open_recording(record(run, "val", name="single", kinds="c", streams=1, dtype="float32", progress=False))
    assert rec.meta["streams"] > 1 and len(rec.parts) > 1 and single.meta["streams"] == 1
    for layer in range(2):
        assert np.abs(rec.activations(layer, "c") - single.activations(layer, "c")).max() < 1e-3
    np.testing.assert_allclose(rec.text.loss_bits, single.text.loss_bits, atol=1e-3)


def test_unknown_characters_are_recorded_and_counted(tiny_run, tmp_path):
    text = tmp_path / "odd.txt"
    text.write_text("Elizabeth ☃ said «yes».\n" * 10)
    rec = open_recording(record(tiny_run, text, progress=False))
    assert rec.meta["unknown_chars"] == 30 and "☃" in rec.string


def test_bad_inputs(tiny_run, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty"):
        record(tiny_run, empty, progress=False)
    with pytest.raises(ValueError, match="kinds"):
        record(tiny_run, "val", kinds="c,x", progress=False)
    half = tmp_path / "half"
    half.mkdir()
    for name in ("config.json", "vocab.json"):
        (half / name).write_bytes((tiny_run / name).read_bytes())
    with pytest.raises(RunError, match="model.safetensors"):
        record(half, "val", progress=False)


def test_a_crash_mid_write_leaves_no_recording(tiny_run, monkeypatch):
    def explode(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(writer_module, "write_part", explode)
    with pytest.raises(OSError, match="No space"):
        record(tiny_run, "val", name="crashed", progress=False)
    folder = tiny_run / "recordings"
    assert not (folder / "crashed").exists()
    with pytest.raises(RecordingError, match="not a recording"):
        open_recording(folder / ".crashed.partial")  # what was written so far has no manifest


def test_newer_schema_is_refused(tiny_run):
    path = record(tiny_run, "val", name="future", streams=2, progress=False)
    meta = json.loads((path / "meta.json").read_text())
    (path / "meta.json").write_text(json.dumps({**meta, "schema_version": 99}))
    with pytest.raises(RecordingError, match="newer"):
        open_recording(path)
    with pytest.raises(RecordingError, match="not a recording"):
        open_recording(path / "states")


def test_interventions_clamp_and_validate():
    model = CharRNN(ModelConfig(vocab_size=20, layers=2, hidden=8, embed=4)).eval()
    ids = torch.randint(0, 20, (2, 12))
    stepper = Stepper(model)
    base, _, _ = stepper.run(ids)
    logits, _, s = stepper.run(ids, kinds="c", interventions=[Intervention(0, "c", 3, 2.5)])
    assert (s[(0, "c")][:, :, 3] == 2.5).all() and not torch.allclose(base, logits)
    with pytest.raises(ValueError, match="layer 5"):
        stepper.run(ids, interventions=[Intervention(5, "c", 0)])
    with pytest.raises(ValueError, match="unit 99"):
        stepper.run(ids, interventions=[Intervention(0, "h", 99)])


def test_training_records_the_probe_text_at_checkpoints(small_corpus, tmp_path):
    from charnn.train import TrainConfig, Trainer
    probe = tmp_path / "probe.txt"
    probe.write_text('"I am quite sure," said she, "that it is so."\n' * 20)
    cfg = TrainConfig(corpus=str(small_corpus), out=str(tmp_path / "run"), seq_len=32, batch_size=8, max_steps=20,
                      eval_every=10, warmup_steps=2, eval_chars=2000, record_every=10, probe_text=str(probe))
    Trainer(cfg, dict(layers=1, hidden=16, embed=8)).fit()
    steps = sorted(p.name for p in (tmp_path / "run" / "recordings").iterdir())
    assert steps == ["step-0000010", "step-0000020"]
    early, late = (open_recording(tmp_path / "run" / "recordings" / s) for s in steps)
    assert early.string == late.string and early.meta["model_sha256"] != late.meta["model_sha256"]
    assert not np.allclose(early.activations(0, "c"), late.activations(0, "c"))


def test_unit_stats_match_the_recorded_values(tiny_run):
    rec = open_recording(record(tiny_run, "val", name="stats", streams=4, burn_in=32, progress=False))
    for layer, kind in [(0, "c"), (1, "h")]:
        a = rec.activations(layer, kind).astype(np.float64)  # (n, H)
        s = rec.unit_stats.query("layer == @layer and kind == @kind").sort_values("unit")
        np.testing.assert_array_equal(s["min"], a.min(0).astype(np.float32))
        np.testing.assert_array_equal(s["max"], a.max(0).astype(np.float32))
        np.testing.assert_allclose(s["mean"], a.mean(0), atol=1e-5)
        np.testing.assert_allclose(s["std"], a.std(0), atol=1e-4)
    for layer, kind in [(0, "f"), (1, "g")]:  # derived kinds: statistics of a sample of the stepper's windows
        a = rec.activations(layer, kind).astype(np.float64)
        s = rec.unit_stats.query("layer == @layer and kind == @kind").sort_values("unit")
        assert (s["min"] >= a.min(0) - 1e-3).all() and (s["max"] <= a.max(0) + 1e-3).all()
        assert (s["min"] <= s["mean"]).all() and (s["mean"] <= s["max"]).all()
        np.testing.assert_allclose(s["mean"], a.mean(0), atol=0.05)
