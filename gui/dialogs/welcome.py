"""The first run: choose the drive (or a bucket: network or cloud storage), protect it with a passphrase,
choose the folders, take the first backup.

New backups are encrypted unless the person chooses otherwise (`timekeep.gui.dialogs.welcome_keys`).
Opening a drive that already holds this computer's backups just works: the flow ends at once. The first
backup can be cancelled at any moment without harm (what was stored stays stored, nothing is half-written).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from timekeep.core.api import Argon2Params, Timekeep
from timekeep.core.types import Progress, SnapshotInfo
from timekeep.gui import palette, wording
from timekeep.gui.assets import Assets
from timekeep.gui.dialogs.welcome_keys import KeySteps
from timekeep.gui.engine_jobs import (
    FolderChange,
    WriterDone,
    apply_folder_change,
    open_or_create,
    open_reader,
    run_backup,
)
from timekeep.gui.location import Location
from timekeep.gui.prompts import Prompts
from timekeep.gui.volumes import Suggestion, Volume, backups_folder, list_volumes, suggested_folders
from timekeep.gui.widgets.s3_form import Connected
from timekeep.gui.widgets.where_choice import WhereChoice
from timekeep.gui.workers import WorkerPool

DATA_ROLE = Qt.ItemDataRole.UserRole + 1


def already_set_up(path: Location) -> bool:
    """Whether the repository already protects folders and holds snapshots: then there is nothing to set up.
    One whose index is missing or damaged holds backups too; the main window offers to rebuild its index."""
    opened = open_reader(path)
    if not isinstance(opened, Timekeep):
        return True  # the main window offers to rebuild the index, or to unlock
    with opened as tk:
        return bool(tk.folders()) and bool(tk.snapshots())


def volume_text(volume: Volume) -> str:
    """Two lines for a drive in the list: its name and mount point; its free space and what kind it is."""
    kind = ("removable drive" if volume.removable else
            "this computer's own disk: not safe if that disk fails" if volume.is_system else "disk")
    title = volume.root if volume.name in ("", volume.root) else f"{volume.name} — {volume.root}"
    return f"{title}\n{wording.size(volume.free)} free of {wording.size(volume.total)} · {kind}"


def _page(title: str, text: str) -> tuple[QWidget, QVBoxLayout]:
    page = QWidget()
    layout = QVBoxLayout(page)
    heading = QLabel(f"<h2>{title}</h2>")
    body = QLabel(text)
    body.setWordWrap(True)
    layout.addWidget(heading)
    layout.addWidget(body)
    return page, layout


class WelcomeDialog(QDialog):
    setup_finished = Signal(str)  # the repository path, ready to browse

    def __init__(self, workers: WorkerPool, prompts: Prompts, assets: Assets, home: Path | None = None,
                 volumes: Callable[[], list[Volume]] = list_volumes, parent: QWidget | None = None,
                 argon2: Argon2Params | None = None) -> None:
        super().__init__(parent)
        self.workers, self.prompts, self.assets = workers, prompts, assets
        self.home = home or Path.home()
        self.repo: Location | None = None
        self.cancel_event: threading.Event | None = None
        self.outcome = ""  # "", "done", "cancelled", "failed": how the first backup ended
        self.setWindowTitle("Welcome to Timekeep")
        self.setWindowIcon(assets.app_icon())
        self.resize(640, 480)
        self.pages = QStackedWidget()
        self.pages.addWidget(self._drive_page())
        self.pages.addWidget(self._folders_page())
        self.pages.addWidget(self._backup_page())
        self.keys = KeySteps(workers, prompts, self.home, argon2, self)
        for page in self.keys.pages():
            self.pages.addWidget(page)
        self.message = QLabel()
        self.message.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.message)
        layout.addLayout(self._buttons())
        self._connect_keys()
        self._show_page(0)
        workers.start(volumes, on_done=self._volumes_listed, on_failed=self._say)

    def _connect_keys(self) -> None:
        self.keys.page_wanted.connect(lambda page: self._show_page(self.pages.indexOf(page)))
        self.keys.ready.connect(self._open_repository)
        self.keys.said.connect(self._tell)
        self.keys.failed.connect(self._say)
        self.keys.recovery_page.kept_changed.connect(
            lambda kept: self.next_button.setEnabled(kept and self.pages.currentWidget() is self.keys.recovery_page))

    def _buttons(self) -> QHBoxLayout:
        self.back_button = QPushButton("Back")
        self.next_button = QPushButton("Next")
        self.next_button.setDefault(True)
        self.back_button.clicked.connect(self._back)
        self.next_button.clicked.connect(self._next)
        row = QHBoxLayout()
        row.addWidget(self.back_button)
        row.addStretch(1)
        row.addWidget(self.next_button)
        return row

    # page 1: the drive, or a bucket
    def _drive_page(self) -> QWidget:
        page, layout = _page("Where should Timekeep keep your backups?",
                             "Choose a drive — ideally an external one — or any folder, or storage on your "
                             "network or in the cloud. Timekeep keeps every version of your files there.")
        where = self.where = WhereChoice(self.workers)
        self.drive_choice, self.s3_choice, self.s3_form = where.drive_choice, where.s3_choice, where.s3_form
        self.drive_list, self.folder_button, self.where_pages = where.drive_list, where.folder_button, where.pages
        where.kind_changed.connect(self._kind_chosen)
        self.drive_list.itemSelectionChanged.connect(self._drive_chosen)  # a selection, never mere focus
        self.folder_button.clicked.connect(self._choose_other_folder)
        self.s3_form.connected.connect(self._bucket_connected)
        self.s3_form.edited.connect(self._forget_target)
        self.target_label = QLabel("")
        self.target_label.setWordWrap(True)
        layout.addWidget(where, 1)
        layout.addWidget(self.target_label)
        return page

    def _kind_chosen(self, bucket: bool) -> None:
        """A drive or a bucket: what was chosen for the other kind no longer counts."""
        self._forget_target()
        if not bucket and self.drive_list.selectedItems():
            self._drive_chosen()

    def _forget_target(self) -> None:
        self.repo = None
        self.target_label.clear()
        self.next_button.setEnabled(False)

    def _bucket_connected(self, found: Connected) -> None:
        self.repo = found.location
        self.target_label.setText(f"Timekeep found backups in <b>{found.location}</b>: they will open"
                                  if found.state == "repository" else
                                  f"Backups will be kept in <b>{found.location}</b> on {found.host}")
        self.next_button.setEnabled(self.pages.currentIndex() == 0)

    def _volumes_listed(self, volumes: list[Volume]) -> None:
        for volume in volumes:
            item = QListWidgetItem(self.assets.icon("drive"), volume_text(volume))
            item.setData(DATA_ROLE, volume.root)
            self.drive_list.addItem(item)

    def _drive_chosen(self) -> None:
        selected = self.drive_list.selectedItems()
        if selected:
            self.choose_drive(selected[0].data(DATA_ROLE))

    def _choose_other_folder(self) -> None:
        chosen = self.prompts.choose_folder(self, "Choose a drive or folder for the backups", str(self.home))
        if chosen:
            self.drive_list.clearSelection()
            self.choose_drive(chosen)

    def choose_drive(self, drive: str) -> None:
        """Look (in a worker) whether backups are already there; Next waits for the answer."""
        self.repo = None
        self.next_button.setEnabled(False)
        self.target_label.setText("Looking at the drive…")
        self.workers.start(backups_folder, drive, on_done=self._target_known, on_failed=self._say)

    def _target_known(self, found: tuple[Path, bool]) -> None:
        if self.s3_choice.isChecked():
            return  # a bucket was chosen meanwhile
        self.repo, exists = found
        where = wording.display_path(os.fsencode(self.repo))
        self.target_label.setText(f"Timekeep found backups in <b>{where}</b>: they will open" if exists
                                  else f"Backups will be kept in <b>{where}</b>")
        self.next_button.setEnabled(self.pages.currentIndex() == 0)

    # page 2: the folders
    def _folders_page(self) -> QWidget:
        page, layout = _page("Which folders should Timekeep protect?",
                             "Tick the folders to keep a history of. You can change this later in Settings.")
        self.folder_list = QListWidget()
        self.folder_list.setAccessibleName("Folders to protect")
        add_button = QPushButton("Add a folder…")
        add_button.clicked.connect(self._add_folder)
        layout.addWidget(self.folder_list, 1)
        layout.addWidget(add_button, 0, Qt.AlignmentFlag.AlignLeft)
        return page

    def _suggestions_listed(self, suggestions: list[Suggestion]) -> None:
        self.folder_list.clear()
        for suggestion in suggestions:
            self._add_folder_item(suggestion.path, suggestion.checked)

    def _add_folder_item(self, path: str, checked: bool) -> None:
        item = QListWidgetItem(self.assets.icon("folder"), path)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        self.folder_list.addItem(item)

    def _add_folder(self) -> None:
        chosen = self.prompts.choose_folder(self, "Choose a folder to protect", str(self.home))
        if chosen:
            self._add_folder_item(chosen, True)

    def chosen_folders(self) -> list[str]:
        items = (self.folder_list.item(i) for i in range(self.folder_list.count()))
        return [item.text() for item in items if item.checkState() == Qt.CheckState.Checked]

    # page 3: the first backup
    def _backup_page(self) -> QWidget:
        page, layout = _page("Taking the first backup",
                             "The first backup stores every file whole; later ones store only what changed. "
                             "You can cancel at any moment: nothing is lost, and the next backup carries on.")
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setAccessibleName("First backup progress")
        self.progress_label = QLabel("Looking at your files…")
        self.progress_label.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel backup")
        self.cancel_button.clicked.connect(self.cancel_backup)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.cancel_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addStretch(1)
        return page

    def _start_backup(self) -> None:
        assert self.repo is not None
        self.cancel_event = threading.Event()
        self.outcome = ""
        self.cancel_button.setEnabled(True)
        self.next_button.setEnabled(False)
        self.back_button.setEnabled(False)
        self.workers.start_reporting(run_backup, self.repo, "first", self.cancel_event,
                                     on_progress=self._backup_progressed, on_done=self._backup_done,
                                     on_failed=self._backup_failed)

    def _backup_progressed(self, progress: Progress) -> None:
        self.progress_bar.setValue(int(wording.progress_fraction(progress) * 1000))
        line = wording.progress_line(progress)
        self.progress_label.setText(f"Rebuilding the index from the drive first: {line}"
                                    if progress.phase == "rebuild" else line)

    def cancel_backup(self) -> None:
        if self.cancel_event is not None:
            self.cancel_event.set()
            self.progress_label.setText("Stopping…")
            self.cancel_button.setEnabled(False)

    def _backup_done(self, done: WriterDone[SnapshotInfo]) -> None:
        snapshot = done.value
        self.outcome = "done"
        self.progress_bar.setValue(1000)
        notes = "".join(f" {wording.sentence(note)}" for note in done.notes)
        files = "1 file" if snapshot.files_scanned == 1 else f"{snapshot.files_scanned:,} files"
        self.progress_label.setText(
            f"Your first backup is done: {files}, {wording.size(snapshot.bytes_read)} "
            f"read in {wording.duration(snapshot.duration_s)}. Timekeep now keeps their history.{notes}")
        self._backup_ended()

    def _backup_failed(self, message: str) -> None:
        cancelled = self.cancel_event is not None and self.cancel_event.is_set()
        self.outcome = "cancelled" if cancelled else "failed"
        self.progress_label.setText(
            "The backup was cancelled. Nothing was lost: whatever was stored is kept, and the next backup "
            "carries on from there." if cancelled else f"The backup stopped: {message}")
        self._backup_ended()

    def _backup_ended(self) -> None:
        self.cancel_event = None
        self.cancel_button.setEnabled(False)
        self.next_button.setText("Finish")
        self.next_button.setEnabled(True)

    # navigation
    def _show_page(self, number: int) -> None:
        self.pages.setCurrentIndex(number)
        self.back_button.setVisible(number == 1 or self.pages.widget(number) in (self.keys.new_page,
                                                                                 self.keys.open_page))
        self.next_button.setText("Start backup" if number == 1 else "Next")
        self.next_button.setEnabled((number != 0 or self.repo is not None)
                                    and (self.pages.widget(number) is not self.keys.recovery_page
                                         or self.keys.recovery_page.kept))
        self.message.clear()

    def _back(self) -> None:
        self._show_page(0)

    def _next(self) -> None:
        page = self.pages.currentIndex()
        self.next_button.setEnabled(False)
        self.message.clear()
        if page == 0 and self.repo is not None:
            self.keys.begin(self.repo)
        elif page > 2:
            self.keys.next(self.pages.currentWidget())
        elif page == 1:
            self._protect_chosen()
        elif page == 2:
            self.finish()

    def _open_repository(self, repo: Location) -> None:
        self.workers.start(open_or_create, repo, on_done=self._repository_ready, on_failed=self._say)

    def _repository_ready(self, repo: Location) -> None:
        self.workers.start(already_set_up, repo, on_done=self._state_known, on_failed=self._say)

    def _state_known(self, set_up: bool) -> None:
        if set_up:
            self.finish()  # this computer's backups are already there: nothing to set up
            return
        self.workers.start(suggested_folders, self.home, on_done=self._suggestions_listed, on_failed=self._say)
        self._show_page(1)

    def _protect_chosen(self) -> None:
        chosen = self.chosen_folders()
        if not chosen:
            self._say("Tick at least one folder to protect.")
            return
        assert self.repo is not None
        change = FolderChange(add=tuple(os.fsencode(p) for p in chosen))
        self.workers.start_reporting(apply_folder_change, self.repo, change, on_progress=self._change_progressed,
                                     on_done=lambda _f: self._to_backup(), on_failed=self._say)

    def _change_progressed(self, progress: Progress) -> None:
        if progress.phase == "rebuild":
            self._tell(f"Rebuilding the index from the drive first: {wording.progress_line(progress)}")

    def _to_backup(self) -> None:
        self._show_page(2)
        self._start_backup()

    def _say(self, message: str) -> None:
        """Something went wrong: said in the error colour, and Next offered again."""
        self.message.setStyleSheet(palette.message_style(self.palette(), error=True))
        self.message.setText(message)
        self.next_button.setEnabled(True)

    def _tell(self, message: str) -> None:
        """What is going on, in plain text."""
        self.message.setStyleSheet(palette.message_style(self.palette(), error=False))
        self.message.setText(message)

    def finish(self) -> None:
        assert self.repo is not None
        self.setup_finished.emit(str(self.repo))
        self.accept()

    def reject(self) -> None:
        """Closing the window during the first backup cancels it (cleanly) before leaving."""
        self.cancel_backup()
        super().reject()
