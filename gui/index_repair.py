"""The window's side of "the index is a cache; the drive is the truth": a missing, damaged or stale index
is said in the banner with a "Rebuild index" button, the rebuild runs in a worker with its progress in the
banner, and the repository is opened afresh afterwards.

What the rebuild found lost (a snapshot whose manifest is gone, a file's version that went with it) is
listed once, by snapshot and path, a few lines and "and N more"; a rebuild that lost nothing is a line in
the status bar. A failed rebuild shows its one line in the banner, with the button to try again.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMainWindow

from timekeep.core.api import RebuildReport, describe_lost
from timekeep.core.types import Lost, Progress
from timekeep.gui import wording
from timekeep.gui.engine_bridge import EngineBridge
from timekeep.gui.engine_jobs import IndexTrouble, rebuild
from timekeep.gui.prompts import Prompts
from timekeep.gui.widgets.drive_status import DriveStatus

SHOWN_LOSSES = 6


def lost_lines(lost: list[Lost] | tuple[Lost, ...], limit: int = SHOWN_LOSSES) -> list[str]:
    """What was lost, one line each ('snapshot 2 is lost: …', '/home/me/a.txt at snapshot 2: …'), a few."""
    return wording.some([describe_lost(item) for item in lost], limit)


def rebuilt_text(report: RebuildReport) -> str:
    """The report of a rebuild that found something lost or damaged, for a dialog: counts, then the list."""
    found = f"The index was rebuilt from the drive: {_snapshots(report.snapshots)} restorable."
    lines = lost_lines(report.lost) if report.lost else wording.some(report.problems, SHOWN_LOSSES)
    what = "What the drive lost:" if report.lost else "What was found damaged:"
    return "\n".join([found, "", what, *(f"• {line}" for line in lines)])


def rebuilt_line(report: RebuildReport) -> str:
    """A rebuild that lost nothing: one line for the status bar."""
    return f"The index was rebuilt from the drive ({_snapshots(report.snapshots)}); nothing was lost"


def _snapshots(n: int) -> str:
    return "1 snapshot" if n == 1 else f"{n:,} snapshots"


class IndexRepair(QObject):
    """Runs the person's "Rebuild index" for the window, and keeps the banner saying where it stands."""

    progressed = Signal(object)  # Progress, once the banner shows it
    rebuilt = Signal(object)  # RebuildReport, once the repository is being opened again
    failed = Signal(str)

    def __init__(self, bridge: EngineBridge, prompts: Prompts, banner: DriveStatus, window: QMainWindow) -> None:
        super().__init__(window)
        self.bridge, self.prompts, self.banner, self.window = bridge, prompts, banner, window
        self.running = False
        self._before = "unknown"  # the bridge's state before the rebuild, gone back to if it fails
        bridge.index_unusable.connect(self._unusable)
        banner.rebuild_requested.connect(self.start)

    def _unusable(self, trouble: IndexTrouble) -> None:
        if not self.running:
            self.banner.show_index_trouble(trouble)

    def start(self) -> bool:
        """Rebuild now, unless a backup or thinning runs (they hold the writer lock), the drive is away, or a
        rebuild already runs; True if it started."""
        bridge = self.bridge
        if self.running or bridge.repo is None or bridge.backing_up or bridge.thinning or bridge.state == "missing":
            self.window.statusBar().showMessage("Cannot rebuild the index now: a backup or thinning is running, "
                                                "or the backup drive is not connected", 10_000)
            return False
        self.running, self._before, bridge.state = True, bridge.state, "rebuilding"  # no backup starts meanwhile
        self.banner.show_rebuilding()
        bridge.workers.start_reporting(rebuild, bridge.repo, on_progress=self._progressed, on_done=self._done,
                                       on_failed=self._failed)
        return True

    def _progressed(self, progress: Progress) -> None:
        if self.bridge.state == "rebuilding":
            self.banner.show_rebuilding(progress)
            self.progressed.emit(progress)

    def _done(self, report: RebuildReport) -> None:
        self.running = False
        if self.bridge.state != "rebuilding":
            return  # the drive left meanwhile, or another repository was chosen: that is what the window shows
        self.bridge.reopen()
        if report.lost or report.problems:
            self.prompts.warn(self.window, "Index rebuilt", rebuilt_text(report))
        else:
            self.window.statusBar().showMessage(rebuilt_line(report), 15_000)
        self.rebuilt.emit(report)

    def _failed(self, message: str) -> None:
        self.running = False
        if self.bridge.state != "rebuilding":
            return
        self.bridge.state = self._before
        self.banner.show_rebuild_failed(message)
        self.failed.emit(message)
