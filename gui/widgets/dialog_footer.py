"""The footer of a dialog that acts on what is selected in it: its action button on the left, Close on the
right (the versions dialog and the deleted-files list share it)."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHBoxLayout, QPushButton


def action_and_close(dialog: QDialog, action: QPushButton) -> QHBoxLayout:
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.reject)
    row = QHBoxLayout()
    row.addWidget(action)
    row.addStretch(1)
    row.addWidget(buttons)
    return row
