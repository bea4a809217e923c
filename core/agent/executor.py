"""The agent's job half: what its engine thread does with each job the schedule (or a request) queued.

A storage time waits until the folders are quiet (a file being written is not read mid-write), journals what
the watcher still holds, and stores what the destination's journal names; a reconciliation scans for what
the watcher could not see; thinning runs the coalescer. Each ends as a `JobResult`, and the destination's
counts are read again after every job. The scheduling half is `timekeep.core.agent.agent.Agent`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from peewee import DatabaseError

from timekeep.core.agent.config import AgentConfig
from timekeep.core.agent.destination import Destination
from timekeep.core.agent.jobs import Job, Publish
from timekeep.core.agent.messages import JobProgress, JobResult
from timekeep.core.agent.storage import describe_outcome, describe_thinning, reconcile_only, storage_time, thin
from timekeep.core.errors import BackupCancelled, KeyNeeded, TimekeepError, UsageError
from timekeep.core.guard.before import TRIGGER as BEFORE_INCIDENT
from timekeep.core.types import Progress
from timekeep.core.watch.debounce import debounce_wait
from timekeep.core.watch.observer import EventBuffer, FolderWatcher

if TYPE_CHECKING:
    from timekeep.core.guard.guard import Guard

log = logging.getLogger(__name__)
FAILURES = (TimekeepError, OSError, DatabaseError)


class Host(Protocol):
    """What the job half uses of the scheduling half."""

    config: AgentConfig
    destinations: dict[str, Destination]
    buffer: EventBuffer
    watcher: FolderWatcher
    clock: Callable[[], float]
    wall: Callable[[], datetime]
    guard: Guard

    def flush(self) -> int: ...


class Executor:
    """Runs one job at a time on the job thread, and keeps what the schedule needs to know of them: when the
    last storage time and the last scan were, and how the last storage time went."""

    def __init__(self, host: Host, publish: Publish) -> None:
        self.host, self.publish = host, publish
        self.last_storage: datetime | None = None  # attempted: stored, failed or nothing to do
        self.last_reconcile: datetime | None = None
        self.last_result: JobResult | None = None  # the last storage time's
        # job kinds run by another part of the agent (the away stores'), given the destination whatever its state
        self.extra: dict[str, Callable[[Destination, Job], JobResult]] = {}
        self.before_storage: Callable[[Destination, Job], None] | None = None  # a drive's away snapshots go first

    def __call__(self, job: Job) -> JobResult:
        dest = self.host.destinations.get(job.destination)
        if dest is None:
            raise UsageError(f"{job.destination} is no longer one of the agent's destinations")
        if job.kind in self.extra:
            return self.extra[job.kind](dest, job)
        if not dest.present:
            raise UsageError(f"{dest.key} is not connected: {dest.presence.reason}")
        if dest.locked is not None:  # queued before it was found locked: its turn comes once it is unlocked
            raise KeyNeeded(f"{dest.key} is locked: {dest.locked}")
        if job.kind == "reconcile":
            return self._reconcile(dest, job)
        if job.kind == "coalesce":
            self.host.guard.refuse_thinning()  # queued before an incident was suspected
            return self._coalesce(dest, job)
        if job.trigger == BEFORE_INCIDENT:
            return self.host.guard.store_before(dest, job.cancel)
        if not job.explicit and (held := self.host.guard.holding()) is not None:  # queued before the incident
            return JobResult(destination=dest.key, skipped=held)
        return self._backup(dest, job)

    def _coalesce(self, dest: Destination, job: Job) -> JobResult:
        try:
            report = thin(dest.path, lambda p: self._progress(job, p), job.cancel)
        finally:
            self._refresh(dest)
        log.info("%s done: %s", job.describe(), describe_thinning(report))
        return JobResult(destination=dest.key, coalesced=report)

    def _reconcile(self, dest: Destination, job: Job) -> JobResult:
        self.last_reconcile = self.host.wall()  # an attempt counts: a failing scan is not retried every tick
        dest.needs_reconcile = False
        try:
            found = reconcile_only(dest.path, job.cancel)
        except BaseException:
            dest.needs_reconcile = True  # the next storage time scans first instead
            raise
        self._refresh(dest)
        log.info("%s done: %d paths differed and were journaled", job.describe(), found)
        return JobResult(journaled=found)

    def _backup(self, dest: Destination, job: Job) -> JobResult:
        if not job.explicit:
            self._debounce(job.cancel)
        if self.before_storage is not None:
            self.before_storage(dest, job)
        self.host.flush()
        scan_first = None if dest.needs_reconcile else self.host.watcher.to_scan(dest.folders)
        dest.needs_reconcile = False
        try:
            outcome = storage_time(dest.path, job.trigger, explicit=job.explicit, scan_first=scan_first,
                                   progress=lambda p: self._progress(job, p), cancel=job.cancel)
        except BaseException:
            dest.needs_reconcile = dest.needs_reconcile or scan_first is None
            self._refresh(dest)
            raise
        finally:
            self.last_storage = self.host.wall()
        if outcome.standing is not None:
            dest.stands(outcome.standing)  # as the writer left it: no second open to learn it
        else:
            self._refresh(dest)
        log.info("%s done: %s", job.describe(), describe_outcome(outcome))
        self.last_result = JobResult(destination=dest.key, snapshot=outcome.snapshot, errors=tuple(outcome.errors),
                                     skipped=outcome.skipped, reconciled=outcome.reconciled)
        return self.last_result

    def _refresh(self, dest: Destination) -> None:
        try:
            dest.refresh()
        except FAILURES as err:
            log.warning("%s: cannot read its index: %s", dest.key, err)

    def _progress(self, job: Job, progress: Progress) -> None:
        self.publish(JobProgress(job.id, progress))

    def _debounce(self, cancel: threading.Event) -> None:
        """Wait until the folders are quiet (files being written are not read mid-write), within limits."""
        config, clock = self.host.config, self.host.clock
        started = clock()
        while True:
            now = clock()
            wait = debounce_wait(self.host.buffer.last_event(), now, config.quiet_s, now - started, config.max_wait_s)
            if wait <= 0:
                return
            if cancel.wait(min(wait, 0.1)):
                raise BackupCancelled("cancelled while waiting for files to settle")
