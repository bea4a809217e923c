"""The agent's protocol as typed records: every event and answer it sends is built and read here, and only here.

The agent builds these records and sends `to_wire()`; a client reads the JSON back with `from_wire` (events
with `event_from`). Field names are the wire's, so `timekeep status --json` shows exactly what travels.
Paths travel as os.fsdecode text, times as UTC ISO 8601 with a Z (see `timekeep.core.agent.protocol`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from timekeep.core.agent.protocol import Wire, path_bytes, path_text, progress_from, progress_json
from timekeep.core.agent.where import key_of
from timekeep.core.errors import UsageError
from timekeep.core.types import CoalesceReport, FileError, Progress, SnapshotInfo

JobKind = Literal["backup", "reconcile", "coalesce", "away", "move"]
Outcome = Literal["stored", "skipped", "cancelled", "failed", "done"]
CANCELLED = 130  # a job's exit code when it was cancelled, as a shell reports a command stopped by Ctrl-C
SNAPSHOT_FIELDS = frozenset(f.name for f in dataclasses.fields(SnapshotInfo))
REPORT_FIELDS = frozenset(f.name for f in dataclasses.fields(CoalesceReport))


def snapshot_from(data: Wire) -> SnapshotInfo:
    """A snapshot as the agent sent it (`SnapshotInfo.to_json`; its `time` is derived, so it is left out)."""
    return SnapshotInfo(**{k: v for k, v in data.items() if k in SNAPSHOT_FIELDS})


def file_error_from(data: Wire) -> FileError:
    return FileError(path_bytes(data["path"]), str(data["kind"]), str(data["message"]))


def report_from(data: Wire) -> CoalesceReport:
    fields: Wire = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in REPORT_FIELDS}
    return CoalesceReport(**fields)


def iso_ns(iso: str | None) -> int | None:
    """An agent time (`2026-11-20T14:03:00Z`) as UTC nanoseconds; None stays None."""
    if not iso:
        return None
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return int(moment.timestamp()) * 10**9 + moment.microsecond * 1000


@dataclass(frozen=True)
class JobInfo:
    """A job as the agent queued it: which, what it does, on which destination, and why."""

    job: int
    kind: JobKind
    destination: str
    trigger: str
    state: str = "queued"  # queued, running, done

    def to_wire(self) -> Wire:
        return dataclasses.asdict(self)

    @classmethod
    def from_wire(cls, data: Wire) -> JobInfo:
        return cls(int(data["job"]), data["kind"], str(data["destination"]), str(data["trigger"]),
                   str(data.get("state", "queued")))


@dataclass(frozen=True)
class JobResult:
    """How a job ended: what a storage time stored (or why it stored nothing), what a scan journaled, what
    thinning did, or why it failed. `exit_code` is what `timekeep` exits with for it: 0 done, 130 cancelled,
    else the error's own (4 when the drive could not be written, see `timekeep.core.errors`)."""

    ok: bool = True
    exit_code: int = 0
    error: str = ""
    cancelled: bool = False
    destination: str = ""  # where the job ran
    snapshot: SnapshotInfo | None = None
    errors: tuple[FileError, ...] = ()
    skipped: str = ""  # why a storage time took no snapshot (nothing changed)
    reconciled: int = 0  # paths a scan journaled before the storage time
    journaled: int = 0  # what a reconciliation scan found
    coalesced: CoalesceReport | None = None

    @classmethod
    def failed(cls, error: str, exit_code: int, cancelled: bool = False) -> JobResult:
        return cls(False, exit_code, error, cancelled)

    @property
    def outcome(self) -> Outcome:
        if self.cancelled:
            return "cancelled"
        if not self.ok:
            return "failed"
        if self.snapshot is not None:
            return "stored"
        return "skipped" if self.skipped else "done"

    @property
    def message(self) -> str:
        """Why it stored nothing, in words: its error, or why nothing needed storing."""
        return self.error or self.skipped

    def fields(self, kind: JobKind) -> Wire:
        """What a job of `kind` reports beyond how it ended (also the status's `last_result`)."""
        if kind == "reconcile":
            return {"journaled": self.journaled}
        if kind == "coalesce":
            return {"destination": self.destination,
                    "coalesced": None if self.coalesced is None else self.coalesced.to_json()}
        return {"destination": self.destination, "snapshot": None if self.snapshot is None else self.snapshot.to_json(),
                "errors": [e.to_json() for e in self.errors], "skipped": self.skipped, "reconciled": self.reconciled}

    def to_wire(self, kind: JobKind) -> Wire:
        if not self.ok:
            return {"ok": False, "exit_code": self.exit_code, "error": self.error,
                    **({"cancelled": True} if self.cancelled else {})}
        return {"ok": True, "exit_code": self.exit_code, **self.fields(kind)}

    @classmethod
    def from_wire(cls, data: Wire) -> JobResult:
        snapshot, coalesced = data.get("snapshot"), data.get("coalesced")
        return cls(bool(data.get("ok", True)), int(data.get("exit_code") or 0), str(data.get("error") or ""),
                   bool(data.get("cancelled")), str(data.get("destination") or ""),
                   None if not snapshot else snapshot_from(snapshot),
                   tuple(file_error_from(e) for e in data.get("errors") or ()), str(data.get("skipped") or ""),
                   int(data.get("reconciled") or 0), int(data.get("journaled") or 0),
                   None if not coalesced else report_from(coalesced))


# events: what a subscribed connection receives
@dataclass(frozen=True)
class JobStarted:
    info: JobInfo

    @property
    def job(self) -> int:
        return self.info.job

    def to_wire(self) -> Wire:
        return {"event": "job_started", **self.info.to_wire()}


@dataclass(frozen=True)
class JobProgress:
    job: int
    progress: Progress

    def to_wire(self) -> Wire:
        return {"event": "progress", "job": self.job, **progress_json(self.progress)}


@dataclass(frozen=True)
class JobFinished:
    info: JobInfo
    result: JobResult

    @property
    def job(self) -> int:
        return self.info.job

    def to_wire(self) -> Wire:
        return {"event": "job_finished", **self.info.to_wire(), **self.result.to_wire(self.info.kind)}


@dataclass(frozen=True)
class DestinationChanged:
    """A destination connected or gone (or no longer one of the agent's)."""

    path: str
    present: bool

    def to_wire(self) -> Wire:
        return {"event": "destination", "path": self.path, "present": self.present}


@dataclass(frozen=True)
class Before:
    """Where history stands untouched by a suspected incident: a destination's last snapshot taken before the
    burst began (None: it holds none from before)."""

    destination: str
    snapshot: int | None
    time: str | None

    def to_wire(self) -> Wire:
        return dataclasses.asdict(self)

    @classmethod
    def from_wire(cls, data: Wire) -> Before:
        snap = data.get("snapshot")
        return cls(str(data["destination"]), None if snap is None else int(snap), data.get("time"))


@dataclass(frozen=True)
class GuardIncident:
    """Suspected mass damage (`timekeep.core.guard`): when its burst began and was seen, why, which folders, and
    the snapshot before it on each destination. Thinning waits, and no storage time starts by itself, until the
    person says the all-clear."""

    started: str
    detected: str
    reasons: tuple[str, ...]
    folders: tuple[str, ...]
    before: tuple[Before, ...]

    def before_on(self, repo: str | Path) -> Before | None:
        """The snapshot before the incident on `repo` (any name for it), if the incident names one."""
        try:
            wanted = key_of(repo)
        except UsageError:
            return None
        return next((b for b in self.before if b.destination == wanted and b.snapshot is not None), None)

    def to_wire(self) -> Wire:
        return {"started": self.started, "detected": self.detected, "reasons": list(self.reasons),
                "folders": list(self.folders), "before": [b.to_wire() for b in self.before]}

    @classmethod
    def from_wire(cls, data: Wire) -> GuardIncident:
        return cls(str(data["started"]), str(data["detected"]), tuple(str(r) for r in data.get("reasons") or ()),
                   tuple(str(f) for f in data.get("folders") or ()),
                   tuple(Before.from_wire(b) for b in data.get("before") or ()))


@dataclass(frozen=True)
class GuardStatus:
    """The guard: on or off, and the incident it holds open, if any."""

    enabled: bool
    incident: GuardIncident | None = None
    seen: int = 0  # file events judged since the agent started
    waiting: int = 0  # rewritten files waiting to be quiet before they are sampled

    def to_wire(self) -> Wire:
        return {"enabled": self.enabled, "incident": None if self.incident is None else self.incident.to_wire(),
                "seen": self.seen, "waiting": self.waiting}

    @classmethod
    def from_wire(cls, data: Wire) -> GuardStatus:
        incident = data.get("incident")
        return cls(bool(data.get("enabled", True)), None if not incident else GuardIncident.from_wire(incident),
                   int(data.get("seen") or 0), int(data.get("waiting") or 0))


@dataclass(frozen=True)
class GuardChanged:
    """An incident suspected, or cleared by the person."""

    status: GuardStatus

    def to_wire(self) -> Wire:
        return {"event": "guard", **self.status.to_wire()}


Event = JobStarted | JobProgress | JobFinished | DestinationChanged | GuardChanged


def event_from(data: Wire) -> Event | None:
    """The event a message carries; None for a message that is no event, or an event this client does not know."""
    kind = data.get("event")
    if kind == "job_started":
        return JobStarted(JobInfo.from_wire(data))
    if kind == "progress":
        return JobProgress(int(data["job"]), progress_from(data))
    if kind == "job_finished":
        return JobFinished(JobInfo.from_wire(data), JobResult.from_wire(data))
    if kind == "destination":
        return DestinationChanged(str(data["path"]), bool(data["present"]))
    if kind == "guard":
        return GuardChanged(GuardStatus.from_wire(data))
    return None


# the status
@dataclass(frozen=True)
class DestinationStatus:
    """One destination as the agent sees it: connected or why not, what it holds, what waits for it."""

    path: str
    present: bool
    reason: str = ""  # why it is not connected
    repository_id: str | None = None
    snapshots: int = 0
    latest: str | None = None  # its latest snapshot's time
    pending_paths: int = 0
    pending_bytes: int = 0
    needs_reconcile: bool = False
    locked: str | None = None  # encrypted and not unlocked: how to give its passphrase
    away: str | None = None  # its history kept on this computer while it is away (core/agent/away.py), in words
    keeps_here: bool = False  # away, and a storage time asked of it now is kept on this computer (its away store)

    @property
    def latest_ns(self) -> int | None:
        return iso_ns(self.latest)

    def to_wire(self) -> Wire:
        return dataclasses.asdict(self)

    @classmethod
    def from_wire(cls, data: Wire) -> DestinationStatus:
        return cls(str(data.get("path", "")), bool(data.get("present")), str(data.get("reason") or ""),
                   data.get("repository_id"), int(data.get("snapshots") or 0), data.get("latest"),
                   int(data.get("pending_paths") or 0), int(data.get("pending_bytes") or 0),
                   bool(data.get("needs_reconcile")), data.get("locked"), data.get("away"),
                   bool(data.get("keeps_here")))


@dataclass(frozen=True)
class FolderStatus:
    """A protected folder: watched, or scanned instead (`note` says why), and which destinations protect it."""

    path: str
    watched: bool
    connected: bool
    note: str | None
    destinations: tuple[str, ...]

    def to_wire(self) -> Wire:
        return {**dataclasses.asdict(self), "destinations": list(self.destinations)}

    @classmethod
    def from_wire(cls, data: Wire) -> FolderStatus:
        return cls(str(data["path"]), bool(data["watched"]), bool(data.get("connected", True)), data.get("note"),
                   tuple(data.get("destinations") or ()))


@dataclass(frozen=True)
class Status:
    """What the agent is doing, where it stores, what it watches and what is planned next."""

    pid: int
    state: str  # idle, paused, "<kind> running"
    paused: bool
    on_battery: bool | None
    held_back: str | None
    job: JobInfo | None
    last_storage_time: str | None
    next_storage_time: str | None  # None until a destination is connected
    next_destination: str | None
    next_trigger: str | None
    drive_detection: str
    destinations: tuple[DestinationStatus, ...]
    folders: tuple[FolderStatus, ...]
    last_result: JobResult | None  # the last storage time's
    guard: GuardStatus | None = None  # None: an agent from before the guard

    def serves(self, repo: str | Path) -> bool:
        """Whether `repo` is one of the agent's destinations and connected: the one test of whether a storage
        time of it can be asked of the agent."""
        return any(d.present for d in self._named(repo))

    def keeps_away(self, repo: str | Path) -> bool:
        """Whether `repo` is one of the agent's destinations, away, whose history it keeps on this computer
        meanwhile: a storage time of it asked for goes there (the agent publishes its own rule as keeps_here)."""
        return any(d.keeps_here for d in self._named(repo))

    def _named(self, repo: str | Path) -> list[DestinationStatus]:
        try:
            wanted = key_of(repo)
        except UsageError:  # not a location at all: no destination of the agent's
            return []
        return [d for d in self.destinations if d.path == wanted]

    def to_wire(self) -> Wire:
        plain = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {**plain, "job": None if self.job is None else self.job.to_wire(),
                "destinations": [d.to_wire() for d in self.destinations],
                "folders": [f.to_wire() for f in self.folders],
                "last_result": {} if self.last_result is None else self.last_result.fields("backup"),
                "guard": None if self.guard is None else self.guard.to_wire()}

    @classmethod
    def from_wire(cls, data: Wire) -> Status:
        job, last, guard = data.get("job"), data.get("last_result"), data.get("guard")
        return cls(int(data["pid"]), str(data["state"]), bool(data.get("paused")), data.get("on_battery"),
                   data.get("held_back"), None if not job else JobInfo.from_wire(job), data.get("last_storage_time"),
                   data.get("next_storage_time"), data.get("next_destination"), data.get("next_trigger"),
                   str(data.get("drive_detection") or ""),
                   tuple(DestinationStatus.from_wire(d) for d in data.get("destinations") or ()),
                   tuple(FolderStatus.from_wire(f) for f in data.get("folders") or ()),
                   None if not last else JobResult.from_wire(last), None if not guard else GuardStatus.from_wire(guard))


@dataclass(frozen=True)
class Changed:
    """A path under a protected folder changed since the destination's last storage time, and when."""

    path: bytes
    time: str

    def to_wire(self) -> Wire:
        return {"path": path_text(self.path), "time": self.time}
