"""Keeps the window's history current when someone else writes the repository: the agent, `timekeep backup`,
or another window. A cheap look at the repository folder (in a worker, every two seconds) notices that
something was written; only then is the newest snapshot read, and only a new one reloads the history through
the bridge, so browsing is not disturbed while nothing new was stored.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject, QTimer

from timekeep.core.api import Timekeep
from timekeep.gui.engine_bridge import EngineBridge, History
from timekeep.gui.location import Location
from timekeep.gui.workers import WorkerPool

LOOK_MS = 2_000
Fingerprint = tuple[tuple[str, int, int], ...]


def fingerprint(root: Location) -> Fingerprint:
    """The name, change time and size of everything at the top of the repository: a new manifest changes its
    folder's time, a commit the index files'. Empty when the folder cannot be read (the drive left), and for a
    bucket, which is not listed every two seconds: the agent's storage times of it reload the history."""
    if not isinstance(root, Path):
        return ()
    try:
        with os.scandir(root) as entries:
            found = []
            for entry in entries:
                st = entry.stat(follow_symlinks=False)
                found.append((entry.name, st.st_mtime_ns, st.st_size))
    except OSError:
        return ()
    return tuple(sorted(found))


def newest(tk: Timekeep) -> tuple[int, int | None]:
    """How many snapshots there are and the newest one's id."""
    snaps = tk.snapshots()
    return len(snaps), (snaps[-1].id if snaps else None)


class HistoryWatch(QObject):
    def __init__(self, bridge: EngineBridge, workers: WorkerPool, parent: QObject | None = None,
                 look_ms: int = LOOK_MS) -> None:
        super().__init__(parent)
        self.bridge, self.workers = bridge, workers
        self.shown: tuple[int, int | None] | None = None  # what the window's history holds
        self.seen: Fingerprint | None = None
        self._looking = False
        self._timer = QTimer(self)
        self._timer.setInterval(look_ms)
        self._timer.timeout.connect(self.look)
        bridge.repository_opened.connect(self._shown)
        bridge.history_loaded.connect(self._shown)
        self._timer.start()

    def _shown(self, history: History) -> None:
        snaps = history.snapshots
        self.shown = (len(snaps), snaps[-1].id if snaps else None)

    def look(self) -> None:
        repo = self.bridge.repo
        if repo is None or self.bridge.state != "open" or self._looking:
            return
        self._looking = True
        self.workers.start(fingerprint, repo, on_done=lambda found: self._looked(repo, found),
                           on_failed=lambda _message: self._settle())

    def _settle(self) -> None:
        self._looking = False

    def _looked(self, repo: Location, found: Fingerprint) -> None:
        if repo != self.bridge.repo or found == self.seen:
            self._settle()
            return
        if not self.bridge.read(newest, on_done=lambda counted: self._counted(found, counted),
                                on_failed=lambda _message: self._settle()):
            self._settle()

    def _counted(self, found: Fingerprint, counted: tuple[int, int | None]) -> None:
        self._settle()
        self.seen = found  # a snapshot being finished shows on a later look, when its commit changes the files
        if counted != self.shown and not self.bridge.backing_up:
            self.shown = counted
            self.bridge.reload_history()
