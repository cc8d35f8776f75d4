"""The search's worker threads: one process-wide pool, and torch's thread count while a pass runs.

    from charnn.search import threads
    with threads.per_tile(1) as workers:       # torch ops single-threaded; `workers` threads share the tiles
        list(threads.pool(workers).map(tile, jobs))

An update of the statistics is hundreds of small ops (or a few long GIL-free kernel calls). With
torch's own threads each small op waits at a barrier, and when another process held a core that
made a chunk 5x slower here (0.5 s -> 2.7 s); so ops run single-threaded and the row tiles are
shared by up to MAX_WORKERS threads instead.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import torch

MAX_WORKERS = 2  # threads for the row tiles (at most torch's own thread count)

_pool_lock = threading.Lock()
_pools: dict[int, ThreadPoolExecutor] = {}


def pool(workers: int) -> ThreadPoolExecutor:
    """A process-wide pool per worker count (threads are started once, not per update), whose
    threads run torch single-threaded (a new thread may otherwise start with the default count)."""
    with _pool_lock:
        found = _pools.get(workers)
        # A worker that died (a test harness or a server shutdown raising SystemExit in every
        # thread) would leave submitted tiles waiting forever: start a fresh pool instead.
        if found is None or any(not t.is_alive() for t in getattr(found, "_threads", ())):
            if found is not None:
                found.shutdown(wait=False, cancel_futures=True)
            found = _pools[workers] = ThreadPoolExecutor(workers, thread_name_prefix="charnn-search",
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


def run(job, tiles: list, workers: int) -> None:
    """job(tile) for every tile, on `workers` pool threads (in this thread for one)."""
    list(pool(workers).map(job, tiles) if workers > 1 else map(job, tiles))
