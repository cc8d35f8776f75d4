"""Running charnn's per-part work on a Dask cluster (record, search, atlas, explain).

    charnn record runs/austen val --workers 2                       # a LocalCluster of 2 processes
    charnn search REC --concept inside_quotes --cluster tcp://scheduler:8786

    from charnn.cluster import connect
    with connect(workers=2) as client:                               # or connect("tcp://host:8786")
        charnn.search.search(rec, concept="inside_quotes", client=client)

`connect` gives a `dask.distributed.Client`, or None when neither a scheduler nor a worker count
is given: then every command takes its single-process path and Dask is never imported. Work is
cut into one task per recording part; a task is a pure function of its inputs (it opens the
recording or run from its path, so the folders must be on a filesystem every worker sees) whose
result is small (mergeable statistics, or the part's files on disk), and `map_tasks` collects the
results in task order with a progress bar. A worker that dies is replaced and its task rerun (the
tasks are idempotent); a task that fails again ends the command with an error naming the task.
"""

from __future__ import annotations

import logging
import os
import warnings
from contextlib import contextmanager
from typing import Callable, Sequence

from tqdm.auto import tqdm

from .threads import count as cores

RETRIES = 2  # reruns of a task whose worker died or that raised
THREADS_ENV = "CHARNN_TORCH_THREADS"  # torch's threads in a worker's task (set by connect for a LocalCluster)


CONNECT_TIMEOUT = "5s"  # how long a --cluster address may take to answer: a scheduler answers in milliseconds


class ClusterError(RuntimeError):
    """A task failed on the cluster (its message names which and why)."""


class ClusterUnreachable(ConnectionError):
    """No Dask scheduler answers at the address given (the CLI prints it as one line)."""

    def __str__(self) -> str:
        return self.args[0]


@contextmanager
def connect(cluster: str | None = None, workers: int | None = None):
    """A Client to the scheduler at `cluster`, or to a LocalCluster of `workers` processes (one
    task at a time each, torch's threads sharing the cores out) that lives as long as the `with`
    block; None when neither is given."""
    if cluster is None and not workers:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ClusterError("--cluster and --workers need Dask: pip install 'dask[distributed]'") from None
    if cluster is not None:
        try:
            client = Client(cluster, timeout=CONNECT_TIMEOUT)
        except Exception as err:  # noqa: BLE001 - refused, timed out, not an address, or not a Dask scheduler's answer
            raise ClusterUnreachable(f"no Dask scheduler answers at {cluster} within {CONNECT_TIMEOUT} "
                                     f"({type(err).__name__}: {str(err)[:200]}): start one "
                                     "(`dask scheduler`) or leave out --cluster") from None
        with client:
            yield client
        return
    threads = str(max(1, cores() // workers))  # the cores shared out
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR, env={THREADS_ENV: threads}) as local, Client(local) as client:
        yield client


def map_tasks(client, fn: Callable, args: Sequence, desc: str, names: Sequence[str] | None = None,
              progress: bool | Callable[[int, int], None] = True) -> list:
    """[fn(a) for a in args], run on the cluster; results in the order of `args`.

    progress: True for a tqdm bar, or report(done, total) after each task. A task that fails after
    RETRIES reruns raises ClusterError naming it (`names[i]`, default its index)."""
    from distributed import as_completed

    with warnings.catch_warnings():  # each task's inputs (its part's rows of a target) are sent once, by design
        warnings.filterwarnings("ignore", message="Sending large graph")
        futures = client.map(_in_worker, [(fn, a) for a in args], pure=False, retries=RETRIES)
    order = {f.key: i for i, f in enumerate(futures)}
    results = [None] * len(futures)
    report = progress if callable(progress) else None
    with tqdm(total=len(futures), desc=desc, unit="part", disable=report is not None or not progress) as bar:
        for done, future in enumerate(as_completed(futures), 1):
            i = order[future.key]
            try:
                results[i] = future.result()
            except Exception as err:  # noqa: BLE001 - a worker's error (or KilledWorker), reported as one line
                for other in futures:
                    other.cancel()
                name = names[i] if names else f"task {i}"
                raise ClusterError(f"{desc}: {name} failed on the cluster after {RETRIES} reruns: "
                                   f"{type(err).__name__}: {err}") from None
            bar.update(1)
            if report is not None:
                report(done, len(futures))
    return results


def _in_worker(job: tuple):
    """fn(arg) in a worker's task thread, with torch's thread count from CHARNN_TORCH_THREADS where
    the worker has it: torch keeps the count per thread, and a Dask task thread starts with one."""
    fn, arg = job
    threads = os.environ.get(THREADS_ENV)
    if threads:
        import torch
        torch.set_num_threads(int(threads))
    return fn(arg)
