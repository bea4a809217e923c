"""“Back up now”: offered whenever a backup can start, and saying where it goes: to the backup drive, or,
while the drive is away and the agent keeps its history on this computer meanwhile (core/agent/away.py),
to this computer until the drive returns. What a backup that ended said is the app's to tell (gui/app.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence

if TYPE_CHECKING:
    from timekeep.gui.main_window import MainWindow

TO_THE_DRIVE = "Take a snapshot of the protected folders now"
WHERE_KEPT = "Kept on this computer until the drive returns"  # a snapshot taken while the drive is away
KEPT_HERE = ("Take a snapshot of the protected folders now: the backup drive is not connected, so it is kept on "
             "this computer until the drive returns")
WHY_NOT = {"index": "The index must be rebuilt first", "rebuilding": "The index must be rebuilt first",
           "locked": "The backups are locked"}
NOT_CONNECTED = "The backup drive is not connected"


class BackupCommand(QObject):
    """The window's "Back up now" action, enabled and worded from the bridge's state whenever that changes."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window, self.bridge = window, window.bridge
        self.action = QAction(window.assets.icon("backup"), "Back up now", window)
        self.action.setObjectName("backup_action")
        self.action.setShortcut(QKeySequence("Ctrl+B"))
        self.action.triggered.connect(self.back_up_now)
        bridge = self.bridge
        for signal in (bridge.repository_opened, bridge.history_loaded, bridge.repository_missing,
                       bridge.repository_failed, bridge.index_unusable, bridge.repository_locked,
                       bridge.destinations_changed, bridge.backup_started, bridge.backup_finished,
                       bridge.backup_failed, bridge.backup_cancelled, bridge.backup_skipped):
            signal.connect(self.refresh)
        self.refresh()

    def refresh(self, *_: object) -> None:
        """Enabled while a backup can start; the tooltip says where it would go, or why none can."""
        bridge = self.bridge
        here = bridge.keeps_here
        self.action.setEnabled((bridge.state == "open" or here) and not bridge.backing_up)
        if here:
            self.action.setToolTip(KEPT_HERE)
        elif bridge.state == "open" or bridge.backing_up:
            self.action.setToolTip(TO_THE_DRIVE)
        else:
            self.action.setToolTip(WHY_NOT.get(bridge.state, NOT_CONNECTED))

    def back_up_now(self) -> None:
        if not self.bridge.back_up("manual"):
            reason = "a backup is already running" if self.bridge.backing_up else "the backup drive is not connected"
            self.window.statusBar().showMessage(f"Cannot back up now: {reason}", 10_000)
