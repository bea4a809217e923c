"""A banner across the window when the backup cannot be shown as it is: the drive is not there, the
repository cannot be used, or its index is missing, damaged or behind the drive.

A missing drive is a normal state, not an error: the banner says so plainly, with when the last backup was,
and the history reappears by itself when the drive comes back. An index that cannot be read is not a dead end
either: everything stored is still on the drive, and the banner offers to rebuild the index from it, showing
that rebuild's progress in place.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from timekeep.core.api import is_remote
from timekeep.core.types import Progress
from timekeep.gui import wording
from timekeep.gui.assets import Assets
from timekeep.gui.engine_jobs import IndexTrouble

BROUGHT_BACK = ("Everything stored is still on the drive: rebuilding the index from it brings the history "
                "back. Nothing on the drive is changed but the index.")


def missing_text(last_backup_ns: int | None, now_ns: int, remote: bool = False) -> str:
    """'Backup drive not connected — last backup 2 days ago' (or 'no backup yet'); for a bucket, 'Backup
    storage unreachable — …'."""
    away = "Backup storage unreachable" if remote else "Backup drive not connected"
    if last_backup_ns is None:
        return f"{away} — no backup yet"
    return f"{away} — last backup {wording.ago(last_backup_ns, now_ns)}"


def trouble_text(trouble: IndexTrouble) -> str:
    """What an unreadable index means for the person, in plain words (the engine's line is the tooltip)."""
    return f"<b>The index of this backup is {trouble.kind}</b>, so its history cannot be shown. {BROUGHT_BACK}"


def rebuilding_text(progress: Progress | None) -> str:
    """'Rebuilding the index from the drive: 3 of 12 snapshots'."""
    if progress is None:
        return "Rebuilding the index from the drive…"
    return f"Rebuilding the index from the drive: {wording.snapshots_line(progress)}"


class DriveStatus(QFrame):
    choose_requested = Signal()
    rebuild_requested = Signal()

    def __init__(self, assets: Assets, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.assets = assets
        self.setObjectName("drive_status")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("#drive_status { background: palette(alternate-base); border-radius: 4px; }")
        self.icon = QLabel()
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.bar = QProgressBar()
        self.bar.setAccessibleName("Index rebuild progress")
        self.bar.setMaximumWidth(220)
        self.rebuild_button = QPushButton(assets.icon("rebuild"), "Rebuild index")
        self.rebuild_button.setToolTip("Make the index again from the snapshots on the drive")
        self.rebuild_button.clicked.connect(self.rebuild_requested)
        self.choose_button = QPushButton("Choose another drive…")
        self.choose_button.clicked.connect(self.choose_requested)
        layout = QHBoxLayout(self)
        layout.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.label, 1)
        for widget in (self.bar, self.rebuild_button, self.choose_button):
            layout.addWidget(widget)
        self.setAccessibleName("Drive status")
        self.hide()

    def _show(self, icon: str, text: str, tooltip: str = "", rebuild: bool = False, choose: bool = True,
              busy: bool = False, remote: bool = False) -> None:
        self.choose_button.setText("Choose other storage…" if remote else "Choose another drive…")
        self.icon.setPixmap(self.assets.icon(icon).pixmap(24, 24))
        self.label.setText(text)
        self.label.setToolTip(tooltip)
        self.rebuild_button.setVisible(rebuild)
        self.choose_button.setVisible(choose)
        self.bar.setVisible(busy)
        self.show()

    def show_missing(self, repo: str, last_backup_ns: int | None, reason: str = "") -> None:
        remote = is_remote(repo)
        why = f"<br><small>{_escape(wording.sentence(reason))}</small>" if reason else ""
        self._show("drive-missing", missing_text(last_backup_ns, time.time_ns(), remote) + why,
                   f"Trying {repo} now and then; once it answers (the network is back, or the server is up) the "
                   "history comes back by itself" if remote else
                   f"Looking for {repo}; connect the drive and the history comes back by itself", remote=remote)

    def show_problem(self, message: str) -> None:
        self._show("drive-missing", f"The backup cannot be opened: {message}")

    def show_index_trouble(self, trouble: IndexTrouble) -> None:
        self._show("index-damaged", trouble_text(trouble), trouble.message, rebuild=True)

    def show_rebuilding(self, progress: Progress | None = None) -> None:
        if progress is None:
            self.bar.setRange(0, 0)  # busy until the first report says how many snapshots there are
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(wording.progress_fraction(progress) * 1000))
        self._show("rebuild", rebuilding_text(progress), choose=False, busy=True)

    def show_rebuild_failed(self, message: str) -> None:
        self._show("index-damaged", f"<b>The index could not be rebuilt</b>: {_escape(message)}", rebuild=True)

    def show_notes(self, notes: tuple[str, ...]) -> None:
        """What opening for reading noticed (an index behind the drive: what is shown is true, perhaps not
        all); nothing noticed hides the banner."""
        if not notes:
            self.hide()
            return
        text = " ".join(_escape(wording.sentence(note)) for note in notes)
        self._show("drive", text, rebuild=True, choose=False)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
