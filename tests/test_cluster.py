"""Record, search and atlas on a Dask LocalCluster of 2 worker processes: the same results as one
process, and a worker that dies mid-job is rerun or fails the command without a recording that
looks complete. Run: pytest tests/test_cluster.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from charnn import cluster, explain
from charnn.recording import RecordingError, open_recording, record, writer
from charnn.search import atlas, search

pytest.importorskip("distributed")
pytestmark = pytest.mark.slow  # a cluster starts two Python processes

RECORD = dict(part_chars=1_000, streams=4, burn_in=32, progress=False)  # the tiny run's 4,000 val characters


@pytest.fixture(scope="module")
def client():
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    with cluster.connect(workers=2) as c:
        yield c


@pytest.fixture(scope="module")
def single(tiny_run, tmp_path_factory):
    return open_recording(record(tiny_run, "val", out=tmp_path_factory.mktemp("single") / "rec", **RECORD))


def assert_same_recording(a, b):
    assert [p.to_json() for p in a.parts] == [p.to_json() for p in b.parts] and len(a.parts) == 4
    assert a.string == b.string
    for layer in range(a.layers):
        for kind in a.kinds:  # stored and derived
            x, y = a.activations(layer, kind), b.activations(layer, kind)
            np.testing.assert_allclose(y, x, rtol=2 ** -10, atol=2 ** -14, err_msg=f"{layer}:{kind}")  # float16 rounding
    np.testing.assert_allclose(b.text_column("loss_bits"), a.text_column("loss_bits"), rtol=1e-4, atol=1e-5)


def test_a_recording_made_by_two_workers_equals_one_made_in_one_process(client, tiny_run, single, tmp_path):
    rec = open_recording(record(tiny_run, "val", out=tmp_path / "rec", client=client, **RECORD))
    assert_same_recording(single, rec)


def test_search_and_atlas_on_the_cluster_equal_the_single_process_results(client, single):
    for query in (dict(regex=r'"[^"]*"'), dict(concept="line_position")):
        alone = search(single, progress=False, **query)
        spread = search(single, progress=False, client=client, **query)
        pd.testing.assert_frame_equal(spread, alone, rtol=0, atol=1e-6)
        assert spread.attrs == alone.attrs
    alone, spread = atlas(single, progress=False), atlas(single, progress=False, client=client)
    for a, b in zip(alone, spread):
        pd.testing.assert_frame_equal(b, a, rtol=0, atol=1e-6)
    assert len(alone[0]) > 10 and set(alone[0]["kind"]) == {"c", "h"}


def test_explain_on_the_cluster_equals_the_single_process_explanations(client, single):
    alone = explain(single, progress=False, save=False)
    spread = explain(single, progress=False, save=False, client=client)
    pd.testing.assert_frame_equal(spread, alone, rtol=0, atol=1e-6)
    assert (alone["status"] == "ok").sum() > 50 and alone["explanation"].notna().sum() > 50


def test_a_worker_killed_mid_part_is_replaced_and_its_part_rerun(client, tiny_run, single, tmp_path, monkeypatch):
    once = tmp_path / "killed-once"

    def dies_the_first_time(job):  # runs on a worker
        if job[1] == 1 and not once.exists():
            once.touch()
            os._exit(1)  # the worker process dies in the middle of the job
        return writer.write_part(Path(job[0]), job[1])

    monkeypatch.setattr(writer, "write_part_task", dies_the_first_time)
    rec = open_recording(record(tiny_run, "val", out=tmp_path / "rec", client=client, **RECORD))
    assert once.exists()
    assert_same_recording(single, rec)


def test_a_part_that_keeps_killing_its_worker_fails_the_command_and_leaves_no_recording(
        client, tiny_run, single, tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "write_part_task", lambda job: os._exit(1) if job[1] == 2 else
                        writer.write_part(Path(job[0]), job[1]))
    target = tmp_path / "rec"
    # part 2 kills its worker; a part that shared that worker may be the one reported first
    with pytest.raises(cluster.ClusterError, match=r"record: part \d+ failed on the cluster"):
        record(tiny_run, "val", out=target, client=client, **RECORD)
    with pytest.raises(RecordingError):
        open_recording(target)
    monkeypatch.undo()
    assert_same_recording(single, open_recording(record(tiny_run, "val", out=target, **RECORD)))  # resumes


def test_without_a_cluster_flag_dask_is_never_imported(single):
    code = ("import sys; from charnn import cli; cli.main(['search', sys.argv[1], '--concept', 'inside_quotes', "
            "'--quiet']); cli.main(['atlas', sys.argv[1], '--quiet']); assert 'distributed' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code, str(single.path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "inside_quotes" in done.stdout
