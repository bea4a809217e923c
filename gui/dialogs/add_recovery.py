"""Settings' "Add recovery key…": the current passphrase (or a recovery key), then the new recovery key shown
once on the welcome flow's own page (Save as file…, Print…, Copy).

Whoever sits at an unlocked computer should not mint a way into the backups, so the passphrase is asked
first; the work runs in a worker. Done waits until the person has kept the key somewhere, as Next does in
the welcome flow.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QDialogButtonBox,
    QLabel,
    QProgressBar,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from timekeep.gui.dialogs.recovery_page import RecoveryKeyPage
from timekeep.gui.dialogs.secret_fields import SecretFields
from timekeep.gui.dialogs.secret_job import SecretJobDialog
from timekeep.gui.dialogs.unlock import PLACEHOLDER
from timekeep.gui.key_jobs import Refused, recovery_key_typed
from timekeep.gui.location import Location
from timekeep.gui.prompts import Prompts
from timekeep.gui.workers import WorkerPool

EXPLAINED = ("A recovery key opens your backups when the passphrase is forgotten. Type the passphrase (or a "
             "recovery key you hold) to make another one; those you already have keep working.")


class AddRecoveryDialog(SecretJobDialog):
    def __init__(self, workers: WorkerPool, prompts: Prompts, home: Path, repo: Location,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workers, self.repo = workers, repo
        self.setWindowTitle("Add a recovery key")
        self.pages = QStackedWidget()
        self.pages.addWidget(self._ask_page())
        self.recovery_page = RecoveryKeyPage(workers, prompts, home)
        self.pages.addWidget(self.recovery_page)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.make_button = self.buttons.addButton("Make recovery key", QDialogButtonBox.ButtonRole.ActionRole)
        self.action = self.make_button
        self.make_button.setDefault(True)
        self.make_button.clicked.connect(self.try_make)
        self.done_button = self.buttons.addButton("Done", QDialogButtonBox.ButtonRole.AcceptRole)
        self.done_button.hide()
        self.recovery_page.kept_changed.connect(self.done_button.setEnabled)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for widget in (self.pages, self.message, self.buttons):
            layout.addWidget(widget)
        self.resize(560, self.sizeHint().height())

    def _ask_page(self) -> QWidget:
        page = QWidget()
        text = QLabel(EXPLAINED)
        text.setWordWrap(True)
        self.secret = SecretFields((PLACEHOLDER,))
        self.secret.keep_box.hide()
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setAccessibleName("Making the recovery key")
        self.busy.hide()
        layout = QVBoxLayout(page)
        for widget in (text, self.secret, self.busy):
            layout.addWidget(widget)
        layout.addStretch(1)
        return page

    def try_make(self) -> None:
        (secret,) = self.secret.texts()
        if not secret:
            self._say("Type the passphrase or a recovery key first.", error=True)
            return
        self._busy(True)
        self._say("Making the recovery key…", error=False)
        self.workers.start(recovery_key_typed, self.repo, secret, on_done=self._answered, on_failed=self._failed)

    def _answered(self, answer: str | Refused) -> None:
        if isinstance(answer, Refused):
            self._failed(answer.message)
            self.secret.clear()
            return
        self.secret.clear()  # the secret is not needed any more: do not leave it in a hidden field
        self._say("", error=False)
        self.recovery_page.show_key(answer)
        self.pages.setCurrentWidget(self.recovery_page)
        self.make_button.hide()
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).hide()
        self.done_button.show()
        self.done_button.setEnabled(False)
