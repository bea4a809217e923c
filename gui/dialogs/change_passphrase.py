"""Settings' "Change passphrase…": the current passphrase (or a recovery key) and the new one, typed twice.

Only the wrapped copy of the key changes, so it takes a key derivation or two (about a second), run in a
worker while the dialog shows it is busy. A wrong current secret is said in place and the dialog stays open;
once changed, the dialog says so (and what the keyring now holds) and offers only Close.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialogButtonBox,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from timekeep.core.api import Argon2Params, check_passphrase
from timekeep.core.errors import UsageError
from timekeep.gui.dialogs.secret_fields import SecretFields
from timekeep.gui.dialogs.secret_job import SecretJobDialog
from timekeep.gui.key_jobs import Changed, Refused, change_typed
from timekeep.gui.location import Location
from timekeep.gui.workers import WorkerPool

EXPLAINED = ("Type the current passphrase (or the recovery key), then the new passphrase twice. Your backups "
             "are not rewritten: from now on the new passphrase opens them, the old one no longer does, and "
             "the recovery key still does.")
CURRENT = "Current passphrase or recovery key"
DONE = "The passphrase is changed: the old one no longer opens these backups."


def new_passphrase_refusal(current: str, new: str, again: str) -> str | None:
    """Why these three fields cannot be used, in words; None when they can."""
    if not current:
        return "Type the current passphrase or the recovery key first."
    try:
        check_passphrase(new)
    except UsageError as refused:
        return str(refused)
    if new != again:
        return "The two new passphrases differ: type the same one twice."
    return "The new passphrase is the current one: choose another." if new == current else None


class ChangePassphraseDialog(SecretJobDialog):
    def __init__(self, workers: WorkerPool, repo: Location, argon2: Argon2Params | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workers, self.repo, self.argon2 = workers, repo, argon2
        self.changed = False
        self.setWindowTitle("Change the passphrase")
        text = QLabel(EXPLAINED)
        text.setWordWrap(True)
        self.secret = SecretFields((CURRENT, "New passphrase", "The same new passphrase again"))
        self.secret.keep_box.hide()  # the keyring follows on its own: it keeps the new one if it kept the old
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setAccessibleName("Changing the passphrase")
        self.busy.hide()
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.change_button = self.buttons.addButton("Change passphrase", QDialogButtonBox.ButtonRole.AcceptRole)
        self.action = self.change_button
        self.change_button.setDefault(True)
        for button in self.buttons.buttons():
            if isinstance(button, QPushButton):
                button.setAutoDefault(button is self.change_button)
        self.buttons.accepted.connect(self.try_change)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for widget in (text, self.secret, self.busy, self.message, self.buttons):
            layout.addWidget(widget)
        self.resize(480, self.sizeHint().height())

    def try_change(self) -> None:
        current, new, again = self.secret.texts()
        refusal = new_passphrase_refusal(current, new, again)
        if refusal:
            self._say(refusal, error=True)
            return
        self._busy(True)
        self._say("Changing the passphrase…", error=False)
        self.workers.start(change_typed, self.repo, current, new, self.argon2,
                           on_done=self._answered, on_failed=self._failed)

    def _answered(self, answer: Changed | Refused) -> None:
        if isinstance(answer, Refused):
            self._failed(answer.message)
            self.secret.fields[0].clear()
            self.secret.fields[0].setFocus()
            return
        self.changed = True
        self.busy.hide()
        self.change_button.hide()
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText("Close")
        self._say(" ".join(part for part in (DONE, answer.keyring_note) if part), error=False)
