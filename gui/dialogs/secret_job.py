"""What the key dialogs share: a typed secret sent to a worker, the dialog busy while it works, and its
refusal said in place."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QLabel, QProgressBar, QPushButton

from timekeep.gui import palette
from timekeep.gui.dialogs.secret_fields import SecretFields


class SecretJobDialog(QDialog):
    """Subclasses set `secret`, `busy`, `message` and `action` (the button that starts the job)."""

    secret: SecretFields
    busy: QProgressBar
    message: QLabel
    action: QPushButton

    def _failed(self, message: str) -> None:
        self._busy(False)
        self._say(message, error=True)

    def _busy(self, busy: bool) -> None:
        self.busy.setVisible(busy)
        self.secret.setEnabled(not busy)
        self.action.setEnabled(not busy)

    def _say(self, text: str, error: bool) -> None:
        self.message.setStyleSheet(palette.message_style(self.palette(), error))
        self.message.setText(text)
