"""Recordings made of parts: derived gates, parts against one part, resuming, locking, added kinds
and the errors a damaged recording gives: `pytest tests/test_recording_parts.py`."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from charnn.corpus_store import corpora_dir
from charnn.model import CharRNN, ModelConfig
from charnn.recording import RecordingError, open_recording, record
from charnn.recording import writer as writer_module
from charnn.recording.layout import lock_file, partial_folder, states_file
from charnn.run import create_run
from charnn.units import Unit
from charnn.vocab import Vocab

F16_TOLERANCE = 2 * 2.0 ** -10  # two float16 steps at 1.0: a gate from float16-rounded h, itself rounded


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("parts") / "pride.txt"
    path.write_text((corpora_dir() / "austen" / "02-pride-and-prejudice.txt").read_text()[20_000:26_000])
    return path


def random_run(folder, cell: str, layers: int, seed: int = 0):
    text = (corpora_dir() / "austen" / "02-pride-and-prejudice.txt").read_text()[:30_000]
    vocab = Vocab.from_texts([text])
    torch.manual_seed(seed)
    model = CharRNN(ModelConfig(vocab_size=len(vocab), cell=cell, layers=layers, hidden=40, embed=12)).eval()
    return create_run(folder, model, vocab)


SMALL = dict(streams=4, burn_in=32, part_chars=2500, progress=False)  # 3 parts of 2-4 streams each


@pytest.mark.parametrize("cell, layers", [("lstm", 3), ("gru", 2)])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_derived_gates_equal_the_steppers(tmp_path, text_file, cell, layers, dtype):
    """Gates derived from the stored h equal the gates the stepper computed and stored, at every
    row: inside streams, at each stream's first row (h from its burn-in) and across parts."""
    run = random_run(tmp_path / "run", cell, layers)
    gates = {"lstm": "i,f,g,o", "gru": "r,z,n"}[cell]
    stored = open_recording(record(run, str(text_file), kinds=f"{gates},h", dtype=dtype, out=tmp_path / "all", **SMALL))
    derived = open_recording(record(run, str(text_file), kinds="h", dtype=dtype, out=tmp_path / "h", **SMALL))
    assert len(derived.parts) == 3 and derived.stored_kinds == ["h"] and derived.kinds == [*gates.split(","), "h"]
    firsts = np.concatenate([p.start + p.segment * np.arange(p.streams) for p in derived.parts])
    tolerance = 1e-5 if dtype == "float32" else F16_TOLERANCE
    for layer in range(layers):
        for kind in gates.split(","):
            a, b = derived.activations(layer, kind), stored.activations(layer, kind)
            assert np.abs(a - b).max() <= tolerance, (layer, kind)
            assert np.abs(a[firsts] - b[firsts]).max() <= tolerance  # the boundary states at work
            window = derived.activations(layer, kind, units=[1, 7], start=2490, stop=2510)  # across a part boundary
            np.testing.assert_allclose(window, a[2490:2510, [1, 7]], atol=1e-6)
    if cell == "lstm":  # gate saturation reads the derived gates like stored ones
        from charnn.gates import saturation
        a, b = saturation(derived), saturation(stored)
        np.testing.assert_allclose(a[["left", "right"]], b[["left", "right"]], atol=0.002)


def test_several_parts_equal_one_part(tmp_path, text_file):
    """Parts whose streams start where one part's streams start give the same recording."""
    run = random_run(tmp_path / "run", "lstm", 2)
    one = open_recording(record(run, str(text_file), streams=6, burn_in=32, part_chars=10 ** 6, dtype="float32",
                                out=tmp_path / "one", progress=False))
    three = open_recording(record(run, str(text_file), streams=2, burn_in=32, part_chars=2000, dtype="float32",
                                  out=tmp_path / "three", progress=False))
    assert [p.segment for p in one.parts] == [1000] and [p.segment for p in three.parts] == [1000] * 3
    assert one.string == three.string and len(three.parts) == 3
    for kind in ("c", "h", "f"):
        np.testing.assert_allclose(three.activations(1, kind), one.activations(1, kind), atol=1e-5)
    np.testing.assert_allclose(three.text.loss_bits, one.text.loss_bits, atol=1e-5, equal_nan=True)
    assert (three.text.next_top == one.text.next_top).mean() > 0.999  # ties may order differently


def states_of(rec) -> dict:
    return {(l, k): rec.activations(l, k) for l in range(rec.layers) for k in rec.stored_kinds}


def test_a_failed_part_leaves_no_recording_and_the_rerun_finishes(tmp_path, text_file, monkeypatch):
    run = random_run(tmp_path / "run", "lstm", 2)
    reference = open_recording(record(run, str(text_file), out=tmp_path / "reference", **SMALL))
    target, calls = tmp_path / "rec", []
    real = writer_module.write_part

    def failing(folder, index, *args, **kwargs):
        calls.append(index)
        if index == 1:
            raise OSError(28, "No space left on device")
        return real(folder, index, *args, **kwargs)
    monkeypatch.setattr(writer_module, "write_part", failing)
    with pytest.raises(OSError, match="No space"):
        record(run, str(text_file), out=target, **SMALL)
    assert not target.exists() and (partial_folder(target) / "parts" / "part-00000.json").is_file()
    with pytest.raises(RecordingError):
        open_recording(partial_folder(target))
    written = []
    monkeypatch.setattr("charnn.recording.part._PartWriter.run",
                        lambda self, progress, real_run=__import__("charnn.recording.part", fromlist=["x"])._PartWriter.run:
                        written.append(self.part.index) or real_run(self, progress))
    monkeypatch.setattr(writer_module, "write_part", real)
    rec = open_recording(record(run, str(text_file), out=target, **SMALL))
    assert written == [1, 2]  # part 0 was complete: kept
    assert rec.string == reference.string and not partial_folder(target).exists() and not lock_file(target).exists()
    for key, values in states_of(reference).items():
        np.testing.assert_array_equal(states_of(rec)[key], values)
    np.testing.assert_array_equal(rec.text.loss_bits, reference.text.loss_bits)


def test_a_rerun_with_other_settings_starts_over_and_old_leftovers_go(tmp_path, text_file, monkeypatch):
    run = random_run(tmp_path / "run", "lstm", 1)
    target = tmp_path / "rec"
    monkeypatch.setattr(writer_module, "write_part", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        record(run, str(text_file), out=target, **SMALL)
    monkeypatch.undo()
    stale = tmp_path / ".rec.partial-4242"  # what a killed older charnn left
    stale.mkdir()
    rec = open_recording(record(run, str(text_file), out=target, dtype="float32", **SMALL))
    assert rec.dtype == np.float32 and not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec", "run"]


def test_a_second_recorder_of_the_same_name_is_refused(tmp_path, text_file):
    run = random_run(tmp_path / "run", "lstm", 1)
    target = tmp_path / "rec"
    with open(lock_file(target), "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another recorder at work
        with pytest.raises(RecordingError, match="another recorder is writing"):
            record(run, str(text_file), out=target, **SMALL)
    assert open_recording(record(run, str(text_file), out=target, **SMALL)).n_chars == 6000


KILLED = """
import sys
from charnn.recording import record
record(sys.argv[1], sys.argv[2], out=sys.argv[3], streams=4, burn_in=32, part_chars=400, progress=False)
"""


@pytest.mark.slow
def test_killing_the_recorder_at_random_moments(tmp_path, text_file):
    """SIGKILL early and just after parts complete: nothing opens as a recording until the end, the rerun of the
    same command finishes the job and equals an uninterrupted recording, and a part that was
    complete when the recorder was killed is kept, not written again."""
    run = random_run(tmp_path / "run", "lstm", 2)
    cmd = [sys.executable, "-c", KILLED, str(run), str(text_file)]
    t0 = time.perf_counter()
    subprocess.run(cmd + [str(tmp_path / "reference")], check=True)
    full = time.perf_counter() - t0
    target = tmp_path / "rec"
    partial, kept = partial_folder(target), {}  # part -> (inode, mtime) of its state file when first complete
    # one kill at a random moment early on, then each just after a part's marker appears (in the
    # middle of writing the next): timed by the recording itself, not by how fast this machine is
    for early in (np.random.default_rng(0).uniform(0, 0.3 * full), None, None, None):
        proc = subprocess.Popen(cmd + [str(target)])
        if early is not None:
            time.sleep(early)
        else:
            markers = len(list((partial / "parts").glob("part-*.json")))
            deadline = time.perf_counter() + 120
            while (proc.poll() is None and time.perf_counter() < deadline
                   and len(list((partial / "parts").glob("part-*.json"))) <= markers):
                time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if target.exists():  # finished before the kill
            break
        with pytest.raises(RecordingError):
            open_recording(partial)
        for part in (int(m.stem.split("-")[1]) for m in (partial / "parts").glob("part-*.json")):
            stat = states_file(partial, 0, "c", part).stat()
            kept.setdefault(part, (stat.st_ino, stat.st_mtime_ns))
    if not target.exists():
        subprocess.run(cmd + [str(target)], check=True)
    assert kept, "no kill came after a complete part: the delays are too short for this machine"
    for part, (inode, mtime) in kept.items():
        stat = states_file(target, 0, "c", part).stat()
        assert (stat.st_ino, stat.st_mtime_ns) == (inode, mtime), f"part {part} was written again"
    rec, reference = open_recording(target), open_recording(tmp_path / "reference")
    for key, values in states_of(reference).items():
        np.testing.assert_array_equal(states_of(rec)[key], values)
    np.testing.assert_array_equal(rec.text.loss_bits, reference.text.loss_bits)


def test_add_kind_materialises_a_gate_and_stores_a_wider_kind(tmp_path, text_file):
    run = random_run(tmp_path / "run", "lstm", 2)
    rec = open_recording(record(run, str(text_file), out=tmp_path / "rec", **SMALL))
    derived_f = rec.activations(1, "f")
    rec.add_kind(1, "f", rec.hidden, lambda a, b: rec.activations(1, "f", start=a, stop=b))
    rec.add_kind(0, "sae-c", 3 * rec.hidden, lambda a, b: np.tile(rec.activations(0, "c", start=a, stop=b), 3))
    asked = []  # slices of row groups: fn is asked for at most max_rows rows at a time
    rec.add_kind(0, "cc", rec.hidden, lambda a, b: asked.append(b - a) or rec.activations(0, "c", start=a, stop=b),
                 max_rows=300)
    again = open_recording(tmp_path / "rec")
    assert max(asked) == 300 and sum(asked) == rec.n_chars
    np.testing.assert_array_equal(again.activations(0, "cc"), again.activations(0, "c"))
    assert again.stored(1, "f") and not again.stored(0, "f") and again.width(0, "sae-c") == 120
    np.testing.assert_allclose(again.activations(1, "f"), derived_f, atol=F16_TOLERANCE / 2)
    np.testing.assert_array_equal(again.activations(0, "sae-c", units=[45]), again.activations(0, "c", units=[5]))
    assert "sae-c" in again.kinds and not again.has(1, "sae-c")
    lo, hi = again.unit_range(0, "sae-c")
    assert lo.shape == (120,) and np.array_equal(lo[40:80], again.unit_range(0, "c")[0])
    import pandas as pd
    assert pd.read_parquet(tmp_path / "rec" / "states" / "layer=0" / "kind=sae-c").shape == (6000, 121)
    with pytest.raises(RecordingError, match="already stored"):
        again.add_kind(1, "f", 40, lambda a, b: None)
    with pytest.raises(ValueError, match="gave"):
        again.add_kind(0, "bad", 4, lambda a, b: np.zeros((b - a, 3), np.float32))
    assert not open_recording(tmp_path / "rec").has(0, "bad")
    for bad in ("F", "sae:c", "x" * 33):  # the one kind-name rule (charnn.units.check_kind): every unit of it parses
        with pytest.raises(ValueError, match="lowercase letter, then lowercase letters"):
            again.add_kind(0, bad, 4, lambda a, b: np.zeros((b - a, 4), np.float32))
    again.add_kind(0, "x" * 32, 4, lambda a, b: np.zeros((b - a, 4), np.float32))
    assert Unit.parse(f"0:{'x' * 32}:3").check(again.layers, again.kinds, again.width(0, "x" * 32))


@pytest.fixture
def small_rec(tmp_path, text_file):
    run = random_run(tmp_path / "run", "lstm", 1)
    return record(run, str(text_file), out=tmp_path / "rec", **SMALL)


def test_damaged_files_are_named(small_rec):
    state = small_rec / "states" / "layer=0" / "kind=c" / "part-00001.parquet"
    with open(state, "r+b") as f:
        f.truncate(os.path.getsize(state) - 100)
    with pytest.raises(RecordingError, match=r"kind=c/part-00001\.parquet has .* bytes where"):
        open_recording(small_rec)
    state.unlink()
    with pytest.raises(RecordingError, match=r"part-00001\.parquet is missing"):
        open_recording(small_rec)
    (small_rec / "meta.json").write_text('{"schema_version": 2, "n_chars": ')
    with pytest.raises(RecordingError, match=r"meta\.json .* cannot be read"):
        open_recording(small_rec)


def test_a_damaged_marker_is_named(small_rec):
    marker = small_rec / "parts" / "part-00002.json"
    marker.write_text(marker.read_text()[:-40])
    with pytest.raises(RecordingError, match=r"parts/part-00002\.json has .* bytes"):
        open_recording(small_rec)


def test_the_older_schema_says_how_to_record_again(small_rec):
    meta = json.loads((small_rec / "meta.json").read_text())
    (small_rec / "meta.json").write_text(json.dumps({"schema_version": 1, "run": "runs/austen",
                                                     "source": "austen:val", "n_chars": meta["n_chars"]}))
    with pytest.raises(RecordingError, match=r"older charnn .* `charnn record runs/austen val --name rec`"):
        open_recording(small_rec)


def test_the_search_checks_the_recording_before_it_prints(small_rec, capsys):
    from charnn.cli import main
    assert main(["search", str(small_rec), "--regex", "e", "--quiet"]) == 0
    capsys.readouterr()
    text = small_rec / "text" / "part-00000.parquet"
    with open(text, "ab") as f:
        f.write(b"x")
    assert main(["search", str(small_rec), "--regex", "e", "--quiet"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "text/part-00000.parquet has" in err


def test_threads_sharing_the_streams_write_the_same_recording(tmp_path, text_file, monkeypatch):
    """On the CPU the streams of a part are stepped by several threads (one per torch thread)."""
    from charnn.recording.part import _PartWriter
    run = random_run(tmp_path / "run", "gru", 2)
    one = open_recording(record(run, str(text_file), out=tmp_path / "one", **SMALL))
    monkeypatch.setattr(_PartWriter, "workers", lambda self, device: 3)
    three = open_recording(record(run, str(text_file), out=tmp_path / "three", **SMALL))
    for key, values in states_of(one).items():
        np.testing.assert_allclose(states_of(three)[key], values, atol=1e-3)  # float16; batch size may round
    np.testing.assert_allclose(three.text.loss_bits, one.text.loss_bits, atol=1e-5, equal_nan=True)
    for k in ("r", "z"):
        np.testing.assert_allclose(three.unit_range(1, k)[0], one.unit_range(1, k)[0], atol=1e-5)


def test_a_failing_thread_stops_the_part(tmp_path, text_file, monkeypatch):
    from charnn.recording.part import _PartWriter
    run = random_run(tmp_path / "run", "lstm", 1)
    monkeypatch.setattr(_PartWriter, "workers", lambda self, device: 2)
    real, windows = _PartWriter._pack, []

    def pack(self, states, off, b0, b1, stats):
        windows.append(b0)
        if b0 > 0:
            raise MemoryError("out of memory")
        return real(self, states, off, b0, b1, stats)
    monkeypatch.setattr(_PartWriter, "_pack", pack)
    with pytest.raises(MemoryError):
        record(run, str(text_file), out=tmp_path / "rec", **SMALL)
    assert not (tmp_path / "rec").exists() and windows.count(0) < 8  # the other thread stopped early


def test_a_long_derived_read_goes_chunk_by_chunk(tmp_path, text_file, monkeypatch):
    from charnn.recording import reader
    rec = open_recording(record(random_run(tmp_path / "run", "lstm", 2), str(text_file), out=tmp_path / "rec", **SMALL))
    whole = rec.activations(1, "o", units=[2, 30])
    monkeypatch.setattr(reader, "CHUNK_ROWS", 700)  # chunks that cross streams and parts
    np.testing.assert_allclose(rec.activations(1, "o", units=[2, 30]), whole, atol=1e-6)
    np.testing.assert_allclose(rec.activations(1, "o", units=[2, 30], start=650, stop=5300), whole[650:5300], atol=1e-6)


def test_chunks_follow_the_row_groups_and_read_the_same_values_either_way(small_rec):
    rec = open_recording(small_rec)
    for p in rec.parts:
        for max_rows in (1, 7, p.segment - 1, p.segment, 2 * p.segment + 3, 10 ** 6):
            spans = p.chunks(max_rows)
            assert spans[0][0] == p.start and spans[-1][1] == p.stop
            assert all(b == c for (_, b), (c, _) in zip(spans, spans[1:]))
            for a, b in spans:  # at most max_rows rows: whole groups, or rows of one group
                first, last = (a - p.start) // p.segment, (b - 1 - p.start) // p.segment
                whole = (a - p.start) % p.segment == 0 and (b - p.start) % p.segment == 0
                assert 0 < b - a <= max_rows and (whole or first == last)
    both = dict(kinds=["c", "f"], chunk_chars=700)
    for start, stop in ((0, rec.n_chars), (650, 5300)):
        rows = list(rec.iter_chunks(start=start, stop=stop, **both))
        units = list(rec.iter_chunks(start=start, stop=stop, unit_major=True, **both))
        assert [c[:2] for c in rows] == [c[:2] for c in units] == rec.spans(start, stop, 700)
        assert any(u[2][(0, "c")].ndim == 3 for u in units)  # whole row groups: the stored array, in place
        for (_, _, r), (_, _, u) in zip(rows, units):
            for key, x in u.items():
                x = x.transpose(0, 2, 1).reshape(-1, x.shape[1]) if x.ndim == 3 else x.T  # (n, H) in text order
                np.testing.assert_array_equal(r[key], x.astype(np.float32))
        for kind in ("c", "f"):  # f is computed: a matmul of another batch size may round the last bit
            np.testing.assert_allclose(np.concatenate([r[(0, kind)] for _, _, r in rows]),
                                       rec.activations(0, kind, start=start, stop=stop), rtol=0, atol=1e-6)


def test_reads_after_release_are_unchanged(small_rec):
    rec = open_recording(small_rec)
    before = rec.activations(0, "c")
    rec.release()
    np.testing.assert_array_equal(rec.activations(0, "c"), before)
    fresh = open_recording(small_rec)
    np.testing.assert_array_equal(rec.activations(0, "f", start=100, stop=2600),
                                  fresh.activations(0, "f", start=100, stop=2600))
