"""charnn's threads follow the cores the process may use (or CHARNN_THREADS), and OpenMP waits passively.
Run: pytest tests/test_threads.py"""

import os
import subprocess
import sys

import pytest
import torch

from charnn import threads
from charnn.explanations import engine as explain_engine
from charnn.recording import open_recording, record
from charnn.search import search


@pytest.fixture
def three_cores(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.setattr(os, "process_cpu_count", lambda: 3, raising=False)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_the_core_count_comes_from_the_process_and_can_be_overridden(three_cores, monkeypatch):
    assert threads.cpu_count() == 3 and threads.count() == 3
    monkeypatch.delattr(os, "process_cpu_count")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 5, 7, 9})
    assert threads.count() == 4
    monkeypatch.setenv(threads.ENV, "1")
    assert threads.count() == 1 and threads.configure() == 1 and torch.get_num_threads() == 1
    monkeypatch.setenv(threads.ENV, "lots")
    with pytest.raises(ValueError, match="CHARNN_THREADS"):
        threads.count()


@pytest.fixture(scope="module")
def small_rec(tiny_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("threads") / "rec"
    return open_recording(record(tiny_run, "val", out=out, max_chars=3000, progress=False))


def spy_workers(monkeypatch, module) -> list[int]:
    seen, real = [], threads.run

    def run(job, jobs, workers, name="search"):
        seen.append(workers)
        return real(job, jobs, workers, name)
    monkeypatch.setattr(module, "run", run)
    return seen


def test_search_and_explain_tile_workers_follow_the_core_count(three_cores, small_rec, monkeypatch):
    threads.configure()
    assert torch.get_num_threads() == 3
    seen = spy_workers(monkeypatch, threads)
    search(small_rec, concept="whitespace", kinds=["h"], progress=False)
    explain_engine.explain(small_rec, kinds=["h"], progress=False, save=False, sample=2000, hist_sample=2000)
    assert seen and set(seen) == {3}, seen


def test_importing_charnn_bounds_openmp_spinning_unless_told_otherwise():
    code = "import os, charnn, torch; print(os.environ.get('GOMP_SPINCOUNT'), os.environ.get('OMP_WAIT_POLICY'))"
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}

    def seen(**extra):
        return subprocess.run([sys.executable, "-c", code], env={**env, **extra}, capture_output=True,
                              text=True, check=True).stdout.split()

    assert seen() == [str(threads.SPIN_COUNT), "None"]
    assert seen(OMP_WAIT_POLICY="PASSIVE") == ["None", "PASSIVE"]  # a chosen policy is left alone
    assert seen(GOMP_SPINCOUNT="5") == ["5", "None"]
