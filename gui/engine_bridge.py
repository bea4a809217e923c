"""The GUI's only door to the engine: every call runs in a worker, and what comes back arrives as Qt signals.

Two kinds of access, as the engine's locking asks:
- a read-only `Timekeep` held open for browsing (peewee gives each worker thread its own SQLite connection),
  which keeps working while a backup runs;
- a writer `Timekeep` opened only for the length of one backup or one change of folders, then closed, so the
  writer lock is held no longer than needed.
The bridge also watches whether the repository is reachable (the drive comes and goes) and says so; a
repository whose index is missing or damaged is announced as such (`index_unusable`), so the window can offer
to rebuild it (`timekeep.gui.index_repair`). A writer that had to rebuild the index first says so when it ends
(`writer_notes`). The engine calls themselves are the plain functions of `timekeep.gui.engine_jobs`.

When an agent serves the repository (`timekeep.gui.agent_link`, followed by `timekeep.gui.agent_follow`), its
storage times are announced with the same signals as the bridge's own backups, and "Back up now" asks the agent; without
one, the bridge backs up itself. While the drive is away, "Back up now" goes to the agent when it keeps the
drive's history on this computer meanwhile (`keeps_here`), and the history shown is that away store's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, TypeVarTuple

from PySide6.QtCore import QObject, QTimer, Signal

from timekeep.core.agent.messages import JobFinished, JobStarted
from timekeep.core.api import Timekeep, is_encrypted
from timekeep.core.types import CoalesceReport, FolderInfo, Progress, Retention, SnapshotInfo
from timekeep.gui.agent_follow import AgentFollower
from timekeep.gui.agent_link import back_up_via_agent, cancel_agent_job, keep_here_via_agent
from timekeep.gui.engine_jobs import (
    FolderChange,
    IndexTrouble,
    Locked,
    WriterDone,
    apply_folder_change,
    back_up_if_changed,
    open_away,
    open_reader,
    repository_reachable,
    thin_history,
)
from timekeep.gui.location import Location, same_place
from timekeep.gui.workers import Failed, Report, WorkerPool

R = TypeVar("R")
Ts = TypeVarTuple("Ts")
DRIVE_POLL_MS = 4000
BUCKET_POLL_MS = 30_000  # a bucket is asked over the network: less often than a mount point is looked at
READ_LANES = ("browse", "preview", "jobs")  # tree listings; previews; restores, versions and compares


@dataclass(frozen=True)
class History:
    """What the window needs to draw itself: the snapshots (oldest first) and the protected folders, and what
    opening the repository for reading noticed (an index behind the drive), said in the banner."""

    snapshots: tuple[SnapshotInfo, ...]
    folders: tuple[FolderInfo, ...]
    notes: tuple[str, ...] = ()
    encrypted: bool = False  # the drive's backups are encrypted (Settings says so)


class EngineBridge(QObject):
    """Owns the browsing connection and the backup job; everything it learns is announced as a signal."""

    repository_opened = Signal(object)  # History
    repository_missing = Signal(str)  # the repository path that cannot be reached
    repository_failed = Signal(str)  # reachable but unusable: the engine's one-line message
    index_unusable = Signal(object)  # IndexTrouble: the repository is there, its index missing or damaged
    repository_locked = Signal(str)  # encrypted, and the keyring does not open it: the person must unlock it
    index_rebuilding = Signal(object)  # Progress of the rebuild a writer job does before its own work
    writer_notes = Signal(object)  # tuple[str, ...]: what a writer job's opening found and did, once it ended
    history_loaded = Signal(object)  # History
    backup_started = Signal()
    backup_progressed = Signal(object)  # timekeep.core.types.Progress
    backup_finished = Signal(object)  # SnapshotInfo
    backup_failed = Signal(str)
    backup_cancelled = Signal()
    backup_skipped = Signal(str)  # nothing changed since the latest snapshot: the sentence saying so
    agent_serving_changed = Signal(bool)  # an agent now backs this repository up (or no longer does)
    destinations_changed = Signal(object)  # tuple[DestinationStatus, ...]: the agent's drives, () without one
    folders_changed = Signal(object)  # tuple[FolderInfo, ...]

    def __init__(self, workers: WorkerPool, parent: QObject | None = None, agent_socket: Path | None = None) -> None:
        super().__init__(parent)
        self.workers = workers
        self.repo: Location | None = None
        self.reader: Timekeep | None = None
        self.state = "unknown"  # unknown, opening, open, missing, failed, index (unusable), rebuilding
        self.away_reason = ""  # why the repository could not be reached, when the medium said
        self._checking = False  # a look at whether the repository is there is under way
        self._cancel: threading.Event | None = None  # set while our own backup (direct or asked of the agent) runs
        self.thinning = False
        self.agent_socket = agent_socket  # None: never look for an agent
        self.agent = AgentFollower(workers, agent_socket, lambda: self._cancel is not None, self)
        self.agent.serving_changed.connect(self.agent_serving_changed)
        self.agent.destinations_changed.connect(self.destinations_changed)
        self.agent.job_started.connect(self.backup_started)
        self.agent.job_progressed.connect(self.backup_progressed)
        self.agent.job_finished.connect(self._agent_ended)
        self.agent.job_lost.connect(lambda: self.backup_failed.emit("the agent stopped during the backup"))
        self._poll = QTimer(self)
        self._poll.setInterval(DRIVE_POLL_MS)
        self._poll.timeout.connect(self._check_drive)

    # the repository
    def set_repository(self, path: Location | None) -> None:
        """Switch to `path` (or none): the old reader is closed in a worker, the new one opened in another."""
        self._drop_reader()
        self.repo = path
        self.state = "unknown"
        self.agent.follow(path)
        if path is None:
            self._poll.stop()
            return
        self._poll.setInterval(BUCKET_POLL_MS if isinstance(path, str) else DRIVE_POLL_MS)
        self._poll.start()
        self._check_drive()

    def _check_drive(self) -> None:
        """Is the repository there? One look at a time: a bucket out of reach may take seconds to answer."""
        if self.repo is None or self._checking:
            return
        self._checking = True
        repo = self.repo
        self.workers.start(repository_reachable, repo, on_done=lambda present: self._checked(repo, present),
                           on_failed=lambda message: self._checked(repo, False, message))

    def _checked(self, repo: Location, present: bool, why: str = "") -> None:
        """A look ended: `why` the medium could not be asked (a bucket: no network, no credentials, no such
        bucket). A look at a repository shown no longer is dropped, and the one shown now looked at."""
        self._checking = False
        if repo != self.repo:
            self._check_drive()
            return
        if why:
            self.away_reason = why
        self._drive_checked(present)

    def _drive_checked(self, present: bool) -> None:
        if present:
            self.away_reason = ""
        if present and self.state in ("unknown", "missing") and self.repo is not None:
            self.state = "opening"
            self.workers.start(open_reader, self.repo, on_done=self._opened, on_failed=self._open_failed,
                               lane=READ_LANES[0])
        elif not present and self.state != "missing":
            self.state = "missing"
            self._drop_reader()
            self.repository_missing.emit(str(self.repo))
            if self.repo is not None:
                self.workers.start(open_away, self.repo, on_done=self._away_opened, lane=READ_LANES[0])

    def _away_opened(self, reader: Timekeep | None) -> None:
        """The history kept on this computer while the drive is away is browsed in its place (no backups)."""
        if reader is not None and (self.state != "missing" or self.reader is not None):
            self.workers.start(reader.close, lane=READ_LANES[0])  # the drive came back meanwhile
        elif reader is not None:
            self.reader = reader
            self.reload_history()

    def _opened(self, reader: Timekeep | IndexTrouble | Locked) -> None:
        if isinstance(reader, Locked):
            if self.state == "opening":
                self.state = "locked"  # not retried by the poll: unlocking calls reopen()
                self.repository_locked.emit(str(reader.path))
            return
        if isinstance(reader, IndexTrouble):
            if self.state == "opening":
                self.state = "index"  # not retried by the poll, like "failed": a rebuild or a writer moves it on
                self.index_unusable.emit(reader)
            return
        if self.repo is None or not same_place(reader.root, self.repo) or self.state != "opening":
            self.workers.start(reader.close, lane=READ_LANES[0])  # switched repository, or the drive left
            return
        self._drop_reader()
        self.reader = reader
        self.state = "open"
        self.read(_opening_history, on_done=self.repository_opened.emit, on_failed=self.repository_failed.emit)

    def _open_failed(self, message: str) -> None:
        self.state = "failed"  # not retried by the poll; only a missing drive or a new repository resets it
        self.repository_failed.emit(message)

    def _drop_reader(self) -> None:
        """Close the reader on every lane that may use it, after the jobs queued there (`LastLaneCloses`)."""
        if self.reader is not None:
            reader, self.reader = self.reader, None
            closer = LastLaneCloses(len(READ_LANES))
            for lane in READ_LANES:
                self.workers.start(closer, reader, lane=lane)

    def reload_history(self) -> None:
        self.read(_load_history, on_done=self.history_loaded.emit)

    def reopen(self) -> None:
        """Open the repository afresh (after its index was rebuilt: the new index, and no stale notes)."""
        self._drop_reader()
        self.state = "unknown"
        self._check_drive()

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
        return self._cancel is not None or self.agent.job is not None

    @property
    def may_write(self) -> bool:
        """Whether a backup or a thinning may start: the repository is open and neither runs."""
        return not self.backing_up and not self.thinning and self.repo is not None and self.state == "open"

    @property
    def keeps_here(self) -> bool:
        """The drive is away and the agent keeps its history on this computer: "Back up now" is taken there."""
        return self.state == "missing" and not self.backing_up and self.agent.keeps_here(self.repo)

    def back_up(self, trigger: str = "manual") -> bool:
        """Start a backup unless one runs or there is no repository to take it; True if it started. A person's
        request goes to an agent that serves the repository or keeps it here (`keeps_here`), timed ones not."""
        away = trigger == "manual" and self.keeps_here
        if not (self.may_write or away) or self.repo is None or (self.agent_serving and trigger != "manual"):
            return False
        self._cancel = threading.Event()
        if self.agent_socket is not None:
            job = keep_here_via_agent if away else back_up_via_agent
            self.workers.start_reporting(job, self.agent_socket, self.repo, self._cancel,
                                         on_progress=self._own_reported, on_failed=self._backup_failed,
                                         on_done=lambda outcome: self._agent_answered(outcome, trigger))
        else:
            self._back_up_directly(trigger)
        self.backup_started.emit()
        return True

    def _back_up_directly(self, trigger: str) -> None:
        assert self.repo is not None and self._cancel is not None
        self.workers.start_reporting(back_up_if_changed, self.repo, trigger, self._cancel,
                                     on_progress=self.backup_progressed.emit, on_done=self._backup_done,
                                     on_failed=self._backup_failed)

    def cancel_backup(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
        elif self.agent.job is not None and self.agent_socket is not None:
            self.workers.start(cancel_agent_job, self.agent_socket, self.agent.job)

    # the agent
    @property
    def agent_serving(self) -> bool:
        return self.agent.serving

    def _own_reported(self, report: object) -> None:
        """From our own request to the agent: its job id, then its progress."""
        if isinstance(report, JobStarted):
            self.agent.own_jobs.add(report.info.job)
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

    def _agent_ended(self, finished: JobFinished) -> None:
        result = finished.result
        if result.snapshot is not None:
            self.backup_finished.emit(result.snapshot)
            self._writer_ended(False, ())  # the agent's job says neither (a repository that could not be read reopens)
        elif result.cancelled:
            self.backup_cancelled.emit()
        elif result.ok:
            self.backup_skipped.emit(result.message)
        else:
            self.backup_failed.emit(result.error or "the backup failed")

    def _backup_done(self, done: WriterDone[SnapshotInfo | str]) -> None:
        self._cancel = None
        if isinstance(done.value, str):
            self.backup_skipped.emit(done.value)
        else:
            self.backup_finished.emit(done.value)
        self._writer_ended(done.rebuilt, done.notes)

    def _writer_ended(self, rebuilt: bool, notes: tuple[str, ...]) -> None:
        """The history again after a writer, and what its opening found said once. An index made anew is a new
        file, which the browsing connection opened before does not see: open again (so does a repository whose
        index could not be read, which the writer just rebuilt)."""
        if rebuilt or self.state == "index":
            self.reopen()
        elif self.state == "missing" and self.reader is None and self.repo is not None:  # the first kept here
            self.workers.start(open_away, self.repo, on_done=self._away_opened, lane=READ_LANES[0])
        else:
            self.reload_history()
        if notes:
            self.writer_notes.emit(notes)

    def _writer_reported(self, progress: Progress) -> None:
        if progress.phase == "rebuild":
            self.index_rebuilding.emit(progress)

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
        backup runs or the repository is not open. The history is reloaded afterwards. `on_progress` also
        hears the index being rebuilt first, when the drive says it must be."""
        if not self.may_write or self.repo is None:
            return False
        self.thinning = True

        def done(result: WriterDone[CoalesceReport]) -> None:
            self.thinning = False
            on_done(result.value)
            self._writer_ended(result.rebuilt, result.notes)

        def failed(message: str) -> None:
            self.thinning = False
            on_failed(message)

        self.workers.start_reporting(thin_history, self.repo, rule, on_progress=on_progress, on_done=done,
                                     on_failed=failed)
        return True

    def change_folders(self, change: FolderChange, on_failed: Callable[[str], None] | None = None) -> None:
        if self.repo is None:
            return
        self.workers.start_reporting(apply_folder_change, self.repo, change, on_progress=self._writer_reported,
                                     on_done=self._folders_done, on_failed=on_failed)

    def _folders_done(self, done: WriterDone[tuple[FolderInfo, ...]]) -> None:
        self.folders_changed.emit(done.value)
        self._writer_ended(done.rebuilt, done.notes)

    def shut_down(self) -> None:
        """Ask a running backup to stop (it keeps what it stored) and close the browsing connection."""
        self._poll.stop()
        if self._cancel is not None:
            self._cancel.set()  # our own backup; one the agent started goes on without us
        self.agent.stop()
        self._drop_reader()


class LastLaneCloses:
    """Run on each read lane after its queued jobs: closes that lane's connection (peewee keeps one per thread),
    and the last lane to get here closes the reader whole. Closing it while another lane still read with it
    closed that lane's SQLite connection under its running statement: a crash."""

    def __init__(self, lanes: int) -> None:
        self._left = lanes
        self._guard = threading.Lock()

    def __call__(self, tk: Timekeep) -> None:
        try:
            tk.release_thread()
        finally:  # a lane whose release failed has stopped reading all the same: it still counts
            with self._guard:
                self._left -= 1
                last = self._left == 0
            if last:
                tk.close()


def _load_history(tk: Timekeep) -> History:
    return History(tuple(tk.snapshots()), tuple(tk.folders()), encrypted=is_encrypted(tk.root))


def _opening_history(tk: Timekeep) -> History:
    """The first load after opening carries the reader's notes; later reloads follow writers, which bring
    the index in line with the drive, so the notes would be stale."""
    return History(tuple(tk.snapshots()), tuple(tk.folders()), tk.notes, is_encrypted(tk.root))

