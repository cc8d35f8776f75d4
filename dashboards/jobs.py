"""Long work (a search over a big recording) in server-side threads that the page polls.

    jobs = Jobs()
    job_id = jobs.start(lambda job: slow(progress=job.report, cancel=job.cancel))
    jobs.get(job_id).progress          # 0..1, updated by the work itself
    jobs.cancel(job_id)                # sets job.cancel; the work stops at its next check

Why threads and not Dash background callbacks: those need diskcache or Celery and run in other
processes, which would each have to open the recording again; a thread shares the server's
cache of open recordings, and numpy, torch and the `regex` module release the GIL while they
work, so the server keeps answering other requests during a search.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable


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
    """At most `keep` jobs are remembered; the oldest finished ones are forgotten first."""

    def __init__(self, keep: int = 16):
        self.keep, self.jobs, self.lock = keep, OrderedDict(), threading.Lock()

    def start(self, work: Callable[[Job], Any]) -> str:
        job = Job(uuid.uuid4().hex[:12])
        with self.lock:
            self.jobs[job.id] = job
            finished = [k for k, j in self.jobs.items() if j.done]
            for k in finished[: max(0, len(self.jobs) - self.keep)]:
                del self.jobs[k]
        threading.Thread(target=self._run, args=(job, work), name=f"job-{job.id}", daemon=True).start()
        return job.id

    def _run(self, job: Job, work) -> None:
        try:
            job.result = work(job)
        except Exception as err:  # reported in the page; the server keeps serving
            job.error = str(err) or type(err).__name__
        finally:
            job.seconds = time.perf_counter() - job.started
            job.done = True

    def get(self, job_id: str | None) -> Job | None:
        with self.lock:
            return self.jobs.get(job_id) if job_id else None

    def cancel(self, job_id: str | None) -> None:
        job = self.get(job_id)
        if job is not None:
            job.cancel.set()
