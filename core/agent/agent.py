"""The agent's scheduling half: watcher, destinations and schedule, driven by a periodic `tick`.

The main thread ticks: it moves dirty paths from the watcher into each connected destination's journal,
notices drives and protected folders coming and going, and asks the schedule whether a storage time is
due. What it queues runs on the job thread (`timekeep.core.agent.executor`, the job half). `run.py` adds the
socket, signals and the lock.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from timekeep.core.agent.away import AwayStores
from timekeep.core.agent.comings import Comings
from timekeep.core.agent.config import AgentConfig, SettingsFile
from timekeep.core.agent.destination import Destination
from timekeep.core.agent.executor import FAILURES, Executor
from timekeep.core.agent.jobs import Job, JobRunner, Publish
from timekeep.core.agent.messages import DestinationChanged, Event, JobFinished
from timekeep.core.agent.power import on_battery
from timekeep.core.agent.unlocks import Unlocks
from timekeep.core.drives import MOUNTINFO
from timekeep.core.errors import KeyNeeded, UsageError
from timekeep.core.guard.before import TRIGGER as BEFORE_INCIDENT
from timekeep.core.guard.guard import Guard
from timekeep.core.guard.thresholds import thresholds_or_defaults
from timekeep.core.index.journal import size_on_disk
from timekeep.core.schedule.policy import (
    Situation,
    coalesce_due,
    due,
    held_back,
    next_storage_time,
    over_bound,
    reconcile_due,
)
from timekeep.core.schedule.rotation import Candidate, pick_destination
from timekeep.core.udisks import UDisksListener
from timekeep.core.watch.limits import LIMIT_FILE
from timekeep.core.watch.observer import EventBuffer, FolderWatcher

log = logging.getLogger(__name__)
IDLE_READER_S = 10.0


def utc_now() -> datetime:
    return datetime.now(UTC)


def from_ns(ns: int | None) -> datetime | None:
    return None if ns is None else datetime.fromtimestamp(ns / 1e9, tz=UTC)


@dataclass(frozen=True)
class Decision:
    """What one look at the schedule concluded, so a reader (a test, a debugger) knows it looked: at what
    time by the agent's wall clock, the job it queued (a storage time's trigger, "reconcile", "coalesce"),
    or what holds storage times back (paused, on battery). `busy`: a job ran, so nothing was considered."""

    at: datetime
    queued: str | None = None
    held: str | None = None
    busy: bool = False


def usable(destinations: dict[str, Destination]) -> list[Destination]:
    """Connected and unlocked: what storage times, scans and thinning may use (a locked one is journaled)."""
    return [d for d in destinations.values() if d.present and d.locked is None]


def journaled_now(dest: Destination) -> bool:
    """Whether its journal names any path, read afresh: the cached count may have been overwritten by a job
    thread's refresh that read the journal just before the last flush recorded into it."""
    try:
        with dest.journal() as view:
            return view.stats().paths > 0
    except FAILURES as err:
        log.warning("%s: cannot read its journal: %s", dest.key, err)
        return bool(dest.stats.paths)


class Agent:
    """The scheduling half: decides what runs and when; `self.executor` (the job half) runs it."""

    def __init__(self, config: AgentConfig, *, known: dict[Path, tuple[str, str]] | None = None,
                 mountinfo: Path = MOUNTINFO, limit_file: Path = LIMIT_FILE,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], datetime] = utc_now,
                 battery: Callable[[], bool | None] = on_battery, settings: SettingsFile | None = None,
                 guard_file: Path | None = None) -> None:
        self.config = config
        self.settings = settings  # settings.json, followed while the agent runs
        self.policy = config.policy
        self.clock, self.wall, self.battery = clock, wall, battery
        self.destinations = {str(p): Destination(p, clock) for p in config.destinations}
        self.comings = Comings(self, mountinfo, known)
        self.poller = self.comings.drives  # what run.py saves of the drives it saw
        self.buffer = EventBuffer(clock)
        self.watcher = FolderWatcher(self.buffer, limit_file)
        self.executor: Executor = Executor(self, self._publish)
        self.runner = JobRunner(self.executor, self._publish)
        self.away = AwayStores(self)  # history kept on this computer while a drive is away
        self.udisks = UDisksListener(self._drives_changed, config.udisks_bus) if config.udisks_bus else None
        self.publish: Publish = lambda event: None
        self.guard = Guard(thresholds_or_defaults(config.raw), guard_file, clock, wall)  # see timekeep.core.guard
        self.buffer.tap, self.guard.publish = self.guard.tap, self._publish
        self.unlocks = Unlocks(self)
        self.paused = False
        self.on_battery: bool | None = None
        self.last_coalesce: datetime | None = None
        self.decision: Decision | None = None  # the schedule's latest look, made at the end of every tick
        self.started = False
        self._flush_lock = threading.Lock()
        self._next_poll = self._next_folders = 0.0

    # life cycle
    def start(self) -> None:
        """Watch, find the drives (each found one is reconciled), start the engine thread."""
        self.watcher.start()
        if self.udisks is not None:
            self.udisks.start()
            detail = f" ({self.udisks.detail})" if self.udisks.detail else ""
            log.info("drive detection: %s%s", self.udisks.status, detail)
        self.on_battery = self.battery()
        self._poll_drives()
        present = [d.last_ns for d in self.present() if d.last_ns is not None]
        self.executor.last_storage = from_ns(max(present)) if present else None
        self.runner.start()
        self.last_coalesce = self.wall() - timedelta(
            seconds=self.policy.coalesce_every_s - self.policy.coalesce_after_start_s)
        self.started = True

    def tick(self) -> None:
        self.flush()
        for key in self.guard.look(self.destinations.values()):  # what changed just before the burst is kept
            self.runner.submit("backup", key, BEFORE_INCIDENT)
        self._check_watcher()
        now = self.clock()
        if now >= self._next_poll:
            self._next_poll = now + self.config.drive_poll_s
            self._poll_drives()
            self.away.check()
            self.unlocks.check()
            self.on_battery = self.battery()
            for dest in self.destinations.values():
                dest.close_reader(IDLE_READER_S)
        if now >= self._next_folders:
            self._next_folders = now + self.config.folders_poll_s
            self._reload_settings()
            self._poll_folders()
        self._schedule()

    def shutdown(self) -> None:
        """Stop watching, journal what is pending, take the shutdown storage time within the budget."""
        self.watcher.stop()
        if self.udisks is not None:
            self.udisks.stop()
        self.flush()
        self.runner.cancel_kind("reconcile")
        situation = self.situation()
        if self.policy.at_shutdown and held_back(self.policy, situation, "shutdown") is None \
                and self.guard.incident is None:
            if any(journaled_now(d) for d in usable(self.destinations)):
                self.request_backup("shutdown")
            elif not usable(self.destinations):  # no drive is here: what changed is kept on this computer
                self.away.request("shutdown")
        self.runner.stop(self.config.shutdown_budget_s)
        for dest in self.destinations.values():
            dest.close_reader()
        self.comings.buckets.close()
        log.info("agent stopped; %s paths wait in the journals", sum(d.stats.paths for d in self.present()))

    def _reload_settings(self) -> None:
        if self.settings is None:
            return
        try:
            fresh = self.settings.changed()
        except UsageError as err:
            log.warning("%s changed but cannot be used (%s); the settings in force stay", self.settings.path, err)
            return
        if fresh is not None:
            self.reload(fresh)

    def reload(self, config: AgentConfig) -> None:
        """New settings: the schedule applies at once; a destination added is looked for at the next tick,
        one removed is let go (a storage time running on it finishes)."""
        keep = {str(p): self.destinations.get(str(p)) or Destination(p, self.clock) for p in config.destinations}
        for key in self.destinations.keys() - keep.keys():
            log.info("%s is no longer a destination", key)
            self.destinations[key].close_reader()
            self._publish(DestinationChanged(key, False))
        for key in keep.keys() - self.destinations.keys():
            log.info("%s is a new destination", key)
        self.destinations = keep
        self.comings.follow(config)
        self.config, self.policy = config, config.policy
        self.guard.configure(thresholds_or_defaults(config.raw))
        self._next_poll = 0.0
        self._rewatch()
        log.info("settings read again from %s: %d destinations, every %d minutes",
                 self.settings.path if self.settings else "settings.json", len(keep), self.policy.interval_s // 60)

    def _drives_changed(self) -> None:
        """udisks says a drive or mount changed: poll the mount points at the next tick, not in seconds."""
        self._next_poll = 0.0

    @property
    def drive_detection(self) -> str:
        return self.udisks.status if self.udisks is not None else "drives are found by polling mount points"

    def present(self) -> list[Destination]:
        return [d for d in self.destinations.values() if d.present]

    def _publish(self, event: Event) -> None:
        if isinstance(event, JobFinished) and not event.result.ok and event.info.destination in self.destinations:
            self.comings.buckets.look_soon(event.info.destination)  # a bucket out of reach is noticed at once
        self.publish(event)

    # events into journals
    def flush(self) -> int:
        """Journal the watcher's dirty paths into every connected destination; returns how many paths."""
        with self._flush_lock:
            drained, origins = self.buffer.drain(), self.buffer.take_origins()
            if not drained and not origins:
                return 0
            sizes = {path: size_on_disk(path) for path in {**drained, **origins}}
            now_ns = time.time_ns()
            for dest in self.present():
                try:
                    dest.record(sizes, now_ns, origins)
                except FAILURES as err:
                    log.warning("%s: cannot journal changes (%s); it will be reconciled", dest.key, err)
                    dest.needs_reconcile = True
            self.away.record(sizes, now_ns, origins)
            return len(sizes)

    def _check_watcher(self) -> None:
        """Lost events (queue overflow) or a watch that died: reconcile every destination with a scan."""
        lost, dead = self.buffer.take_lost(), self.watcher.dead()
        for reason in lost:
            log.warning("events were lost: %s; reconciling", reason)
        for root in dead:
            log.warning("the watch on %s stopped; reconciling", os.fsdecode(root))
        if lost or dead:
            self.reconcile_all("events lost")
        if dead:
            self._rewatch()

    def reconcile_all(self, reason: str) -> None:
        for dest in usable(self.destinations):
            dest.needs_reconcile = True
            self.runner.submit("reconcile", dest.key, reason)

    # drives and folders
    def _poll_drives(self) -> None:
        if self.comings.poll():
            self._rewatch()
        for dest in self.present():
            if dest.index_replaced():
                log.info("%s: its index was rebuilt; reconciling", dest.key)
                dest.needs_reconcile = True
                self.runner.submit("reconcile", dest.key, "index rebuilt")

    def _poll_folders(self) -> None:
        """Pick up folders added or removed with `timekeep add/remove`; a new one's root is journaled so its
        first storage time walks it whole."""
        changed = False
        for dest in self.present():
            before = set(dest.folders)
            if dest.refresh_folders():
                changed = True
                fresh = set(dest.folders) - before
                if fresh:
                    dest.record(dict.fromkeys(fresh, 0), time.time_ns())
                    if dest.snapshot_count == 0:
                        dest.owed = "first"
        back = self.watcher.returned()
        if changed or back:
            self._rewatch()
        if back:  # what it holds now was never seen by a watch
            self.reconcile_all("folder back")

    def _rewatch(self) -> None:
        roots = {root for dest in self.present() for root in dest.folders} | self.away.roots()
        plan = self.watcher.watch(roots)
        for message in plan.fallback.values():
            log.warning("%s", message)

    # the schedule
    def situation(self, now: datetime | None = None) -> Situation:
        present = self.present()
        return Situation(now or self.wall(), self.executor.last_storage, self.paused, self.on_battery,
                         max((d.stats.paths for d in present), default=0),
                         max((d.stats.bytes for d in present), default=0))

    def _schedule(self) -> None:
        now = self.wall()
        self.decision = Decision(now, busy=True) if self.runner.busy() else self._decide(now)

    def _decide(self, now: datetime) -> Decision:
        """Start what is due at `now`, one thing at a time; what was started, or what holds storage times back."""
        if self.started and usable(self.destinations) and reconcile_due(self.policy, self.executor.last_reconcile, now):
            self.reconcile_all("daily")
            return Decision(now, "reconcile")
        if self.started and usable(self.destinations) and self.last_coalesce is not None \
                and coalesce_due(self.policy, self.last_coalesce, now) and self.guard.incident is None:
            self.coalesce_all("daily")
            return Decision(now, "coalesce")
        if (guarded := self.guard.holding()) is not None:  # no storage time of a damaged state unless asked for
            return Decision(now, held=guarded)
        situation = self.situation(now)
        owed = self._owed(situation)
        if owed is not None:
            dest, event = owed
            dest.owed = None
            self.request_backup(event, dest.key)
            return Decision(now, event)
        trigger = due(self.policy, situation)
        if trigger is not None and usable(self.destinations):
            self.request_backup(trigger)
            return Decision(now, trigger)
        if trigger is not None and self.away.request(trigger):
            return Decision(now, "away")
        if trigger is not None:
            self.unlocks.skipped(trigger)
        return Decision(now, held=held_back(self.policy, situation))

    def _owed(self, situation: Situation) -> tuple[Destination, str] | None:
        """A connected destination whose event storage time (first, drive connected) may start now."""
        for dest in usable(self.destinations):
            if dest.owed is not None and held_back(self.policy, situation, dest.owed) is None:
                return dest, dest.owed
        return None

    def next_plan(self) -> tuple[datetime | None, str | None, str | None]:
        """When, where and why the next storage time is planned; all None while no destination is connected."""
        situation = self.situation()
        owed = next((d for d in usable(self.destinations) if d.owed is not None), None)
        if owed is not None:
            return situation.now, owed.key, owed.owed
        key = self.next_destination()
        if key is None:
            return None, None, None
        if over_bound(self.policy, situation):
            return situation.now, key, "journal-bound"
        return next_storage_time(self.policy, self.executor.last_storage, situation.now), key, "schedule"

    def coalesce_all(self, reason: str) -> list[Job]:
        """Thin every connected destination; a storage time first keeps what changed since the last one."""
        self.guard.refuse_thinning()
        self.last_coalesce = self.wall()
        jobs = []
        for dest in usable(self.destinations):
            self.runner.submit("backup", dest.key, "before-coalesce")
            jobs.append(self.runner.submit("coalesce", dest.key, reason))
        return jobs

    def next_destination(self) -> str | None:
        candidates = [Candidate(d.key, d.present and d.locked is None, d.last_ns) for d in self.destinations.values()]
        return pick_destination(candidates)

    def request_backup(self, trigger: str, destination: str | None = None, explicit: bool = False) -> Job:
        """Queue a storage time: on `destination`, or on the next connected one in rotation."""
        key = destination or self.next_destination()
        dest = self.destinations.get(key) if key is not None else None
        if key is not None and dest is None:
            raise UsageError(f"{key} is not one of the agent's destinations")
        if (dest is None or not dest.present) and not usable(self.destinations) \
                and (kept := self.away.request(trigger, key, explicit)):
            return kept[0]  # no drive is here: the history is kept on this computer meanwhile
        if dest is None:
            raise UsageError("no destination is connected; plug in the backup drive")
        if not dest.present:
            raise UsageError(f"{key} is not connected: {dest.presence.reason}")
        if dest.locked is not None:
            raise KeyNeeded(f"{key} is locked: {dest.locked}")
        return self.runner.submit("backup", dest.key, trigger, explicit)
