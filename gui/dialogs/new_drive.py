"""Settings' "Change drive…" onto a drive that holds no backups yet: the welcome flow's key steps on their own.

A new drive is encrypted by default here too (a passphrase, then the recovery key to keep), never made
unencrypted behind the person's back; "Do not encrypt this drive" stays their choice. The work runs in
workers through `KeySteps`; this dialog only shows its pages and says what it says.
"""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QStackedWidget, QVBoxLayout, QWidget

from timekeep.gui import palette
from timekeep.gui.dialogs.welcome_keys import KeySteps
from timekeep.gui.location import Location


class NewDriveDialog(QDialog):
    def __init__(self, steps: KeySteps, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.steps = steps
        self.repo: Location | None = None  # the repository made, once it is
        self.setWindowTitle("New backup drive")
        self.pages = QStackedWidget()
        for page in steps.pages():
            self.pages.addWidget(page)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.next_button = self.buttons.addButton("Next", QDialogButtonBox.ButtonRole.ActionRole)
        self.next_button.clicked.connect(lambda: steps.next(self.pages.currentWidget()))
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for widget in (self.pages, self.message, self.buttons):
            layout.addWidget(widget)
        steps.page_wanted.connect(self._show_page)
        steps.said.connect(lambda text: self._say(text, error=False))
        steps.failed.connect(lambda text: self._say(text, error=True))
        steps.ready.connect(self._ready)
        steps.recovery_page.kept_changed.connect(
            lambda kept: self.next_button.setEnabled(kept or self.pages.currentWidget() is not steps.recovery_page))

    def _show_page(self, page: QWidget) -> None:
        self.pages.setCurrentWidget(page)
        self.next_button.setEnabled(page is not self.steps.recovery_page or self.steps.recovery_page.kept)
        self._say("", error=False)
        if not self.isVisible():
            self.open()

    def _say(self, text: str, error: bool) -> None:
        self.message.setStyleSheet(palette.message_style(self.palette(), error))
        self.message.setText(text)

    def _ready(self, repo: Location) -> None:
        self.repo = repo
        self.accept()
