"""Settings' "Network or cloud storage (S3)…": the S3 form in a small dialog of its own, whose "Use this
storage" waits until Connect got an answer, so Settings only ever hears of a bucket that answered."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from timekeep.gui.widgets.s3_form import Connected, S3Form
from timekeep.gui.workers import WorkerPool

EXPLAINED = ("Keep the backups in a bucket on your network (a NAS, a family server) or in the cloud: any "
             "storage that speaks S3. Connect first; the change applies when you press OK in Settings.")


class BucketDialog(QDialog):
    def __init__(self, workers: WorkerPool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Network or cloud storage (S3)")
        self.found: Connected | None = None
        self.form = S3Form(workers)
        self.form.connected.connect(self._connected)
        self.form.edited.connect(self._edited)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.use_button = self.buttons.addButton("Use this storage", QDialogButtonBox.ButtonRole.AcceptRole)
        self.use_button.setEnabled(False)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        text = QLabel(EXPLAINED)
        text.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(self.form, 1)
        layout.addWidget(self.buttons)
        self.resize(640, 400)

    def _connected(self, found: Connected) -> None:
        self.found = found
        self.use_button.setEnabled(True)
        self.use_button.setDefault(True)

    def _edited(self) -> None:
        self.found = None
        self.use_button.setEnabled(False)
