"""The welcome flow's choice of where the backups go: "A drive" (the mounted volumes, or another folder) or
"Network or cloud storage (S3)" (the S3 form), one shown at a time. It only lays them out; the dialog acts
on what is chosen."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QListWidget, QPushButton, QRadioButton, QStackedWidget, QVBoxLayout, QWidget

from timekeep.gui.widgets.s3_form import S3Form
from timekeep.gui.workers import WorkerPool


class WhereChoice(QWidget):
    kind_changed = Signal(bool)  # True: a bucket, False: a drive

    def __init__(self, workers: WorkerPool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.drive_choice = QRadioButton("A drive")
        self.s3_choice = QRadioButton("Network or cloud storage (S3)")
        self.drive_choice.setChecked(True)
        self.s3_choice.toggled.connect(self._toggled)
        self.drive_list = QListWidget()
        self.drive_list.setAccessibleName("Drives")
        self.folder_button = QPushButton("Use another folder…")
        self.s3_form = S3Form(workers)
        self.pages = QStackedWidget()
        self.pages.addWidget(self._drives_part())
        self.pages.addWidget(self.s3_form)
        kinds = QHBoxLayout()
        kinds.addWidget(self.drive_choice)
        kinds.addWidget(self.s3_choice)
        kinds.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(kinds)
        layout.addWidget(self.pages, 1)

    def _drives_part(self) -> QWidget:
        part = QWidget()
        layout = QVBoxLayout(part)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.drive_list, 1)
        layout.addWidget(self.folder_button, 0, Qt.AlignmentFlag.AlignLeft)
        return part

    def _toggled(self, bucket: bool) -> None:
        self.pages.setCurrentIndex(1 if bucket else 0)
        if bucket:
            self.s3_form.location_edit.setFocus()
        self.kind_changed.emit(bucket)
