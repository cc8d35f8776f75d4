"""The process's threads: how many cores charnn uses, torch's OpenMP wait policy, and worker
threads that run torch single-threaded (the search's row tiles, the explainer's blocks, the
recorder's streams).

    from charnn import threads
    threads.configure()                        # torch's threads = the cores this process may use
    with threads.per_tile(1) as workers:       # torch ops single-threaded; `workers` threads share the work
        threads.run(job, jobs, workers)

The core count is the cores this process may run on (`os.process_cpu_count()`, else the affinity
mask), overridden by CHARNN_THREADS or a command's --threads. Importing charnn bounds how long an
OpenMP thread spins while it waits (`before_torch`: GOMP_SPINCOUNT=SPIN_COUNT, unless the
environment sets OMP_WAIT_POLICY or GOMP_SPINCOUNT). OpenMP's default spins for up to 300,000
rounds at the end of each small op, and two processes stepping small matrices on two cores spin
against each other (a training 8-12x slower beside another); PASSIVE (no spin) avoids that, but a
thread that sleeps at every op costs a training that has the cores to itself 40% of its speed. A
short spin keeps most of both (docs/safety.md: benchmarks/contention.py). The setting is read when
torch loads its OpenMP library, so it must be set first.

Both the search's statistics and the recorder's stepping are many small ops (or a few long
GIL-free kernel calls). With torch's own threads each small op waits at a barrier, and when
another process held a core that made a search chunk 5x slower here (0.5 s -> 2.7 s) and the
stepped LSTM 4-12x slower; so ops run single-threaded and the work is shared by threads instead.
"""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

ENV = "CHARNN_THREADS"  # overrides the core count (a whole number >= 1)
SPIN_COUNT = 1_000  # spin rounds before a waiting OpenMP thread sleeps: microseconds, not milliseconds


def before_torch() -> None:
    """GOMP_SPINCOUNT=SPIN_COUNT unless the environment chose a wait policy or a spin count: a
    waiting OpenMP thread spins briefly, then sleeps. Takes effect only if torch has not loaded yet
    (charnn's package import calls it first)."""
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", str(SPIN_COUNT))


def cpu_count() -> int:
    """Cores this process may run on: os.process_cpu_count() (Python 3.13+), else the affinity mask."""
    counter = getattr(os, "process_cpu_count", None)
    if counter is not None:
        return max(1, counter() or 1)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def count() -> int:
    """The threads charnn uses: CHARNN_THREADS if it is a whole number >= 1, else cpu_count()."""
    given = os.environ.get(ENV, "").strip()
    if given:
        if not given.isdigit() or int(given) < 1:
            raise ValueError(f"{ENV}={given!r} must be a whole number of threads >= 1")
        return int(given)
    return cpu_count()


def configure(threads: int | None = None) -> int:
    """torch's thread count for this process: `threads` (a command's --threads), else count()."""
    import torch
    n = threads or count()
    torch.set_num_threads(n)
    return n

_pool_lock = threading.Lock()
_pools: dict[tuple[str, int], ThreadPoolExecutor] = {}


def pool(workers: int, name: str = "search") -> ThreadPoolExecutor:
    """A process-wide pool per use and worker count (threads are started once, not per update), whose
    threads run torch single-threaded (a new thread may otherwise start with the default count)."""
    with _pool_lock:
        found = _pools.get((name, workers))
        # A worker that died (a test harness or a server shutdown raising SystemExit in every
        # thread) would leave submitted tiles waiting forever: start a fresh pool instead.
        if found is None or any(not t.is_alive() for t in getattr(found, "_threads", ())):
            if found is not None:
                found.shutdown(wait=False, cancel_futures=True)
            found = _pools[(name, workers)] = ThreadPoolExecutor(workers, thread_name_prefix=f"charnn-{name}",
                                                         initializer=_single_threaded)
        return found


def _single_threaded() -> None:
    import torch
    torch.set_num_threads(1)


_count_lock = threading.Lock()
_users, _before = 0, 1


@contextlib.contextmanager
def per_tile(k: int):
    """Run torch ops with k threads and parallelise over row tiles instead; yields the worker count.

    torch keeps the count per thread, but a new thread starts with the last count set anywhere,
    so threads started during a pass start single-threaded. Overlapping passes (a search beside
    the dashboard's background preparation) therefore share one setting: the first saves the
    count, the last restores it. A pass that saved and restored its own "before" could start
    with another pass's 1 and restore it for good.
    """
    global _users, _before
    import torch
    with _count_lock:
        if _users == 0:
            _before = torch.get_num_threads()
            torch.set_num_threads(k)
        _users += 1
        before = _before
    try:
        yield max(1, min(before, count()))
    finally:
        with _count_lock:
            _users -= 1
            if _users == 0:
                torch.set_num_threads(_before)


def run(job, jobs: list, workers: int, name: str = "search") -> list:
    """[job(j) for j in jobs], on `workers` pool threads (in this thread for one)."""
    return list(pool(workers, name).map(job, jobs) if workers > 1 else map(job, jobs))
