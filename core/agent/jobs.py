"""The agent's one engine thread: storage times and reconciliation scans run here, one at a time, in order.

Every job announces itself (`JobStarted`), reports progress, and ends with `JobFinished` carrying its
snapshot or its error and exit code, so any subscriber (the CLI's `backup`, the GUI) can follow it. A job is cancelled
through its own event; nothing it leaves half done is lost (the journal is cleared only on success).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from timekeep.core.agent.messages import CANCELLED, Event, JobFinished, JobInfo, JobKind, JobResult, JobStarted
from timekeep.core.errors import BackupCancelled, TimekeepError

log = logging.getLogger(__name__)
Publish = Callable[[Event], None]


@dataclass
class Job:
    id: int
    kind: JobKind
    destination: str
    trigger: str
    explicit: bool = False
    state: str = "queued"
    cancel: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    result: JobResult = field(default_factory=JobResult)

    def describe(self) -> str:
        """The job in the log's words, e.g. `job 3 (backup, interval) on /media/usb/Timekeep/home`."""
        return f"job {self.id} ({self.kind}, {self.trigger}) on {self.destination}"

    def info(self) -> JobInfo:
        return JobInfo(self.id, self.kind, self.destination, self.trigger, self.state)


Execute = Callable[[Job], JobResult]


class JobRunner:
    def __init__(self, execute: Execute, publish: Publish) -> None:
        self.execute = execute
        self.publish = publish
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._waiting: list[Job] = []
        self._current: Job | None = None
        self._ids = itertools.count(1)
        self._thread = threading.Thread(target=self._run, name="timekeep-jobs")

    def start(self) -> None:
        self._thread.start()

    def submit(self, kind: JobKind, destination: str, trigger: str, explicit: bool = False) -> Job:
        """Queue a job; an identical one still waiting is reused rather than queued twice."""
        with self._lock:
            for job in self._waiting:
                if (job.kind, job.destination) == (kind, destination):
                    job.explicit = job.explicit or explicit
                    return job
            job = Job(next(self._ids), kind, destination, trigger, explicit)
            self._waiting.append(job)
        self._queue.put(job)
        return job

    def busy(self, kind: JobKind | None = None) -> bool:
        with self._lock:
            jobs = [*self._waiting, *([self._current] if self._current else [])]
        return any(kind is None or j.kind == kind for j in jobs)

    def current(self) -> Job | None:
        with self._lock:
            return self._current

    def cancel(self, job_id: int) -> bool:
        with self._lock:
            jobs = [*self._waiting, *([self._current] if self._current else [])]
        for job in jobs:
            if job.id == job_id:
                job.cancel.set()
                return True
        return False

    def cancel_kind(self, kind: JobKind) -> None:
        """Cancel every queued or running job of one kind (scans are not worth waiting for at shutdown)."""
        with self._lock:
            jobs = [*self._waiting, *([self._current] if self._current else [])]
        for job in jobs:
            if job.kind == kind:
                job.cancel.set()

    def stop(self, wait_s: float) -> None:
        """Let the queued and running jobs finish within `wait_s` in all, then cancel what is left."""
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout=wait_s)
        with self._lock:
            jobs = [*self._waiting, *([self._current] if self._current else [])]
        for job in jobs:
            job.cancel.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            with self._lock:
                self._waiting.remove(job)
                self._current = job
            self._run_one(job)
            with self._lock:
                self._current = None

    def _run_one(self, job: Job) -> None:
        job.state = "running"
        self.publish(JobStarted(job.info()))
        log.info("%s started", job.describe())
        job.result = dataclasses.replace(self._outcome(job, time.monotonic()), destination=job.destination)
        job.state = "done"
        job.done.set()
        self.publish(JobFinished(job.info(), job.result))

    def _outcome(self, job: Job, started: float) -> JobResult:
        """Run the job; how it ended, with the exit code `timekeep` gives that ending (the error's own)."""
        try:
            if job.cancel.is_set():
                raise BackupCancelled("cancelled before it started")
            return self.execute(job)
        except BackupCancelled as err:
            log.info("%s cancelled after %.1f s: %s", job.describe(), time.monotonic() - started, err)
            return JobResult.failed(str(err), CANCELLED, cancelled=True)
        except (TimekeepError, OSError) as err:
            log.warning("%s failed after %.1f s: %s", job.describe(), time.monotonic() - started, err)
            return JobResult.failed(str(err), err.exit_code if isinstance(err, TimekeepError) else 1)
        except Exception as err:  # a bug in a job must be reported, and must not stop the agent
            log.exception("%s failed", job.describe())
            return JobResult.failed(f"internal error: {err}", 1)
