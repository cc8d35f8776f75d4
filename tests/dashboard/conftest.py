"""Fixtures for the dashboard tests: a tiny run with one recording, built once per session, and
the headless Chromium that the browser tests drive.

    .venv/bin/pytest tests/dashboard -q                 # all (browser tests need /usr/bin/chromium)
    .venv/bin/pytest tests/dashboard -q -m "not browser"

Browser tests use dash[testing]'s `dash_duo` with Debian's chromium and chromium-driver
(`apt-get install chromium chromium-driver`); without a Chromium (charnn.chromium finds it) they are skipped.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
import torch

import charnn
from charnn.chromium import chromedriver, chromium
from charnn.corpus_store import corpora_dir
from charnn.recording import record
from charnn.train import TrainConfig, Trainer

CATASTROPHIC = r"(a|aa)+$"  # exponential on the run of a's planted in the fixture text
SPARED_THREADS = ("charnn-", "job-")  # the engine's process-wide pools and the dashboard's jobs

torch.set_num_threads(1)


def pytest_setup_options():
    """Chrome options for dash_duo: the system Chromium, headless, as scripts/screenshots.py uses it."""
    from dashboards.browser import chrome_options

    return chrome_options(1400, 1000)  # pluggy collects the results into the list dash[testing] expects


def pytest_collection_modifyitems(config, items):
    if chromium() and chromedriver():
        return
    skip = pytest.mark.skip(reason="needs a Chromium and its chromedriver (Debian's chromium and chromium-driver)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def spare_shared_threads(request, monkeypatch):
    """dash_duo stops its server by raising SystemExit in every thread started during the test.
    That would also kill the workers of a process-wide pool the engine started meanwhile (the
    search's), and the next search in this process would wait for them forever: spare them."""
    if "browser" not in request.keywords:
        return
    from dash.testing import application_runners

    kill = application_runners.KillerThread.kill

    def kill_server_threads(self):
        self._old_threads += [i for i, t in list(threading._active.items()) if t.name.startswith(SPARED_THREADS)]
        kill(self)

    monkeypatch.setattr(application_runners.KillerThread, "kill", kill_server_threads)


def callback_request(app, output: str, values: dict) -> tuple[int, dict]:
    """POST the request a browser sends for the callback writing `output` ("paint.data"; for a
    callback with no output, its first input), with the given "id.prop" values for its inputs and
    states (others None): (status, response by id)."""
    key = next(k for k, spec in app.callback_map.items()
               if output in k or [output] == [f"{d['id']}.{d['property']}" for d in spec["inputs"][:1]])
    spec = app.callback_map[key]
    outputs = [dict(zip(("id", "property"), o.rsplit(".", 1))) for o in key.strip(".").split("...") if "." in o]

    def fill(deps):
        return [{**d, "value": values.get(f"{d['id']}.{d['property']}")} for d in deps]
    inputs = [f"{d['id']}.{d['property']}" for d in spec["inputs"]]
    body = {"output": key, "outputs": outputs if len(outputs) != 1 else outputs[0], "inputs": fill(spec["inputs"]),
            "state": fill(spec["state"]), "changedPropIds": [i for i in inputs if i in values] or inputs[:1]}
    response = app.server.test_client().post("/_dash-update-component", json=body)
    return response.status_code, (response.get_json() or {}).get("response", {}) if response.status_code == 200 else {}


@pytest.fixture
def post_callback():
    """callback_request: a callback called over HTTP, as a browser or a crafted client calls it."""
    return callback_request


@pytest.fixture(scope="session")
def catastrophic() -> str:
    return CATASTROPHIC


@pytest.fixture(scope="session")
def dash_runs(tmp_path_factory) -> Path:
    """runs/tiny: a 2x16 LSTM trained 30 steps on 24 KB of Austen, recorded with i,f,o,c,h."""
    root = tmp_path_factory.mktemp("dash") / "runs"
    text = (corpora_dir() / "austen" / "02-pride-and-prejudice.txt").read_text()[:24_000]
    text = text[:3000] + "\n" + "a" * 40 + "\n" + text[3000:]  # a run that makes CATASTROPHIC backtrack
    corpus = root.parent / "pride.txt"
    corpus.write_text(text)
    cfg = TrainConfig(corpus=str(corpus), out=str(root / "tiny"), seq_len=32, batch_size=8, max_steps=30,
                      eval_every=15, warmup_steps=5, eval_chars=2000, lr=1e-2)
    Trainer(cfg, dict(cell="lstm", layers=2, hidden=16, embed=8)).fit()
    record(root / "tiny", str(corpus), name="pride", kinds="i,f,o,c,h", streams=4, burn_in=32, progress=False)
    return root


@pytest.fixture(scope="session")
def explained_runs(dash_runs, tmp_path_factory) -> Path:
    """A copy of `dash_runs` whose recording has explanations for kinds c and h (charnn.explain,
    under a second); dash_runs itself stays unexplained."""
    root = tmp_path_factory.mktemp("explained") / "runs"
    shutil.copytree(dash_runs, root)
    charnn.explain(charnn.open_recording(root / "tiny" / "recordings" / "pride"), kinds=["c", "h"], progress=False)
    return root


@pytest.fixture(scope="session")
def latent_runs(dash_runs, tmp_path_factory) -> Path:
    """A copy of `dash_runs` whose recording stores kind sae-dash: the 40 latents (k 4) of the
    autoencoder `dash` over layer 1's c, its weights drawn from seed 0 (untrained, but a dictionary)."""
    from charnn.sae.kind import add_latents
    from charnn.sae.model import SAEConfig, SparseAutoencoder
    from charnn.sae.store import save

    root = tmp_path_factory.mktemp("latents") / "runs"
    shutil.copytree(dash_runs, root)
    rec = charnn.open_recording(root / "tiny" / "recordings" / "pride")
    sae = SparseAutoencoder(SAEConfig(layer=1, kind="c", hidden=rec.hidden, latents=40, k=4))
    sae.reset_parameters(torch.Generator().manual_seed(0))
    save(rec, "dash", sae, {}, {}, {})
    add_latents(rec, "dash", progress=False)
    return root


@pytest.fixture
def unexplained_runs(dash_runs, tmp_path) -> Path:
    """A fresh copy of `dash_runs`, for a test that explains it."""
    root = tmp_path / "runs"
    shutil.copytree(dash_runs, root)
    return root


@pytest.fixture(scope="session")
def probe_runs(tmp_path_factory) -> Path:
    """runs/seed1 and runs/seed2: 2x8 LSTMs (two seeds) trained 20 steps, each recording a 3 KB probe
    text at steps 10 and 20 (recordings/step-0000010, step-0000020), for the history tab."""
    root = tmp_path_factory.mktemp("history") / "runs"
    text = (corpora_dir() / "austen" / "02-pride-and-prejudice.txt").read_text()[:16_000]
    corpus, probe = root.parent / "pride.txt", root.parent / "probe.txt"
    corpus.write_text(text)
    probe.write_text(text[:3000])
    for seed in (1, 2):
        cfg = TrainConfig(corpus=str(corpus), out=str(root / f"seed{seed}"), seq_len=32, batch_size=8, max_steps=20,
                          eval_every=10, warmup_steps=5, eval_chars=2000, lr=1e-2, seed=seed,
                          record_every=10, probe_text=str(probe))
        Trainer(cfg, dict(cell="lstm", layers=2, hidden=8, embed=8)).fit()
    return root
