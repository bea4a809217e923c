"""Settings: the backup drive, protected folders, exclusions, schedule, retention and compression.

The dialog only collects choices; `SettingsDialog.result_changes()` says what changed and the app applies it
(folder changes through the engine in a worker, the rest into the app settings). Retention and the
compression level are kept in the app settings until the engine acts on them, and the dialog says so.
"""

from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.types import FolderInfo
from gui import wording
from gui.assets import Assets
from gui.engine_bridge import FolderChange
from gui.prompts import Prompts
from gui.settings import SCHEDULE_CHOICES, AppSettings, Retention

PATH_ROLE = Qt.ItemDataRole.UserRole + 1


def schedule_words(minutes: int) -> str:
    if minutes == 0:
        return "Only when I ask"
    if minutes < 60:
        return f"Every {minutes} minutes"
    if minutes < 1440:
        return "Every hour" if minutes == 60 else f"Every {minutes // 60} hours"
    return "Once a day"


def _note(text: str) -> QLabel:
    label = QLabel(f"<small>{text}</small>")
    label.setWordWrap(True)
    return label


def _spin(low: int, high: int, value: int, suffix: str, special: str = "") -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    spin.setSuffix(suffix)
    if special:
        spin.setSpecialValueText(special)
    return spin


class SettingsDialog(QDialog):
    def __init__(self, settings: AppSettings, folders: tuple[FolderInfo, ...], prompts: Prompts, assets: Assets,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings, self.prompts, self.assets = settings, prompts, assets
        self.original_folders = [f.path for f in folders]
        self.new_repository: str | None = None  # a drive or folder the person chose; the app resolves it
        self.setWindowTitle("Timekeep settings")
        self.setWindowIcon(assets.app_icon())
        grid = QGridLayout()
        grid.addWidget(self._drive_group(), 0, 0)
        grid.addWidget(self._folders_group(folders), 1, 0, 2, 1)
        grid.addWidget(self._schedule_group(), 0, 1)
        grid.addWidget(self._retention_group(), 1, 1)
        grid.addWidget(self._exclusions_group(), 2, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(grid, 1)
        layout.addWidget(buttons)
        self.resize(900, 600)

    # groups
    def _drive_group(self) -> QGroupBox:
        group = QGroupBox("Backup drive")
        self.repository_label = QLabel(self.settings.repository or "None chosen")
        self.repository_label.setWordWrap(True)
        self.repository_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        change = QPushButton(self.assets.icon("drive"), "Change drive…")
        change.clicked.connect(self._change_drive)
        layout = QVBoxLayout(group)
        layout.addWidget(QLabel("Backups are kept in:"))
        layout.addWidget(self.repository_label)
        layout.addWidget(change, 0, Qt.AlignmentFlag.AlignLeft)
        return group

    def _folders_group(self, folders: tuple[FolderInfo, ...]) -> QGroupBox:
        group = QGroupBox("Protected folders")
        self.folders_list = QListWidget()
        self.folders_list.setAccessibleName("Protected folders")
        for folder in folders:
            self._add_item(folder.path)
        add = QPushButton(self.assets.icon("add"), "Add…")
        add.clicked.connect(self._add_folder)
        self.remove_button = QPushButton(self.assets.icon("remove"), "Remove")
        self.remove_button.setToolTip("Stop protecting the folder; its history stays browsable")
        self.remove_button.clicked.connect(self._remove_folder)
        row = QHBoxLayout()
        row.addWidget(add)
        row.addWidget(self.remove_button)
        row.addStretch(1)
        layout = QVBoxLayout(group)
        layout.addWidget(self.folders_list, 1)
        layout.addLayout(row)
        return group

    def _schedule_group(self) -> QGroupBox:
        group = QGroupBox("Schedule")
        self.schedule_box = QComboBox()
        for minutes in SCHEDULE_CHOICES:
            self.schedule_box.addItem(schedule_words(minutes), minutes)
        index = self.schedule_box.findData(self.settings.schedule_minutes)
        self.schedule_box.setCurrentIndex(max(0, index))
        self.notify_box = QCheckBox("Tell me when a backup finishes or needs me")
        self.notify_box.setChecked(self.settings.notifications)
        form = QFormLayout(group)
        form.addRow("Back up:", self.schedule_box)
        form.addRow(self.notify_box)
        form.addRow(_note("Scheduled backups run while Timekeep is open (also from the tray)."))
        return group

    def _retention_group(self) -> QGroupBox:
        group = QGroupBox("History and storage")
        keep = self.settings.retention
        self.keep_all = _spin(1, 24 * 14, keep.keep_all_hours, " hours")
        self.daily = _spin(0, 3650, keep.daily_days, " days")
        self.weekly = _spin(0, 5200, keep.weekly_weeks, " weeks", "for ever")
        self.compression = _spin(1, 19, self.settings.compression_level, "")
        self.compression.setToolTip("zstd level: higher packs smaller but backs up slower")
        form = QFormLayout(group)
        form.addRow("Keep every snapshot for", self.keep_all)
        form.addRow("then one a day for", self.daily)
        form.addRow("then one a week", self.weekly)
        form.addRow("Compression level", self.compression)
        form.addRow(_note("Timekeep keeps every snapshot for now: thinning by these rules takes effect with the "
                          "engine's coalescer, and your choice is kept until then. The compression level applies "
                          "to what is stored from now on."))
        return group

    def _exclusions_group(self) -> QGroupBox:
        group = QGroupBox("Exclusions")
        self.excludes_edit = QPlainTextEdit("\n".join(self.settings.extra_excludes))
        self.excludes_edit.setPlaceholderText("*.iso\nnode_modules\n*.tmp")
        self.excludes_edit.setAccessibleName("Exclusion patterns")
        layout = QVBoxLayout(group)
        layout.addWidget(_note("One pattern per line, skipped in every protected folder, besides the built-in "
                               "ones (caches, trash, temporary files)."))
        layout.addWidget(self.excludes_edit)
        return group

    # folder list
    def _add_item(self, path: bytes) -> None:
        item = QListWidgetItem(self.assets.icon("folder"), wording.display_path(path))
        item.setData(PATH_ROLE, path)
        self.folders_list.addItem(item)

    def _add_folder(self) -> None:
        chosen = self.prompts.choose_folder(self, "Choose a folder to protect", os.path.expanduser("~"))
        if chosen and os.fsencode(chosen) not in self.current_folders():
            self._add_item(os.fsencode(chosen))

    def _remove_folder(self) -> None:
        row = self.folders_list.currentRow()
        if row >= 0:
            self.folders_list.takeItem(row)

    def current_folders(self) -> list[bytes]:
        return [self.folders_list.item(i).data(PATH_ROLE) for i in range(self.folders_list.count())]

    def _change_drive(self) -> None:
        chosen = self.prompts.choose_folder(self, "Choose the backup drive or folder", "/media")
        if chosen:
            self.new_repository = chosen
            self.repository_label.setText(f"{chosen} (applied when you press OK)")

    # the outcome
    def excludes(self) -> tuple[str, ...]:
        return tuple(line.strip() for line in self.excludes_edit.toPlainText().splitlines() if line.strip())

    def folder_change(self) -> FolderChange | None:
        now = self.current_folders()
        add = tuple(p for p in now if p not in self.original_folders)
        remove = tuple(p for p in self.original_folders if p not in now)
        reapply = self.excludes() != self.settings.extra_excludes
        level = self.compression.value()
        compression = level if level != self.settings.compression_level else None
        if not add and not remove and not reapply and compression is None:
            return None
        return FolderChange(add, remove, self.excludes(), reapply, compression)

    def new_settings(self) -> AppSettings:
        return self.settings.with_changes(
            schedule_minutes=int(self.schedule_box.currentData()),
            extra_excludes=self.excludes(),
            retention=Retention(self.keep_all.value(), self.daily.value(), self.weekly.value()),
            compression_level=self.compression.value(),
            notifications=self.notify_box.isChecked(),
        )
