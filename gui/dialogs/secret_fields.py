"""The fields where a person types a secret: hidden, with a show toggle, and the keyring choice beside them.

Shared by the welcome flow's passphrase pages and the unlock dialog, so both say the same things the same way.
"""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QLineEdit, QVBoxLayout, QWidget

KEEP_TEXT = "Keep the passphrase in this computer's keyring so backups run without asking"


def hidden_field(placeholder: str, name: str) -> QLineEdit:
    field = QLineEdit()
    field.setEchoMode(QLineEdit.EchoMode.Password)
    field.setPlaceholderText(placeholder)
    field.setAccessibleName(name)
    return field


def keep_box() -> QCheckBox:
    box = QCheckBox(KEEP_TEXT)
    box.setChecked(True)
    return box


class SecretFields(QWidget):
    """One or two hidden fields (the second to type a new passphrase again), a show toggle and the keyring box."""

    def __init__(self, placeholders: tuple[str, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.fields = [hidden_field(text, text) for text in placeholders]
        self.show_box = QCheckBox("Show what I type")
        self.show_box.toggled.connect(self._shown)
        self.keep_box = keep_box()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for field in self.fields:
            layout.addWidget(field)
        layout.addWidget(self.show_box)
        layout.addWidget(self.keep_box)

    def _shown(self, shown: bool) -> None:
        mode = QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password
        for field in self.fields:
            field.setEchoMode(mode)

    def texts(self) -> list[str]:
        return [field.text() for field in self.fields]

    def clear(self) -> None:
        for field in self.fields:
            field.clear()
        self.fields[0].setFocus()
