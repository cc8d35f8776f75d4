"""Damaged files and extreme values get a one-line error naming the file or the input, quickly.
Run: pytest tests/test_damaged_inputs.py"""

import json
import math
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file

from charnn.cli import main
from charnn.recording import RecordingError, open_recording, record
from charnn.run import RunError, load_run
from charnn.sample import generate
from charnn.text.grammar import ExplanationError
from charnn.text.parser import parse
from dashboards.state import resolve


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("recordings"))
    return run


@pytest.fixture(scope="module")
def recorded(tiny_run, tmp_path_factory):
    run = tmp_path_factory.mktemp("damaged") / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("recordings"))
    return record(run, "val", name="val", max_chars=2000, progress=False)


def edit_json(path, change):
    payload = json.loads(path.read_text())
    change(payload)
    path.write_text(json.dumps(payload))


def one_line_error(capsys, argv, *needles):
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    for needle in needles:
        assert str(needle) in err[0], (needle, err[0])


def test_a_config_with_a_billion_layers_is_named_at_once(run_copy):
    edit_json(run_copy / "config.json", lambda c: c["model"].update(layers=10 ** 9))
    result = subprocess.run([sys.executable, "-m", "charnn", "sample", str(run_copy), "--length", "5"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert str(run_copy / "config.json") in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("hidden", [10 ** 9, "big", 2.5, True])
def test_a_damaged_hidden_size_names_the_config(run_copy, hidden, capsys):
    edit_json(run_copy / "config.json", lambda c: c["model"].update(hidden=hidden))
    one_line_error(capsys, ["sample", run_copy, "--length", "5"], run_copy / "config.json")


def test_nan_weights_are_refused_at_load(run_copy):
    weights = load_file(str(run_copy / "model.safetensors"))
    weights["head.bias"][0] = float("nan")
    save_file(weights, str(run_copy / "model.safetensors"))
    with pytest.raises(RunError, match="NaN or infinite weights"):
        load_run(run_copy)


def test_a_broken_vocabulary_is_named(run_copy, capsys):
    (run_copy / "vocab.json").write_text("{not json")
    one_line_error(capsys, ["sample", run_copy, "--length", "5"], run_copy / "vocab.json")
    (run_copy / "vocab.json").write_text(json.dumps({"reserved": ["<unk>", "<doc>"], "chars": ["ab", 3]}))
    with pytest.raises(ValueError, match="vocab.json"):
        load_run(run_copy)


def copy_of(rec_path, tmp_path):
    copy = tmp_path / "rec"
    shutil.copytree(rec_path, copy)
    return copy


@pytest.mark.parametrize("change", [
    lambda m: m.update(hidden=10 ** 9),
    lambda m: m["stored"]["0"].update(c=10 ** 9),
    lambda m: m.update(layers=10 ** 9),
    lambda m: m["parts"][0].update(stop=10 ** 12) or m.update(n_chars=10 ** 12),
])
def test_a_manifest_with_huge_sizes_is_refused_before_allocating(recorded, tmp_path, change, capsys):
    rec = copy_of(recorded, tmp_path)
    edit_json(rec / "meta.json", change)
    with pytest.raises(RecordingError, match="meta.json"):
        open_recording(rec)
    one_line_error(capsys, ["search", rec, "--concept", "whitespace", "--quiet"], rec / "meta.json")


def test_manifest_file_entries_stay_inside_the_recording(recorded, tmp_path):
    rec = copy_of(recorded, tmp_path)
    for outside in ("/etc/shadow", "../../../../etc/passwd", "text/../../run/config.json"):
        edit_json(rec / "meta.json", lambda m: m["files"].update({outside: 1}))
        with pytest.raises(RecordingError, match="not inside the recording") as err:
            open_recording(rec)
        assert "bytes" not in str(err.value) and "missing" not in str(err.value)
        edit_json(rec / "meta.json", lambda m: m["files"].pop(outside))


@pytest.mark.parametrize("text", ["(" * 700 + "char `a`" + ")" * 700, "NOT " * 480 + "char `a`"])
def test_deeply_nested_explanations_are_refused_with_a_message(text):
    with pytest.raises(ExplanationError, match="nested more than"):
        parse(text)


def test_nesting_within_the_limit_parses():
    assert str(parse("(" * 30 + "char `a`" + ")" * 30)) == "char `a`"


@pytest.mark.parametrize("weight", ["1e308", "1e39", "-1e7"])
def test_explanation_weights_beyond_range_are_refused(weight):
    with pytest.raises(ExplanationError, match="weight must be within"):
        parse(f"{weight} * char `a`")


@pytest.mark.parametrize("value", ["1e39", "1e308", "-3e38"])
def test_clamp_values_beyond_float32_are_refused(tiny_run, value, capsys):
    one_line_error(capsys, ["sample", tiny_run, "--clamp", f"0:c:1={value}", "--length", "5"], value)
    one_line_error(capsys, ["ablate", tiny_run, "val", "--unit", "0:c:1", "--mode", f"clamp={value}"], value)


def test_a_tiny_temperature_picks_the_likeliest_character(tiny_run):
    run = load_run(tiny_run)
    cold = generate(run.model, run.vocab, "The ", 40, temperature=1e-45, seed=1)
    assert cold == generate(run.model, run.vocab, "The ", 40, temperature=1e-30, seed=2) and len(cold) == 40


def test_sample_length_and_search_caps(tiny_run, recorded, capsys):
    one_line_error(capsys, ["sample", tiny_run, "--length", str(10 ** 9)], "--length")
    one_line_error(capsys, ["search", recorded, "--regex", "(a+)+$", "--timeout", "1e9"], "--timeout")
    one_line_error(capsys, ["search", recorded, "--concept", "whitespace", "--bins", "100000000"], "--bins")


def test_sample_streams_its_output(tiny_run):
    proc = subprocess.Popen([sys.executable, "-m", "charnn", "sample", str(tiny_run), "--length", "10000000",
                             "--prime", "The"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = proc.stdout.read(200)  # arrives long before 1e7 characters could be generated
    finally:
        proc.kill()
        proc.wait()
    assert first.startswith(b"The") and len(first) == 200


def test_infinity_in_a_dashboard_view_falls_back_to_defaults():
    class Catalog:
        runs = staticmethod(lambda: ["a"])
        recordings = staticmethod(lambda run: ["val"])
        info = staticmethod(lambda run, rec: {"layers": 2, "kinds": ["c", "h"], "n_chars": 1000})
        width = staticmethod(lambda run, rec, layer, kind: 8)
    view = json.loads('{"run": "a", "unit": Infinity, "pos": -Infinity, "layer": NaN, "win": Infinity}')
    v = resolve(view, Catalog())
    assert (v["unit"], v["pos"], v["layer"]) == (0, 0, 1) and not any(
        isinstance(x, float) and not math.isfinite(x) for x in v.values())


def test_weights_check_does_not_allocate_the_claimed_size(run_copy):
    edit_json(run_copy / "config.json", lambda c: c["model"].update(vocab_size=10 ** 12))
    with pytest.raises(RunError, match="does not match"):
        load_run(run_copy)


@pytest.mark.parametrize("device", ["tpu", "cuda:7", "cuda" if not torch.cuda.is_available() else "cuda:99"])
def test_an_unusable_device_is_refused_up_front_and_leaves_nothing(run_copy, device, capsys):
    one_line_error(capsys, ["record", run_copy, "val", "--device", device, "--max-chars", "300"], device)
    with pytest.raises(ValueError, match="device"):
        record(run_copy, "val", device=device, max_chars=300, progress=False)
    assert not (run_copy / "recordings").exists()


@pytest.mark.slow
def test_an_unreachable_cluster_is_one_line_and_quick(recorded, capsys):
    import time
    t0 = time.perf_counter()
    one_line_error(capsys, ["search", recorded, "--concept", "whitespace", "--quiet", "--cluster", "tcp://127.0.0.1:9"],
                   "no Dask scheduler answers at tcp://127.0.0.1:9")
    assert time.perf_counter() - t0 < 60
