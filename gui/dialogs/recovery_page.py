"""The welcome flow's recovery key page: the key shown once, to save as a file, print or copy.

Next waits until the person has kept it somewhere (saved, printed, or ticked that they did): without the
passphrase, the recovery key is the only way back into the backups.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication, QTextDocument
from PySide6.QtPrintSupport import QPrinter
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from timekeep.gui.key_jobs import save_recovery_key
from timekeep.gui.prompts import Prompts
from timekeep.gui.workers import WorkerPool

EXPLAINED = ("This recovery key opens your backups if the passphrase is ever forgotten. Keep it somewhere "
             "safe and apart from the backup drive — on paper, or in a password manager. It is shown only now.")
FILE_NAME = "Timekeep recovery key.txt"


class RecoveryKeyPage(QWidget):
    kept_changed = Signal(bool)  # whether the person has kept the key: Next follows it

    def __init__(self, workers: WorkerPool, prompts: Prompts, home: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workers, self.prompts, self.home = workers, prompts, home
        self.recovery_key = ""
        heading = QLabel("<h2>Your recovery key</h2>")
        body = QLabel(EXPLAINED)
        body.setWordWrap(True)
        self.key_label = QLabel()
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setPointSizeF(font.pointSizeF() * 1.5)
        self.key_label.setFont(font)
        self.key_label.setTextFormat(Qt.TextFormat.PlainText)
        self.key_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.key_label.setAccessibleName("Recovery key")
        self.key_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.kept_box = QCheckBox("I have kept the recovery key somewhere safe")
        self.kept_box.toggled.connect(self.kept_changed)
        layout = QVBoxLayout(self)
        for widget in (heading, body, self.key_label):
            layout.addWidget(widget)
        layout.addLayout(self._buttons())
        layout.addWidget(self.status)
        layout.addStretch(1)
        layout.addWidget(self.kept_box)

    def _buttons(self) -> QHBoxLayout:
        self.save_button = QPushButton("Save as file…")
        self.print_button = QPushButton("Print…")
        self.copy_button = QPushButton("Copy")
        self.save_button.clicked.connect(self.save)
        self.print_button.clicked.connect(self.print_key)
        self.copy_button.clicked.connect(self.copy)
        row = QHBoxLayout()
        for button in (self.save_button, self.print_button, self.copy_button):
            row.addWidget(button)
        row.addStretch(1)
        return row

    def show_key(self, recovery_key: str) -> None:
        self.recovery_key = recovery_key
        groups = recovery_key.split("-")
        lines = ["-".join(groups[i:i + 3]) for i in range(0, len(groups), 3)]
        self.key_label.setText("\n".join(lines))
        self.kept_box.setChecked(False)
        self.status.clear()

    @property
    def kept(self) -> bool:
        return self.kept_box.isChecked()

    def save(self) -> None:
        chosen = self.prompts.choose_save_file(self, "Save the recovery key", str(self.home / FILE_NAME))
        if chosen:
            self.workers.start(Path(chosen).exists, on_done=lambda exists: self._save_to(Path(chosen), exists),
                               on_failed=self.status.setText)

    def _save_to(self, target: Path, exists: bool) -> None:
        if exists and not self.prompts.confirm(self, "Replace the file?",
                                               f"{target} already exists. Replace it with the recovery key?"):
            return
        self.workers.start(save_recovery_key, target, self.recovery_key, exists,
                           on_done=self._saved, on_failed=self.status.setText)

    def _saved(self, target: Path) -> None:
        self.status.setText(f"Saved in {target}, readable by you alone. Keep a copy off this computer too.")
        self.kept_box.setChecked(True)

    def print_key(self) -> None:
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        if not self.prompts.set_up_printer(self, printer):
            return
        document = QTextDocument()
        document.setHtml(f"<h1>Timekeep recovery key</h1><p>{html.escape(EXPLAINED)}</p>"
                         f"<pre style='font-size: 16pt'>{html.escape(self.key_label.text())}</pre>")
        document.print_(printer)
        self.status.setText("Sent to the printer.")
        self.kept_box.setChecked(True)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.recovery_key)
        self.status.setText("Copied. Paste it into a password manager, then clear the clipboard.")
