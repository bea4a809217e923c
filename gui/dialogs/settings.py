"""Settings: the backup drive (and an encrypted one's key), protected folders, exclusions, schedule (and the
agent's guard against mass damage), retention and compression.

The dialog only collects choices; `folder_change()` and `new_settings()` say what changed and the app applies
it (folders, exclusions, retention and compression through the engine in a worker, the rest into the app
settings). "Thin history now" is the one command it offers: it asks (`thin_requested`) and the app runs the
engine's coalescer in a worker, feeding back progress and the outcome.
"""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
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
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from timekeep.core.api import is_remote
from timekeep.core.types import CoalesceReport, FolderInfo, Progress, Retention
from timekeep.gui import wording
from timekeep.gui.assets import Assets
from timekeep.gui.dialogs.bucket import BucketDialog
from timekeep.gui.engine_jobs import FolderChange
from timekeep.gui.prompts import Prompts
from timekeep.gui.settings import SCHEDULE_CHOICES, AppSettings
from timekeep.gui.widgets.s3_form import Connected
from timekeep.gui.workers import WorkerPool

PATH_ROLE = Qt.ItemDataRole.UserRole + 1


def schedule_words(minutes: int) -> str:
    if minutes < 60:
        return f"Every {minutes} minutes"
    if minutes < 1440:
        return "Every hour" if minutes == 60 else f"Every {minutes // 60} hours"
    return "Once a day"


def encryption_words(encrypted: bool | None, remote: bool = False) -> str:
    """One line on what the drive (or the bucket) reveals to whoever holds it."""
    medium, holding = ("bucket", "who can read the bucket") if remote else ("drive", "holding the drive")
    if encrypted is None:
        return f"Encryption: not known until the {medium} is {'reached' if remote else 'connected'} and unlocked."
    if encrypted:
        return f"Encrypted: without the passphrase or the recovery key, the {medium} reveals no file and no name."
    return f"Not encrypted: anyone {holding} can read the backups."


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
    thin_requested = Signal(object)  # the Retention shown: apply it and thin the history now

    def __init__(self, settings: AppSettings, folders: tuple[FolderInfo, ...], prompts: Prompts, assets: Assets,
                 parent: QWidget | None = None, agent_serving: bool = False, encrypted: bool | None = None,
                 key_buttons: QWidget | None = None, workers: WorkerPool | None = None) -> None:
        super().__init__(parent)
        self.settings, self.prompts, self.assets = settings, prompts, assets
        self.agent_serving = agent_serving  # the background agent backs this drive up by its own schedule
        self.encrypted = encrypted  # None: not known (the drive is away or locked)
        self.key_buttons = key_buttons  # an encrypted drive's "Change passphrase…" and "Add recovery key…"
        self.original_folders = [f.path for f in folders]
        self.new_repository: str | None = None  # a drive or folder the person chose; the app resolves it
        self.new_bucket: Connected | None = None  # or a bucket that answered "Connect"
        self.workers = workers  # None: no bucket is offered
        self.bucket_dialog: BucketDialog | None = None
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
        grid.setRowStretch(2, 1)  # the lists take what is left; the forms above keep their height
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(grid, 1)
        layout.addWidget(buttons)
        self.resize(900, 700 if key_buttons is not None else 660)

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
        remote = is_remote(self.settings.repository or "")
        self.encryption_label = _note(encryption_words(self.encrypted, remote))
        layout.addWidget(self.encryption_label)
        if self.key_buttons is not None:
            layout.addWidget(self.key_buttons)
        row = QHBoxLayout()
        row.addWidget(change)
        if self.workers is not None:
            self.s3_button = QPushButton(self.assets.icon("drive"), "Network or cloud storage (S3)…")
            self.s3_button.clicked.connect(self.choose_bucket)
            row.addWidget(self.s3_button)
        row.addStretch(1)
        layout.addLayout(row)
        return group

    def choose_bucket(self) -> BucketDialog:
        """The S3 form in a dialog of its own; a bucket that answered is applied with OK, as a drive is."""
        assert self.workers is not None
        dialog = self.bucket_dialog = BucketDialog(self.workers, self)
        dialog.accepted.connect(lambda: self._bucket_chosen(dialog.found))
        dialog.open()
        return dialog

    def _bucket_chosen(self, found: Connected | None) -> None:
        if found is not None:
            self.new_repository, self.new_bucket = None, found
            self.repository_label.setText(f"{found.location} (applied when you press OK)")

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
        index = self.schedule_box.findData(self.settings.interval_minutes)
        self.schedule_box.setCurrentIndex(index if index >= 0 else SCHEDULE_CHOICES.index(60))
        self.clock_edit = QLineEdit(", ".join(self.settings.clock_times))
        self.clock_edit.setPlaceholderText("e.g. 12:30, 18:00")
        self.clock_edit.setToolTip("Times of day for a backup besides the regular ones (24-hour clock)")
        self.notify_box = QCheckBox("Tell me when a backup finishes or needs me")
        self.notify_box.setChecked(self.settings.notifications)
        form = QFormLayout()
        form.addRow("Back up:", self.schedule_box)
        form.addRow("Also at:", self.clock_edit)
        form.addRow(self.notify_box)
        self.guard_box = QCheckBox("Watch for mass damage (ransomware)")
        self.guard_box.setChecked(self.settings.guard)
        self.guard_box.setToolTip("The background agent watches the protected folders for many files suddenly "
                                  "encrypted, renamed or deleted")
        state = "is running" if self.agent_serving else "is not running for this drive now"
        layout = QVBoxLayout(group)  # a wrapped note spanning a form's row is given too little height
        layout.addLayout(form)
        layout.addWidget(_note(f"The background agent keeps this schedule, also when this window is closed; it "
                               f"{state}."))
        layout.addWidget(self.guard_box)
        layout.addWidget(_note("If many files suddenly look encrypted, the agent keeps the history from before "
                               "and stops thinning it until you say all is clear."))
        return group

    def clock_times(self) -> tuple[str, ...]:
        """The times typed, as the agent reads them ("7:30" → "07:30"); a time that is not one is left out."""
        found = []
        for text in self.clock_edit.text().replace(";", ",").split(","):
            hours, _, minutes = text.strip().partition(":")
            if hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60:
                found.append(f"{int(hours):02d}:{int(minutes):02d}")
        return tuple(found)

    def _retention_group(self) -> QGroupBox:
        group = QGroupBox("History and storage")
        keep = self.settings.retention
        self.keep_all = _spin(1, 24 * 14, keep.keep_all_hours, " hours")
        self.daily = _spin(0, 3650, keep.daily_days, " days")
        self.weekly = _spin(0, 5200, keep.weekly_weeks, " weeks", "for ever")
        self.compression = _spin(1, 19, self.settings.compression_level, "")
        self.compression.setToolTip("Higher levels make backups smaller on the drive but slower to take: 1 is the "
                                    "fastest, 19 the smallest; 3 is a good balance")
        form = QFormLayout()
        form.addRow("Keep every snapshot for", self.keep_all)
        form.addRow("then one a day for", self.daily)
        form.addRow("then one a week", self.weekly)
        form.addRow("Compression (1 fast – 19 small)", self.compression)
        layout = QVBoxLayout(group)  # a wrapped note spanning a form's row is given too little height
        layout.addLayout(form)
        layout.addWidget(_note("Older snapshots are thinned out by these rules; the newest, and any holding the "
                               "only copy of a file, are always kept. A higher compression level takes less space "
                               "on the drive and more time to back up; it applies to what is stored from now on."))
        layout.addWidget(self._thin_row())
        return group

    def _thin_row(self) -> QWidget:
        self.thin_button = QPushButton("Thin history now")
        self.thin_button.setToolTip("Apply the rules above and thin the history now, freeing space on the drive")
        self.thin_button.clicked.connect(lambda: self.thin_requested.emit(self.retention()))
        self.thin_bar = QProgressBar()
        self.thin_bar.setAccessibleName("Thinning progress")
        self.thin_bar.hide()
        self.thin_result = QLabel()
        self.thin_result.setWordWrap(True)
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.thin_button)
        layout.addWidget(self.thin_bar, 1)
        layout.addWidget(self.thin_result, 1)
        return row

    # thinning, run by the app
    def thinning_started(self) -> None:
        self.thin_button.setEnabled(False)
        self.thin_bar.setRange(0, 0)  # busy until the first report says how much there is
        self.thin_bar.show()
        self.thin_result.setText("Thinning…")

    def thinning_progressed(self, progress: Progress) -> None:
        if progress.files_total or progress.bytes_total:
            self.thin_bar.setRange(0, 1000)
            self.thin_bar.setValue(int(wording.progress_fraction(progress) * 1000))
        rebuilding = progress.phase == "rebuild"  # the drive said the index must be rebuilt before thinning
        self.thin_result.setText(f"Rebuilding the index from the drive first: {wording.progress_line(progress)}"
                                 if rebuilding else "Thinning…")

    def thinning_finished(self, report: CoalesceReport) -> None:
        self._thinning_ended(wording.thinned(report))

    def thinning_failed(self, message: str) -> None:
        self._thinning_ended(f"Could not thin the history: {message}")

    def _thinning_ended(self, text: str) -> None:
        self.thin_button.setEnabled(True)
        self.thin_bar.hide()
        self.thin_result.setText(text)

    def _exclusions_group(self) -> QGroupBox:
        group = QGroupBox("Exclusions")
        self.excludes_edit = QPlainTextEdit("\n".join(self.settings.extra_excludes))
        self.excludes_edit.setPlaceholderText("No patterns of your own yet. For example:  *.iso  or  node_modules")
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
            self.new_repository, self.new_bucket = chosen, None
            self.repository_label.setText(f"{chosen} (applied when you press OK)")

    # the outcome
    def retention(self) -> Retention:
        return Retention(self.keep_all.value(), self.daily.value(), self.weekly.value())

    def excludes(self) -> tuple[str, ...]:
        return tuple(line.strip() for line in self.excludes_edit.toPlainText().splitlines() if line.strip())

    def folder_change(self) -> FolderChange | None:
        now = self.current_folders()
        add = tuple(p for p in now if p not in self.original_folders)
        remove = tuple(p for p in self.original_folders if p not in now)
        reapply = self.excludes() != self.settings.extra_excludes
        level = self.compression.value()
        compression = level if level != self.settings.compression_level else None
        retention = self.retention() if self.retention() != self.settings.retention else None
        if not add and not remove and not reapply and compression is None and retention is None:
            return None
        return FolderChange(add, remove, self.excludes(), reapply, compression, retention)

    def new_settings(self) -> AppSettings:
        return self.settings.with_changes(
            interval_minutes=int(self.schedule_box.currentData()),
            clock_times=self.clock_times(),
            extra_excludes=self.excludes(),
            retention=self.retention(),
            compression_level=self.compression.value(),
            notifications=self.notify_box.isChecked(),
            guard=self.guard_box.isChecked(),
        )
