"""Unlock an encrypted backup drive with its passphrase or recovery key, when the keyring does not have it.

The unlocking (a key derivation of about half a second) runs in a worker. A wrong secret is said in the
dialog, which stays open for another try; Cancel leaves the drive locked and the window usable.
"""

from __future__ import annotations

import os

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPushButton, QVBoxLayout, QWidget

from timekeep.gui import palette, wording
from timekeep.gui.dialogs.secret_fields import SecretFields
from timekeep.gui.key_jobs import Refused, Unlocked, unlock_typed
from timekeep.gui.location import Location
from timekeep.gui.workers import WorkerPool

PLACEHOLDER = "Passphrase or recovery key"


def unlock_text(repo: Location) -> str:
    where = wording.display_path(os.fsencode(repo))
    return (f"The backups in <b>{where}</b> are encrypted. Type their passphrase — or the recovery key, "
            "if the passphrase is lost — to open them.")


class UnlockDialog(QDialog):
    def __init__(self, workers: WorkerPool, repo: Location, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workers, self.repo = workers, repo
        self.keyring_note = ""  # what the keyring said when asked to keep the passphrase, if anything
        self.setWindowTitle("Unlock the backups")
        text = QLabel(unlock_text(repo))
        text.setWordWrap(True)
        self.secret = SecretFields((PLACEHOLDER,))
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet(f"color: {palette.mark_colour('error', self.palette()).name()}")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.unlock_button = self.buttons.addButton("Unlock", QDialogButtonBox.ButtonRole.AcceptRole)
        self.unlock_button.setDefault(True)
        for button in self.buttons.buttons():
            if isinstance(button, QPushButton):
                button.setAutoDefault(button is self.unlock_button)
        self.buttons.accepted.connect(self.try_unlock)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for widget in (text, self.secret, self.message, self.buttons):
            layout.addWidget(widget)
        self.resize(480, self.sizeHint().height())

    def try_unlock(self) -> None:
        (secret,) = self.secret.texts()
        if not secret:
            self.message.setText("Type the passphrase or the recovery key first.")
            return
        self.unlock_button.setEnabled(False)
        self.message.setText("Unlocking…")
        self.workers.start(unlock_typed, self.repo, secret, self.secret.keep_box.isChecked(),
                           on_done=self._answered, on_failed=self._failed)

    def _answered(self, answer: Unlocked | Refused) -> None:
        if isinstance(answer, Refused):
            self._failed(answer.message)
            self.secret.clear()
            return
        self.keyring_note = answer.keyring_note
        self.accept()

    def _failed(self, message: str) -> None:
        self.message.setText(message)
        self.unlock_button.setEnabled(True)
