"""Long work (a search, an ablation, a history) in server-side threads that the page polls
(`views/jobpanel.py` is the one poller).

    jobs = Jobs()
    job_id = jobs.start(lambda job: slow(progress=job.report, cancel=job.cancel.is_set))
    jobs.get(job_id).progress          # 0..1, updated by the work itself
    jobs.cancel(job_id)                # sets job.cancel; the work stops at its next check
    jobs.close()                       # cancels every job (server shutdown)

Why threads and not Dash background callbacks: those need diskcache or Celery and run in other
processes, which would each have to open the recording again; a thread shares the server's
cache of open recordings, and numpy, torch and the `regex` module release the GIL while they
work, so the server keeps answering other requests during a search. At most `max_running` jobs
run at once: anyone who can reach the page can start jobs, and each one can keep a core busy.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


class Busy(ValueError):
    """Too many jobs are running; the panel shows this message instead of starting one."""


@dataclass
class Job:
    id: str
    progress: float = 0.0  # 0..1
    message: str = "starting"
    result: Any = None
    error: str | None = None
    done: bool = False
    started: float = field(default_factory=time.perf_counter)
    seconds: float | None = None  # wall time once done
    cancel: threading.Event = field(default_factory=threading.Event)

    def report(self, fraction: float, message: str | None = None) -> None:
        self.progress = min(1.0, max(0.0, float(fraction)))
        if message:
            self.message = message

    @property
    def cancelled(self) -> bool:
        return self.cancel.is_set()


class Jobs:
    """At most `keep` jobs are remembered (the oldest finished ones are forgotten first) and at
    most `max_running` run at once."""

    def __init__(self, keep: int = 16, max_running: int = 4):
        self.keep, self.max_running, self.jobs, self.lock = keep, max_running, OrderedDict(), threading.Lock()

    def start(self, work: Callable[[Job], Any]) -> str:
        """Run work(job) in a new thread; its id. Raises Busy when max_running jobs are running."""
        job = Job(uuid.uuid4().hex[:12])
        with self.lock:
            running = sum(not j.done for j in self.jobs.values())
            if running >= self.max_running:
                raise Busy(f"the server is running {running} jobs already: wait for one to finish (or cancel one)")
            self.jobs[job.id] = job
            finished = [k for k, j in self.jobs.items() if j.done]
            for k in finished[: max(0, len(self.jobs) - self.keep)]:
                del self.jobs[k]
        threading.Thread(target=self._run, args=(job, work), name=f"job-{job.id}", daemon=True).start()
        return job.id

    def _run(self, job: Job, work) -> None:
        try:
            job.result = work(job)
        except (ValueError, OSError) as err:  # bad input or a damaged file: the message says what to do
            job.error = str(err) or type(err).__name__
        except Exception as err:
            if job.cancelled:  # the work stopped as asked (charnn.search.SearchCancelled)
                job.error = str(err) or "cancelled"
            else:  # a bug: reported in the page and logged whole; the server keeps serving
                log.exception("job %s failed", job.id)
                job.error = f"{type(err).__name__}: {err}"
        finally:
            job.seconds = time.perf_counter() - job.started
            job.done = True

    def get(self, job_id: str | None) -> Job | None:
        with self.lock:
            return self.jobs.get(job_id) if isinstance(job_id, str) else None

    def cancel(self, job_id: str | None) -> None:
        job = self.get(job_id)
        if job is not None:
            job.cancel.set()

    def close(self) -> None:
        with self.lock:
            for job in self.jobs.values():
                job.cancel.set()
