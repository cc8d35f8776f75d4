"""Worker threads that run torch single-threaded: one process-wide pool per size, and torch's
thread count while a pass uses them (the search's row tiles, the recorder's streams).

    from charnn import threads
    with threads.per_tile(1) as workers:       # torch ops single-threaded; `workers` threads share the work
        threads.run(job, jobs, workers)

Both the search's statistics and the recorder's stepping are many small ops (or a few long
GIL-free kernel calls). With torch's own threads each small op waits at a barrier, and when
another process held a core that made a search chunk 5x slower here (0.5 s -> 2.7 s) and the
stepped LSTM 4-12x slower; so ops run single-threaded and the work is shared by threads instead.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import torch

MAX_WORKERS = 2  # threads for the search's row tiles (at most torch's own thread count)

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
                                                         initializer=torch.set_num_threads, initargs=(1,))
        return found


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
    with _count_lock:
        if _users == 0:
            _before = torch.get_num_threads()
            torch.set_num_threads(k)
        _users += 1
        before = _before
    try:
        yield max(1, min(before, MAX_WORKERS))
    finally:
        with _count_lock:
            _users -= 1
            if _users == 0:
                torch.set_num_threads(_before)


def run(job, jobs: list, workers: int, name: str = "search") -> list:
    """[job(j) for j in jobs], on `workers` pool threads (in this thread for one)."""
    return list(pool(workers, name).map(job, jobs) if workers > 1 else map(job, jobs))
