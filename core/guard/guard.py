"""The guard as the agent holds it: feeds the detector, opens an incident on a finding, and answers what the
schedule asks of it (may thinning run? may a storage time start by itself?).

On a finding it records which protected folders were touched and, for each connected destination, the last
snapshot taken before the burst began: that snapshot is the state "just before", kept because thinning waits
until the all-clear. No storage time is taken of the damaged state by the agent itself (an explicit "back up
now" still is). Nothing is deleted or overwritten: restoring is the person's choice (`timekeep guard restore`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from timekeep.core.agent.destination import Destination, protected_by
from timekeep.core.agent.executor import FAILURES
from timekeep.core.agent.messages import Before, Event, GuardChanged, GuardIncident, GuardStatus, JobResult, iso_ns
from timekeep.core.errors import ThinningPaused
from timekeep.core.guard import before
from timekeep.core.guard import incident as record
from timekeep.core.guard.detector import Detector, Finding
from timekeep.core.guard.thresholds import Thresholds
from timekeep.core.types import iso_utc

log = logging.getLogger(__name__)
class Guard:
    def __init__(self, thresholds: Thresholds, state_file: Path | None, clock: Callable[[], float],
                 wall: Callable[[], datetime]) -> None:
        self.thresholds, self.file, self.clock, self.wall = thresholds, state_file, clock, wall
        self.detector = Detector(thresholds, clock)
        self.incident = record.load(state_file) if state_file is not None else None
        self.publish: Callable[[Event], None] = lambda event: None
        self.burst: frozenset[bytes] = frozenset()  # the paths the window saw touched
        self.started_ns: int | None = None  # when its burst began, to the nanosecond (the record has seconds)
        self._lock = threading.RLock()  # the tick, the job thread and the socket's all-clear all change it

    def configure(self, thresholds: Thresholds) -> None:
        """New settings: the window starts afresh under them."""
        if thresholds != self.thresholds:
            self.thresholds = thresholds
            self.detector = Detector(thresholds, self.clock)

    def tap(self, kind: str, src: bytes, dest: bytes | None, is_dir: bool) -> None:
        """The watcher's events, on its thread."""
        if self.thresholds.enabled:
            self.detector.saw(kind, src, dest, is_dir)

    def look(self, destinations: Iterable[Destination]) -> list[str]:
        """On each tick: judge the window; the first finding opens an incident (a later one adds nothing).
        Returns the destinations to take the storage time "just before" on (`store_before`)."""
        if not self.thresholds.enabled:
            return []
        with self._lock:
            return self._look(destinations)

    def _look(self, destinations: Iterable[Destination]) -> list[str]:
        finding = self.detector.look()
        if self.incident is not None:
            self._complete(list(destinations))
        if finding is None or self.incident is not None:
            return []
        self.burst = finding.touched
        self.incident = self._open(finding, list(destinations))
        log.warning("guard: suspected mass damage since %s in %s: %s; thinning and automatic storage times wait "
                    "until the all-clear", self.incident.started, ", ".join(self.incident.folders) or "?",
                    "; ".join(self.incident.reasons))
        self._changed()
        return [before.destination for before in self.incident.before]

    def _complete(self, destinations: list[Destination]) -> None:
        """A destination that was away (or locked) when the incident opened, or one the agent found since a
        restart, gets its snapshot before the incident too, once it can be read."""
        assert self.incident is not None
        known = {b.destination for b in self.incident.before}
        fresh = [d for d in destinations if d.present and d.locked is None and d.key not in known]
        started_ns = self.started_ns or iso_ns(self.incident.started)
        if fresh and started_ns is not None:
            self.incident = replace(self.incident, before=(
                *self.incident.before, *(_before(d, started_ns) for d in fresh)))
            self._changed()

    def _changed(self) -> None:
        if self.file is not None and self.incident is not None:
            record.save(self.file, self.incident)
        self.publish(GuardChanged(self.status()))

    def store_before(self, dest: Destination, cancel: threading.Event) -> JobResult:
        """On the job thread: store what changed before the burst and was not touched by it; the snapshot it
        makes becomes the destination's "before" (see `timekeep.core.guard.before`)."""
        incident = self.incident
        started_ns = self.started_ns or (iso_ns(incident.started) if incident is not None else None)
        if started_ns is None:
            return JobResult(destination=dest.key, skipped="no incident is open")
        try:
            snap = before.store_before(dest.path, started_ns, self.burst, cancel)
        finally:
            dest.refresh()
        if snap is None:
            log.info("guard: nothing on %s had changed since its last snapshot before the incident", dest.key)
            return JobResult(destination=dest.key, skipped="nothing had changed before the incident began")
        log.info("guard: snapshot %s on %s keeps what changed before the incident", snap.id, dest.key)
        with self._lock:
            same = incident is not None and self.incident is not None and \
                (self.incident.started, self.incident.detected) == (incident.started, incident.detected)
            if self.incident is not None and same:  # not cleared (or replaced) meanwhile
                kept = Before(dest.key, snap.id, iso_utc(snap.time_ns))
                self.incident = replace(self.incident, before=tuple(
                    kept if b.destination == dest.key else b for b in self.incident.before))
                self._changed()
        return JobResult(destination=dest.key, snapshot=snap)

    def _open(self, finding: Finding, destinations: list[Destination]) -> GuardIncident:
        now = self.wall()
        started = now - timedelta(seconds=max(0.0, self.clock() - finding.started))
        started_ns = self.started_ns = int(started.timestamp() * 1e9)
        folders: dict[bytes, None] = {}
        for dest in destinations:
            for path in finding.paths:
                root = protected_by(path, dest.folders)
                if root is not None:
                    folders[root] = None
        return GuardIncident(_iso(started), _iso(now), finding.reasons, tuple(os.fsdecode(f) for f in folders),
                             tuple(_before(d, started_ns) for d in destinations if d.present and d.locked is None))

    def holding(self) -> str | None:
        """Why storage times may not start by themselves now, or None."""
        if self.incident is None:
            return None
        return ThinningPaused.reason(self.incident.started)

    def refuse_thinning(self) -> None:
        if self.incident is not None:
            raise ThinningPaused.since(self.incident.started)

    def clear(self) -> GuardStatus:
        """The person's all-clear: the incident ends, thinning resumes, the window starts afresh."""
        with self._lock:
            if self.incident is not None:
                log.info("guard: the incident since %s was cleared", self.incident.started)
            self.incident, self.started_ns, self.burst = None, None, frozenset()
            if self.file is not None:
                record.remove(self.file)
            self.detector.reset()
            status = self.status()
            self.publish(GuardChanged(status))
            return status

    def status(self) -> GuardStatus:
        return GuardStatus(self.thresholds.enabled, self.incident, self.detector.seen, len(self.detector.pending))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _before(dest: Destination, started_ns: int) -> Before:
    """The destination's last snapshot older than the burst: the state just before it."""
    try:
        with dest.reader_lock:
            snaps = dest.reader().snapshots()
    except FAILURES as err:  # an unreadable index must not keep the guard from pausing thinning
        log.warning("guard: %s: cannot list its snapshots: %s", dest.key, err)
        return Before(dest.key, None, None)
    last = max((s for s in snaps if s.time_ns < started_ns), key=lambda s: s.time_ns, default=None)
    return Before(dest.key, None if last is None else last.id, None if last is None else iso_utc(last.time_ns))
