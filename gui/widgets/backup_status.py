"""The status bar's backup corner: last and next backup when idle, a progress bar and Cancel while running.

Before a writer's own work, the engine may have to rebuild the index from the drive (it was missing, damaged
or behind): that shows here too, as its own step, so a long wait before "storing" has a reason on screen.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from timekeep.core.types import Progress
from timekeep.gui import wording


def running_line(progress: Progress) -> str:
    """'storing: 120 of 4,000 files · …', or 'rebuilding the index from the drive first: 3 of 12 snapshots'."""
    first = " first" if progress.phase == "rebuild" else ""
    return f"{wording.phase(progress.phase)}{first}: {wording.progress_line(progress)}"


def idle_text(last_ns: int | None, next_in_s: float | None, now_ns: int) -> str:
    """'Last backup 2026-11-18 19:03 (2 hours ago) · next in 40 min'."""
    if last_ns is None:
        last = "No backup yet"
    else:
        last = f"Last backup {wording.when(last_ns)} ({wording.ago(last_ns, now_ns)})"
    if next_in_s is None:
        return last
    return f"{last} · next in {wording.duration(next_in_s)}" if next_in_s > 0 else f"{last} · next one due"


class BackupStatus(QWidget):
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel("No backup yet")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setMaximumWidth(220)
        self.bar.setAccessibleName("Backup progress")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop this backup; everything stored so far stays safe")
        self.cancel_button.clicked.connect(self.cancel_requested)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 1)  # the words take the room; the bar and Cancel keep their own sizes
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        self.last_ns: int | None = None
        self.next_in_s: float | None = None
        self.shown: Progress | None = None  # the progress on display (tests, accessibility)
        self.waiting: str | None = None  # why no backup can be taken now, said instead of the idle words
        self._running = False
        self._show_running(False)

    def set_idle(self, last_ns: int | None, next_in_s: float | None) -> None:
        self.last_ns, self.next_in_s, self.waiting = last_ns, next_in_s, None
        self._running = False
        self._show_running(False)
        self.refresh()

    def set_waiting(self, why: str) -> None:
        """No backup can be taken until something is done (the index rebuilt): say that, not when one is due."""
        self.waiting = why
        self._running = False
        self._show_running(False)
        self.refresh()

    def refresh(self) -> None:
        if not self._running:
            self.label.setText(self.waiting or idle_text(self.last_ns, self.next_in_s, time.time_ns()))

    def set_running(self) -> None:
        self._running = True
        self.shown = None
        self.bar.setValue(0)
        self.label.setText("Backing up, looking for changes…")
        self._show_running(True)

    def set_progress(self, progress: Progress) -> None:
        if not self._running:
            return
        self.shown = progress
        self.bar.setValue(int(wording.progress_fraction(progress) * 1000))
        self.label.setText(f"Backing up, {running_line(progress)}")

    def show_rebuild(self, progress: Progress) -> None:
        """A writer other than a backup (a change of folders) rebuilds the index first: the bar shows it, with
        no Cancel (a rebuild is not cancelled from here), until its last snapshot is in."""
        if self._running:
            return
        if progress.files_done >= progress.files_total:
            self.refresh()
            self._show_running(False)
            return
        self.shown = progress
        self.bar.setValue(int(wording.progress_fraction(progress) * 1000))
        line = running_line(progress)
        self.label.setText(line[:1].upper() + line[1:])
        self.bar.setVisible(True)

    def _show_running(self, running: bool) -> None:
        self.bar.setVisible(running)
        self.cancel_button.setVisible(running)
