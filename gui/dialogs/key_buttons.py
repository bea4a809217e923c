"""An encrypted drive's key in Settings: "Change passphrase…" and "Add recovery key…", and the dialogs they
open (each runs its work in a worker of the app's pool)."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from PySide6.QtWidgets import QDialog, QHBoxLayout, QPushButton, QWidget

from timekeep.core.api import Argon2Params
from timekeep.gui.dialogs.add_recovery import AddRecoveryDialog
from timekeep.gui.dialogs.change_passphrase import ChangePassphraseDialog
from timekeep.gui.location import Location
from timekeep.gui.prompts import Prompts
from timekeep.gui.workers import WorkerPool

D = TypeVar("D", bound=QDialog)


class KeyButtons(QWidget):
    def __init__(self, workers: WorkerPool, prompts: Prompts, home: Path, repo: Location,
                 argon2: Argon2Params | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workers, self.prompts, self.home, self.repo, self.argon2 = workers, prompts, home, repo, argon2
        self.dialog: QDialog | None = None  # the one open, for tests and screenshots
        self.change_button = QPushButton("Change passphrase…")
        self.change_button.setToolTip("Choose a new passphrase for these backups; nothing is rewritten")
        self.change_button.clicked.connect(self.change_passphrase)
        self.recovery_button = QPushButton("Add recovery key…")
        self.recovery_button.setToolTip("Make another recovery key, to keep apart from this computer")
        self.recovery_button.clicked.connect(self.add_recovery_key)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.change_button)
        layout.addWidget(self.recovery_button)
        layout.addStretch(1)

    def change_passphrase(self) -> ChangePassphraseDialog:
        dialog = ChangePassphraseDialog(self.workers, self.repo, self.argon2, self.window())
        return self._open(dialog)

    def add_recovery_key(self) -> AddRecoveryDialog:
        dialog = AddRecoveryDialog(self.workers, self.prompts, self.home, self.repo, self.window())
        return self._open(dialog)

    def _open(self, dialog: D) -> D:
        self.dialog = dialog
        dialog.open()
        return dialog
