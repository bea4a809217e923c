"""The GUI's only door to the engine: every call runs in a worker, and what comes back arrives as Qt signals.

Two kinds of access, as the engine's locking asks:
- a read-only `Timekeep` held open for browsing (peewee gives each worker thread its own SQLite connection),
  which keeps working while a backup runs;
- a writer `Timekeep` opened only for the length of one backup or one change of folders, then closed, so the
  writer lock is held no longer than needed.
The bridge also watches whether the repository is reachable (the drive comes and goes) and says so. When an
agent serves the repository (`gui.agent_link`), its storage times are announced with the same signals as
the bridge's own backups, and "Back up now" asks the agent; without one, the bridge backs up itself.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, TypeVarTuple

from PySide6.QtCore import QObject, QTimer, Signal

from core.agent.messages import DestinationStatus, JobFinished, JobStarted
from core.api import Timekeep, init_repository, is_repository
from core.types import CoalesceReport, FolderInfo, Progress, Retention, SnapshotInfo
from gui.agent_link import Drives, Serving, back_up_via_agent, cancel_agent_job, follow_agent
from gui.workers import Failed, Report, WorkerPool

R = TypeVar("R")
Ts = TypeVarTuple("Ts")
DRIVE_POLL_MS = 4000
READ_LANES = ("browse", "preview", "jobs")  # tree listings; previews; restores, versions and compares


@dataclass(frozen=True)
class History:
    """What the window needs to draw itself: the snapshots (oldest first) and the protected folders."""

    snapshots: tuple[SnapshotInfo, ...]
    folders: tuple[FolderInfo, ...]


@dataclass(frozen=True)
class FolderChange:
    """Folders to start and stop protecting, and the exclusions every protected folder should carry."""

    add: tuple[bytes, ...] = ()
    remove: tuple[bytes, ...] = ()
    excludes: tuple[str, ...] = ()  # the person's patterns, on top of the engine's defaults
    reapply: bool = False  # the patterns changed: give every protected folder the new ones
    compression_level: int | None = None  # a new zstd level for what is stored from now on
    retention: Retention | None = None  # a new rule for thinning the repository's history


def repository_reachable(path: Path) -> bool:
    """True when the drive is there and the folder holds a repository (its config file)."""
    return is_repository(path)


def open_or_create(path: Path) -> Path:
    """Open the repository at `path`, creating it when the folder is missing or empty (welcome flow)."""
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        init_repository(path)
    with Timekeep.open(path):
        pass  # proves it is a repository we can read; raises the engine's one-line error otherwise
    return path


def apply_folder_change(repo: Path, change: FolderChange) -> tuple[FolderInfo, ...]:
    """Runs in a worker with the writer lock for just this change; an exclusions change re-adds each folder."""
    with Timekeep.open(repo, writer=True) as tk:
        for path in change.remove:
            tk.remove_folder(path)
        current = {f.path: f for f in tk.folders()}
        for path in change.add:
            if os.path.realpath(path) not in current:
                tk.add_folder(path, excludes=change.excludes)
        if change.reapply:
            for folder in tk.folders():
                tk.set_excludes(folder.path, change.excludes)
        if change.compression_level is not None:
            tk.set_compression_level(change.compression_level)
        if change.retention is not None:
            tk.set_retention(change.retention)
        return tuple(tk.folders())


def thin_history(repo: Path, rule: Retention, report: Callable[[Progress], None]) -> CoalesceReport:
    """Runs in a worker: apply `rule` (the one the person sees) and thin the history by it now."""
    with Timekeep.open(repo, writer=True) as tk:
        if tk.retention() != rule:
            tk.set_retention(rule)
        return tk.coalesce(progress=report)


def run_backup(repo: Path, trigger: str, cancel: threading.Event, report: Callable[[Progress], None]) -> SnapshotInfo:
    with Timekeep.open(repo, writer=True) as tk:
        return tk.backup(trigger=trigger, progress=report, cancel=cancel)


class EngineBridge(QObject):
    """Owns the browsing connection and the backup job; everything it learns is announced as a signal."""

    repository_opened = Signal(object)  # History
    repository_missing = Signal(str)  # the repository path that cannot be reached
    repository_failed = Signal(str)  # reachable but unusable: the engine's one-line message
    history_loaded = Signal(object)  # History
    backup_started = Signal()
    backup_progressed = Signal(object)  # core.types.Progress
    backup_finished = Signal(object)  # SnapshotInfo
    backup_failed = Signal(str)
    backup_cancelled = Signal()
    backup_skipped = Signal(str)  # the agent found nothing to store
    agent_serving_changed = Signal(bool)  # an agent now backs this repository up (or no longer does)
    destinations_changed = Signal(object)  # tuple[DestinationStatus, ...]: the agent's drives, () without one
    folders_changed = Signal(object)  # tuple[FolderInfo, ...]

    def __init__(self, workers: WorkerPool, parent: QObject | None = None, agent_socket: Path | None = None) -> None:
        super().__init__(parent)
        self.workers = workers
        self.repo: Path | None = None
        self.reader: Timekeep | None = None
        self.state = "unknown"  # unknown, opening, open, missing, failed
        self._cancel: threading.Event | None = None  # set while our own backup (direct or asked of the agent) runs
        self.thinning = False
        self.agent_socket = agent_socket  # None: never look for an agent
        self.agent_serving = False
        self._agent_stop: threading.Event | None = None
        self._agent_job: int | None = None  # a storage time the agent started by itself, being shown
        self._own_jobs: set[int] = set()  # those we asked for: followed by our own job, not the link
        self.destinations: tuple[DestinationStatus, ...] = ()  # the agent's, as it last said
        self._poll = QTimer(self)
        self._poll.setInterval(DRIVE_POLL_MS)
        self._poll.timeout.connect(self._check_drive)

    # the repository
    def set_repository(self, path: Path | None) -> None:
        """Switch to `path` (or none): the old reader is closed in a worker, the new one opened in another."""
        self._drop_reader()
        self.repo = path
        self.state = "unknown"
        self._follow_agent()
        if path is None:
            self._poll.stop()
            return
        self._poll.start()
        self._check_drive()

    def _check_drive(self) -> None:
        if self.repo is not None:
            self.workers.start(repository_reachable, self.repo, on_done=self._drive_checked)

    def _drive_checked(self, present: bool) -> None:
        if present and self.state in ("unknown", "missing") and self.repo is not None:
            self.state = "opening"
            self.workers.start(Timekeep.open, self.repo, on_done=self._opened, on_failed=self._open_failed,
                               lane=READ_LANES[0])
        elif not present and self.state != "missing":
            self.state = "missing"
            self._drop_reader()
            self.repository_missing.emit(str(self.repo))

    def _opened(self, reader: Timekeep) -> None:
        if self.repo is None or reader.root != self.repo.absolute() or self.state != "opening":
            self.workers.start(reader.close, lane=READ_LANES[0])  # switched repository, or the drive left
            return
        self._drop_reader()
        self.reader = reader
        self.state = "open"
        self.read(_load_history, on_done=self.repository_opened.emit, on_failed=self.repository_failed.emit)

    def _open_failed(self, message: str) -> None:
        self.state = "failed"  # not retried by the poll; only a missing drive or a new repository resets it
        self.repository_failed.emit(message)

    def _drop_reader(self) -> None:
        """Close the browsing connection on every lane that may hold one (after the jobs queued there)."""
        if self.reader is not None:
            reader, self.reader = self.reader, None
            for lane in READ_LANES:
                self.workers.start(_close_connection, reader, lane=lane)
            self.workers.start(reader.close, lane=READ_LANES[0])

    def reload_history(self) -> None:
        self.read(_load_history, on_done=self.history_loaded.emit)

    # reads
    def read(self, fn: Callable[[Timekeep, *Ts], R], *args: *Ts, on_done: Callable[[R], object] | None = None,
             on_failed: Failed | None = None, lane: str = "browse") -> bool:
        """Run `fn(reader, *args)` on a read lane; False (and nothing runs) while no repository is open."""
        if self.reader is None:
            return False
        self.workers.start(fn, self.reader, *args, on_done=on_done, on_failed=on_failed, lane=lane)
        return True

    # writes
    @property
    def backing_up(self) -> bool:
        return self._cancel is not None or self._agent_job is not None

    @property
    def may_write(self) -> bool:
        """Whether a backup or a thinning may start: the repository is open and neither runs."""
        return not self.backing_up and not self.thinning and self.repo is not None and self.state == "open"

    def back_up(self, trigger: str = "manual") -> bool:
        """Start a backup unless one runs or there is no reachable repository; True if it started. With an
        agent serving the repository, a person's request goes to it, and timed ones are left to its schedule."""
        if not self.may_write or self.repo is None:
            return False
        if self.agent_serving and trigger != "manual":
            return False
        self._cancel = threading.Event()
        if self.agent_socket is not None:
            self.workers.start_reporting(back_up_via_agent, self.agent_socket, self.repo, self._cancel,
                                         on_progress=self._own_reported, on_failed=self._backup_failed,
                                         on_done=lambda outcome: self._agent_answered(outcome, trigger))
        else:
            self._back_up_directly(trigger)
        self.backup_started.emit()
        return True

    def _back_up_directly(self, trigger: str) -> None:
        assert self.repo is not None and self._cancel is not None
        self.workers.start_reporting(run_backup, self.repo, trigger, self._cancel,
                                     on_progress=self.backup_progressed.emit, on_done=self._backup_done,
                                     on_failed=self._backup_failed)

    def cancel_backup(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
        elif self._agent_job is not None and self.agent_socket is not None:
            self.workers.start(cancel_agent_job, self.agent_socket, self._agent_job)

    # the agent
    def _follow_agent(self) -> None:
        """(Re)start following the agent for the current repository; the previous follower stops."""
        if self._agent_stop is not None:
            self._agent_stop.set()
        self._agent_stop, self._agent_job = None, None
        self._set_serving(False)
        if self.repo is None or self.agent_socket is None:
            self._set_destinations(())
            return
        self.destinations_changed.emit(self.destinations)  # the same drives; another is shown now
        stop = self._agent_stop = threading.Event()
        self.workers.start_reporting(follow_agent, self.agent_socket, self.repo, stop, lane="agent",
                                     on_progress=lambda report: None if stop.is_set() else self._agent_reported(report))

    def _own_reported(self, report: object) -> None:
        """From our own request to the agent: its job id, then its progress."""
        if isinstance(report, JobStarted):
            self._own_jobs.add(report.info.job)
        elif isinstance(report, Progress):
            self.backup_progressed.emit(report)

    def _agent_answered(self, outcome: JobFinished | None, trigger: str) -> None:
        if outcome is None:  # no agent serves the repository: back up here
            if self._cancel is not None and not self._cancel.is_set():
                self._back_up_directly(trigger)
            else:
                self._cancel = None
                self.backup_cancelled.emit()
            return
        self._cancel = None
        self._agent_ended(outcome)

    def _agent_reported(self, report: object) -> None:
        """From the follower: storage times the agent started by itself (its schedule, the CLI, a drive)."""
        if isinstance(report, Progress):
            if self._agent_job is not None:
                self.backup_progressed.emit(report)
        elif isinstance(report, Drives):
            self._set_destinations(report.destinations)
        elif isinstance(report, Serving):
            self._agent_presence(report.serving)
        elif isinstance(report, JobStarted | JobFinished):
            self._agent_job_reported(report)

    def _agent_presence(self, serving: bool) -> None:
        self._set_serving(serving)
        if not serving:
            self._set_destinations(())
        if not serving and self._agent_job is not None:
            self._agent_job = None
            self.backup_failed.emit("the agent stopped during the backup")

    def _agent_job_reported(self, report: JobStarted | JobFinished) -> None:
        job = report.info.job
        if self._cancel is not None or job in self._own_jobs:
            return  # our own request: its job follows it
        if isinstance(report, JobStarted) and self._agent_job is None:
            self._agent_job = job
            self.backup_started.emit()
        elif isinstance(report, JobFinished) and job == self._agent_job:
            self._agent_job = None
            self._agent_ended(report)

    def _set_serving(self, serving: bool) -> None:
        if serving != self.agent_serving:
            self.agent_serving = serving
            self.agent_serving_changed.emit(serving)

    def _set_destinations(self, destinations: tuple[DestinationStatus, ...]) -> None:
        if destinations != self.destinations:
            self.destinations = destinations
            self.destinations_changed.emit(destinations)

    def _agent_ended(self, finished: JobFinished) -> None:
        result = finished.result
        if result.snapshot is not None:
            self.backup_finished.emit(result.snapshot)
            self.reload_history()
        elif result.cancelled:
            self.backup_cancelled.emit()
        elif result.ok:
            self.backup_skipped.emit(result.message)
        else:
            self.backup_failed.emit(result.error or "the storage time failed")

    def _backup_done(self, snapshot: SnapshotInfo) -> None:
        self._cancel = None
        self.backup_finished.emit(snapshot)
        self.reload_history()

    def _backup_failed(self, message: str) -> None:
        cancelled = self._cancel is not None and self._cancel.is_set()
        self._cancel = None
        if cancelled:
            self.backup_cancelled.emit()
        else:
            self.backup_failed.emit(message)
            self._check_drive()

    def thin(self, rule: Retention, on_done: Report, on_failed: Callable[[str], None],
             on_progress: Report) -> bool:
        """Thin the history by `rule` now, with the writer lock for its length; False (nothing runs) while a
        backup runs or the repository is not open. The history is reloaded afterwards."""
        if not self.may_write or self.repo is None:
            return False
        self.thinning = True

        def done(report: CoalesceReport) -> None:
            self.thinning = False
            on_done(report)
            self.reload_history()

        def failed(message: str) -> None:
            self.thinning = False
            on_failed(message)

        self.workers.start_reporting(thin_history, self.repo, rule, on_progress=on_progress, on_done=done,
                                     on_failed=failed)
        return True

    def change_folders(self, change: FolderChange, on_failed: Callable[[str], None] | None = None) -> None:
        if self.repo is None:
            return
        self.workers.start(apply_folder_change, self.repo, change, on_done=self._folders_done, on_failed=on_failed)

    def _folders_done(self, folders: tuple[FolderInfo, ...]) -> None:
        self.folders_changed.emit(folders)
        self.reload_history()

    def shut_down(self) -> None:
        """Ask a running backup to stop (it keeps what it stored) and close the browsing connection."""
        self._poll.stop()
        if self._cancel is not None:
            self._cancel.set()  # our own backup; one the agent started goes on without us
        if self._agent_stop is not None:
            self._agent_stop.set()
        self._drop_reader()


def _close_connection(tk: Timekeep) -> None:
    """peewee keeps one SQLite connection per thread: this closes the calling lane's one."""
    tk.release_thread()


def _load_history(tk: Timekeep) -> History:
    return History(tuple(tk.snapshots()), tuple(tk.folders()))

