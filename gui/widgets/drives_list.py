"""The agent's backup drives in the sidebar: which drive holds how many snapshots, which is connected, and
which one the window shows (each destination keeps a complete history of its own).

Shown only while an agent runs; activating another connected drive opens its history in the window.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from timekeep.core.agent.messages import DestinationStatus
from timekeep.core.api import is_remote
from timekeep.gui import wording
from timekeep.gui.location import Location, bucket_and_prefix, key_of

PATH_ROLE = Qt.ItemDataRole.UserRole + 1
REPOSITORIES = "Timekeep"  # <drive>/Timekeep/<name>: the drive's own name says most


def drive_name(path: str) -> str:
    """'Passport' for /media/ann/Passport/Timekeep/laptop; the folder's own name otherwise; 'laptop in
    backups' for s3://backups/laptop (a bucket's prefix names the computer, as a drive's folder does)."""
    if is_remote(path):
        bucket, prefix = bucket_and_prefix(path)
        return f"{prefix.rsplit('/', 1)[-1]} in {bucket}" if prefix else bucket
    parts = Path(path).parts
    if len(parts) >= 3 and parts[-2] == REPOSITORIES:
        return parts[-3] if len(parts) > 3 else parts[-1]
    return parts[-1] if parts else path


def drive_line(dest: DestinationStatus, shown: bool, now_ns: int) -> str:
    """Two short lines, to fit the sidebar: the name and whether it is shown or connected; how many snapshots
    it holds and how old the latest is."""
    count = f"{dest.snapshots} snapshot{'s' if dest.snapshots != 1 else ''}"
    latest = f" · {wording.ago(dest.latest_ns, now_ns)}" if dest.latest_ns is not None else ""
    state = "shown here" if shown else "connected" if dest.present else away_word(dest.path)
    return f"{drive_name(dest.path)} ({state})\n{count}{latest}"


def away_word(path: str) -> str:
    """What an absent destination is: a drive is not connected, a bucket unreachable."""
    return "unreachable" if is_remote(path) else "not connected"


class DrivesList(QWidget):
    open_requested = Signal(str)  # a connected drive other than the one shown was activated

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setAccessibleName("Backup drives")
        self.list.setToolTip("Each drive keeps a complete history of its own; "
                             "double-click a connected one to see its history")
        self.list.itemActivated.connect(self._activated)
        self.list.setSpacing(3)
        self.list.setWordWrap(True)  # a narrow sidebar wraps a line rather than scrolling sideways
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        heading = QLabel("<b>Backup drives</b>")
        heading.setBuddy(self.list)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(heading)
        layout.addWidget(self.list)
        self.shown: str | None = None
        self.setVisible(False)

    def set_destinations(self, destinations: tuple[DestinationStatus, ...], shown: Location | None) -> None:
        """List the agent's drives (hidden when there are none: no agent runs)."""
        here = self.shown = key_of(shown) if shown is not None else None
        now = time.time_ns()
        self.list.clear()
        for dest in destinations:
            is_shown = dest.path == here
            item = QListWidgetItem(drive_line(dest, is_shown, now))
            item.setData(PATH_ROLE, dest.path)
            latest = f"\nLatest snapshot {wording.when(dest.latest_ns)}" if dest.latest_ns is not None else ""
            tip = f"{dest.path}{latest}" + ("" if dest.present else
                                             f"\n{away_word(dest.path).capitalize()}: {dest.reason}")
            item.setToolTip(tip)
            if is_shown:
                font = QFont(item.font())
                font.setBold(True)
                item.setFont(font)
            if not dest.present:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
            self.list.addItem(item)
        self.list.setMaximumHeight(max(1, len(destinations)) * 3 * self.list.fontMetrics().lineSpacing() + 8)
        self.setVisible(bool(destinations))

    def lines(self) -> list[str]:
        """What the list says, one string per drive (tests, accessibility)."""
        return [self.list.item(i).text() for i in range(self.list.count())]

    def _activated(self, item: QListWidgetItem) -> None:
        path = item.data(PATH_ROLE)
        if item.flags() & Qt.ItemFlag.ItemIsEnabled and path != self.shown:
            self.open_requested.emit(path)
