"""The welcome flow's passphrase pages: a new drive's passphrase (typed twice), or an encrypted drive's own.

Encryption is the default; "Do not encrypt this drive" is there, quieter, for those who want today's format.
"""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QLabel, QVBoxLayout, QWidget

from timekeep.core.api import check_passphrase
from timekeep.core.errors import UsageError
from timekeep.gui.dialogs.secret_fields import SecretFields
from timekeep.gui.dialogs.unlock import PLACEHOLDER, unlock_text
from timekeep.gui.location import Location

EXPLAINED = ("Timekeep encrypts the backups, so that nobody can read them if the drive is lost or stolen. "
             "Choose a passphrase. Without it — or the recovery key shown next — the backups cannot be "
             "opened by anyone, Timekeep included.")


def _heading(title: str, text: str, layout: QVBoxLayout) -> None:
    body = QLabel(text)
    body.setWordWrap(True)
    layout.addWidget(QLabel(f"<h2>{title}</h2>"))
    layout.addWidget(body)


class NewPassphrasePage(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        _heading("Protect the backups with a passphrase", EXPLAINED, layout)
        self.secret = SecretFields(("Passphrase", "The same passphrase again"))
        self.plain_box = QCheckBox("Do not encrypt this drive")
        self.plain_box.setToolTip("Anyone holding the drive could then read every version of your files.")
        self.plain_box.toggled.connect(lambda plain: self.secret.setEnabled(not plain))
        layout.addWidget(self.secret)
        layout.addStretch(1)
        layout.addWidget(self.plain_box)

    @property
    def encrypt(self) -> bool:
        return not self.plain_box.isChecked()

    @property
    def keep(self) -> bool:
        return self.secret.keep_box.isChecked()

    def refusal(self) -> str | None:
        """Why the passphrase typed cannot be used, in words; None when it can (or nothing is encrypted)."""
        if not self.encrypt:
            return None
        first, again = self.secret.texts()
        try:
            check_passphrase(first)
        except UsageError as refused:
            return str(refused)
        return None if first == again else "The two passphrases differ: type the same one twice."

    def passphrase(self) -> str:
        return self.secret.texts()[0]


class OpenPassphrasePage(QWidget):
    """An encrypted drive the keyring does not open: its passphrase or recovery key."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        self.text = QLabel()
        self.text.setWordWrap(True)
        layout.addWidget(QLabel("<h2>These backups are encrypted</h2>"))
        layout.addWidget(self.text)
        self.secret = SecretFields((PLACEHOLDER,))
        layout.addWidget(self.secret)
        layout.addStretch(1)

    def ask_for(self, repo: Location) -> None:
        self.text.setText(unlock_text(repo))
        self.secret.clear()
