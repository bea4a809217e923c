"""The GUI's only door to the engine: every call runs in a worker, and what comes back arrives as Qt signals.

Two kinds of access, as the engine's locking asks:
- a read-only `Timekeep` held open for browsing (peewee gives each worker thread its own SQLite connection),
  which keeps working while a backup runs;
- a writer `Timekeep` opened only for the length of one backup or one change of folders, then closed, so the
  writer lock is held no longer than needed.
The bridge also watches whether the repository is reachable (the drive comes and goes) and says so.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from core.api import Timekeep, init_repository
from core.storage.layout import Layout
from core.types import FolderInfo, Progress, SnapshotInfo
from gui.workers import Report, WorkerPool

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


def repository_reachable(path: Path) -> bool:
    """True when the drive is there and the folder holds a repository (its config file)."""
    return Layout(path).config.exists()


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
        return tuple(tk.folders())


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
    folders_changed = Signal(object)  # tuple[FolderInfo, ...]

    def __init__(self, workers: WorkerPool, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.workers = workers
        self.repo: Path | None = None
        self.reader: Timekeep | None = None
        self.state = "unknown"  # unknown, opening, open, missing, failed
        self._cancel: threading.Event | None = None
        self._poll = QTimer(self)
        self._poll.setInterval(DRIVE_POLL_MS)
        self._poll.timeout.connect(self._check_drive)

    # the repository
    def set_repository(self, path: Path | None) -> None:
        """Switch to `path` (or none): the old reader is closed in a worker, the new one opened in another."""
        self._drop_reader()
        self.repo = path
        self.state = "unknown"
        if path is None:
            self._poll.stop()
            return
        self._poll.start()
        self._check_drive()

    def _check_drive(self) -> None:
        if self.repo is not None:
            self.workers.start(repository_reachable, self.repo, on_done=self._drive_checked)

    def _drive_checked(self, present: bool) -> None:
        if present and self.state in ("unknown", "missing"):
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
    def read(self, fn: Callable[..., Any], *args: Any, on_done: Report | None = None,
             on_failed: Callable[[str], None] | None = None, on_progress: Report | None = None,
             lane: str = "browse") -> bool:
        """Run `fn(reader, *args)` on a read lane; False (and nothing runs) while no repository is open."""
        if self.reader is None:
            return False
        self.workers.start(fn, self.reader, *args, on_done=on_done, on_failed=on_failed, on_progress=on_progress,
                           lane=lane)
        return True

    # writes
    @property
    def backing_up(self) -> bool:
        return self._cancel is not None

    def back_up(self, trigger: str = "manual") -> bool:
        """Start a backup unless one runs or there is no reachable repository; True if it started."""
        if self.backing_up or self.repo is None or self.state != "open":
            return False
        self._cancel = threading.Event()
        self.workers.start(run_backup, self.repo, trigger, self._cancel, on_done=self._backup_done,
                           on_failed=self._backup_failed, on_progress=self.backup_progressed.emit)
        self.backup_started.emit()
        return True

    def cancel_backup(self) -> None:
        if self._cancel is not None:
            self._cancel.set()

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
        self.cancel_backup()
        self._drop_reader()


def _close_connection(tk: Timekeep) -> None:
    """peewee keeps one SQLite connection per thread: this closes the calling lane's one."""
    tk.db.close()


def _load_history(tk: Timekeep) -> History:
    return History(tuple(tk.snapshots()), tuple(tk.folders()))

