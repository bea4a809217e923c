"""A banner across the window when the backup drive is not there or the repository cannot be used.

A missing drive is a normal state, not an error: the banner says so plainly, with when the last backup was,
and the history reappears by itself when the drive comes back.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from gui import wording
from gui.assets import Assets


def missing_text(last_backup_ns: int | None, now_ns: int) -> str:
    """'Backup drive not connected — last backup 2 days ago' (or 'no backup yet')."""
    if last_backup_ns is None:
        return "Backup drive not connected — no backup yet"
    return f"Backup drive not connected — last backup {wording.ago(last_backup_ns, now_ns)}"


class DriveStatus(QFrame):
    choose_requested = Signal()

    def __init__(self, assets: Assets, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("drive_status")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("#drive_status { background: palette(alternate-base); border-radius: 4px; }")
        self.icon = QLabel()
        self.icon.setPixmap(assets.icon("drive-missing").pixmap(24, 24))
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.choose_button = QPushButton("Choose another drive…")
        self.choose_button.clicked.connect(self.choose_requested)
        layout = QHBoxLayout(self)
        layout.addWidget(self.icon)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.choose_button)
        self.setAccessibleName("Drive status")
        self.hide()

    def show_missing(self, repo: str, last_backup_ns: int | None) -> None:
        self.label.setText(missing_text(last_backup_ns, time.time_ns()))
        self.label.setToolTip(f"Looking for {repo}; connect the drive and the history comes back by itself")
        self.show()

    def show_problem(self, message: str) -> None:
        self.label.setText(f"The backup cannot be opened: {message}")
        self.label.setToolTip("")
        self.show()

