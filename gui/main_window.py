"""The main window: protected folders on the left, the folder as it was at T in the middle, the preview on the
right, the timeline along the bottom, backup status in the status bar.

It lays widgets out and routes the bridge's signals to them; browsing logic lives in `Browser`, the
right-click commands in `FileActions`.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QByteArray, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QPushButton,
    QSplitter,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from timekeep.core.agent.messages import DestinationStatus
from timekeep.core.api import Timekeep, is_remote
from timekeep.core.types import FolderInfo, SnapshotInfo
from timekeep.gui import wording
from timekeep.gui.assets import Assets
from timekeep.gui.backup_command import BackupCommand
from timekeep.gui.browse import HistoryMount
from timekeep.gui.browser import Browser
from timekeep.gui.engine_bridge import EngineBridge, History
from timekeep.gui.file_actions import FileActions, Target
from timekeep.gui.folder_columns import FolderColumns
from timekeep.gui.help_menu import HelpMenu
from timekeep.gui.index_repair import IndexRepair
from timekeep.gui.main_toolbar import main_toolbar
from timekeep.gui.models.snapshots import SnapshotsModel
from timekeep.gui.models.tree import NAME, FolderTreeModel
from timekeep.gui.prompts import Prompts
from timekeep.gui.range_diff import RangeDiff
from timekeep.gui.search import Finder
from timekeep.gui.widgets.backup_status import BackupStatus
from timekeep.gui.widgets.drive_status import DriveStatus
from timekeep.gui.widgets.drives_list import DrivesList
from timekeep.gui.widgets.preview import PreviewPane
from timekeep.gui.widgets.timeline import Timeline

PATH_ROLE = Qt.ItemDataRole.UserRole + 1


def away_words(repo: str) -> tuple[str, str]:
    """What the history pane and the folder list say while the repository is away: a drive is not connected,
    a bucket cannot be reached."""
    if is_remote(repo):
        return "The history comes back when the backup storage can be reached", "Shown when reachable"
    return ("The history comes back when the backup drive is connected",
            "Connect the backup drive to see the protected folders")


class MainWindow(QMainWindow):
    settings_requested = Signal()
    check_requested = Signal()
    quit_requested = Signal()
    window_closed = Signal()

    def __init__(self, bridge: EngineBridge, prompts: Prompts, assets: Assets, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge, self.prompts, self.assets = bridge, prompts, assets
        self.setWindowTitle("Timekeep")
        self.setWindowIcon(assets.app_icon())
        self.snapshots = SnapshotsModel(self)
        self._build_widgets()
        self.browser = Browser(bridge, self.timeline, self.tree_view, self.preview, self.tree_model)
        self.actions_ = FileActions(bridge, prompts, assets, self, self.target)
        self.repair = IndexRepair(bridge, prompts, self.drive_status, self)
        self._build_layout()
        self._build_menus()
        self._connect()
        self.history: History | None = None
        self.last_menu: QMenu | None = None
        self.last_backup_hint: int | None = None  # from the app settings: what a missing drive can still tell
        self.next_backup_in: Callable[[], float | None] = lambda: None  # the app's scheduler answers this
        self._clock = QTimer(self)
        self._clock.timeout.connect(self._refresh_idle)
        self._clock.start(30_000)

    # construction
    def _build_widgets(self) -> None:
        self.drive_status = DriveStatus(self.assets)
        self.drives_list = DrivesList()
        self.folders_list = QListWidget()
        self.folders_list.setAccessibleName("Protected folders")
        self.folders_list.setMinimumWidth(150)
        icons = {"dir": self.assets.icon("folder"), "file": self.assets.icon("file"),
                 "symlink": self.assets.icon("symlink")}
        self.tree_model = FolderTreeModel(icons, self)
        self.tree_view = QTreeView()
        self.tree_view.setAccessibleName("Folder as it was")
        self.tree_view.setSortingEnabled(True)
        self.tree_view.setUniformRowHeights(True)
        self.tree_view.setAlternatingRowColors(True)
        self.tree_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.preview = PreviewPane()
        self.timeline = Timeline(self.snapshots)
        self.earlier_button = QPushButton("◀ Earlier")
        self.later_button = QPushButton("Later ▶")
        self.now_button = QPushButton("Now")
        for button, tip in ((self.earlier_button, "The snapshot before (Left arrow in the timeline)"),
                            (self.later_button, "The snapshot after (Right arrow in the timeline)"),
                            (self.now_button, "The folders as they are now (End in the timeline)")):
            button.setToolTip(tip)
        self.backup_status = BackupStatus()

    def _build_layout(self) -> None:
        self.columns = FolderColumns(self.tree_view)
        self.tree_view.sortByColumn(NAME, Qt.SortOrder.AscendingOrder)
        self.splitter = QSplitter()
        self.splitter.addWidget(self._sidebar())
        self.finder = Finder(self)  # the search field above the folder view
        self.range_diff = RangeDiff(self)  # what changed between two moments chosen on the timeline
        self.splitter.addWidget(self.finder.column)
        self.splitter.addWidget(self.preview)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setStretchFactor(2, 2)
        self.splitter.setSizes([200, 560, 420])
        steps = QHBoxLayout()
        steps.addWidget(self.earlier_button)
        steps.addWidget(self.timeline, 1)
        steps.addWidget(self.later_button)
        steps.addWidget(self.now_button)
        central = QWidget()
        body = QVBoxLayout(central)
        body.addWidget(self.drive_status)
        body.addWidget(self.splitter, 1)
        body.addLayout(steps)
        self.setCentralWidget(central)
        # at its own width, not stretched: a stretched permanent widget leaves a message (`showMessage`) no room,
        # and every message the window said there (a restore's progress, "Cannot back up now") went unseen
        self.statusBar().addPermanentWidget(self.backup_status)
        self.resize(1280, 780)

    def _sidebar(self) -> QWidget:
        sidebar = QWidget()
        side = QVBoxLayout(sidebar)
        side.setContentsMargins(0, 0, 0, 0)
        heading = QLabel("<b>Protected folders</b>")
        heading.setBuddy(self.folders_list)
        side.addWidget(heading)
        side.addWidget(self.folders_list, 1)
        side.addWidget(self.drives_list)
        return sidebar

    def _build_menus(self) -> None:
        self.backup = BackupCommand(self)  # "Back up now": to the drive, or kept here while it is away
        self.backup_action = self.backup.action
        self.settings_action = QAction(self.assets.icon("settings"), "Settings…", self)
        self.settings_action.setShortcut(QKeySequence.StandardKey.Preferences)
        self.check_action = QAction(self.assets.icon("check"), "Check backup…", self)
        self.check_action.setToolTip("Check that the index agrees with the drive, and list anything lost")
        quit_action = QAction(self.assets.icon("quit"), "Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.quit_requested)
        app_menu = self.menuBar().addMenu("&Timekeep")
        app_menu.addActions([self.backup_action, self.check_action, self.settings_action])
        app_menu.addSeparator()
        app_menu.addAction(quit_action)
        self.browse_files = HistoryMount(self)  # "Browse in the file manager": gui/browse.py
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addActions([*self.actions_.actions, self.browse_files.action])
        file_menu.addSeparator()
        file_menu.addAction(self.finder.deleted.action)  # "Show deleted files…": gui/deleted.py
        self.help = HelpMenu(self, self.bridge.workers)
        self.addToolBar(main_toolbar(self, [self.backup_action, self.settings_action], self.actions_.actions[:3]))

    def _connect(self) -> None:
        self.settings_action.triggered.connect(self.settings_requested)
        self.check_action.triggered.connect(self.check_requested)
        self.folders_list.currentItemChanged.connect(self._folder_chosen)
        self.tree_view.customContextMenuRequested.connect(self._context_menu)
        self.browser.selection_changed.connect(self.actions_.refresh)
        self.earlier_button.clicked.connect(lambda: self.timeline.step(-1))
        self.later_button.clicked.connect(lambda: self.timeline.step(1))
        self.now_button.clicked.connect(lambda: self.timeline.set_position(self.timeline.now_position))
        self.timeline.position_changed.connect(self._time_moved)
        self.snapshots.summary_wanted.connect(self._read_summary)
        self.actions_.restored.connect(lambda sentence: self.statusBar().showMessage(sentence, 15_000))
        self.actions_.restoring.connect(self.statusBar().showMessage)
        self.drive_status.choose_requested.connect(self.settings_requested)
        self.backup_status.cancel_requested.connect(self.bridge.cancel_backup)
        self.bridge.repository_opened.connect(self.show_history)
        self.bridge.destinations_changed.connect(self._destinations_changed)
        self.bridge.agent_serving_changed.connect(self._refresh_idle)  # whose schedule the next backup is
        self.bridge.history_loaded.connect(self.show_history)
        self.bridge.repository_missing.connect(self.show_missing)
        self.bridge.repository_failed.connect(self.drive_status.show_problem)
        self.bridge.repository_locked.connect(self.show_locked)
        self.bridge.backup_started.connect(self.backup_status.set_running)
        self.bridge.backup_progressed.connect(self.backup_status.set_progress)
        self.bridge.index_rebuilding.connect(self.backup_status.show_rebuild)
        self.bridge.index_unusable.connect(self._index_unusable)
        self.bridge.backup_finished.connect(self._backup_ended)
        self.bridge.backup_failed.connect(self._backup_ended)
        self.bridge.backup_cancelled.connect(self._backup_ended)
        self.bridge.backup_skipped.connect(self._backup_ended)
        # the bridge and its workers may outlive this window (a job finishing as it closes): bound methods, which
        # Qt disconnects when the window goes, never lambdas that would reach a deleted status bar
        self.bridge.backup_skipped.connect(self._backup_skipped)
        self.bridge.backup_cancelled.connect(self._backup_cancelled)
        self.bridge.workers.job_failed.connect(self._job_failed)
        self._time_moved(None)

    # what the bridge tells us
    def _destinations_changed(self, destinations: tuple[DestinationStatus, ...]) -> None:
        self.drives_list.set_destinations(destinations, self.bridge.repo)

    def _backup_skipped(self, why: str) -> None:
        self.statusBar().showMessage(wording.sentence(why), 10_000)

    def _backup_cancelled(self) -> None:
        self.statusBar().showMessage("Backup cancelled: nothing was lost, and the next backup carries on from there",
                                     15_000)

    def _job_failed(self, message: str) -> None:
        self.statusBar().showMessage(message, 15_000)

    def show_history(self, history: History) -> None:
        self.history = history
        if self.bridge.state != "missing":  # else the history kept on this computer: the banner stays
            self.drive_status.show_notes(history.notes)
        self.snapshots.set_snapshots(history.snapshots, [f.path for f in history.folders])
        self._show_folders(history.folders)
        self._time_moved(self.timeline.current())
        last = history.snapshots[-1].time_ns if history.snapshots else None
        self.backup_status.set_idle(last, self.next_backup_in())
        if not history.snapshots:
            self.preview.show_message("No backup yet: press “Back up now” to take the first snapshot")

    def _show_folders(self, folders: tuple[FolderInfo, ...]) -> None:
        current = self.browser.root
        self.folders_list.blockSignals(True)
        self.folders_list.clear()
        for folder in folders:
            item = QListWidgetItem(self.assets.icon("folder"), wording.display_name(folder.path))
            item.setData(PATH_ROLE, folder.path)
            item.setToolTip(wording.display_path(folder.path))
            self.folders_list.addItem(item)
            if folder.path == current:
                self.folders_list.setCurrentItem(item)
        self.folders_list.blockSignals(False)
        if self.folders_list.currentItem() is None and self.folders_list.count():
            self.folders_list.setCurrentRow(0)  # emits: shows that folder
        else:
            self.browser.show_folder(current if self.folders_list.count() else None)

    def show_missing(self, repo: str) -> None:
        """The drive is away: one story everywhere (banner, status bar), and nothing offered that needs it."""
        last = self.history.snapshots[-1].time_ns if self.history and self.history.snapshots else None
        last = last if last is not None else self.last_backup_hint
        self.drive_status.show_missing(repo, last, self.bridge.away_reason)
        self.backup_status.set_idle(last, None)
        comes_back, folders_note = away_words(repo)
        self._without_history(comes_back)
        if not self.folders_list.count():
            placeholder = QListWidgetItem(folders_note)
            placeholder.setFlags(Qt.ItemFlag.NoItemFlags)
            self.folders_list.addItem(placeholder)

    def _index_unusable(self, *_: object) -> None:
        """Nothing of a history shown before may linger (another drive's): it comes back with the rebuild."""
        self.history = None
        self.snapshots.set_snapshots((), [])
        self.folders_list.clear()
        self.backup_status.set_waiting("No backups until the index is rebuilt")
        self._without_history("The history comes back when the index is rebuilt")

    def _without_history(self, why: str) -> None:
        """Nothing to browse until the drive is back or the index rebuilt ("Back up now" says itself)."""
        self.tree_model.clear()
        self.preview.show_message(why)
        self.actions_.refresh()

    def show_locked(self, repo: str) -> None:
        """Encrypted and not unlocked: nothing to browse or back up until the passphrase is given."""
        self.history = None
        self.snapshots.set_snapshots((), [])
        self.folders_list.clear()
        self.drive_status.show_problem(f"The backups in {repo} are encrypted and locked: choose the drive again "
                                       "to give its passphrase or recovery key")
        self._without_history("The history shows once the backups are unlocked")

    # commands
    def target(self) -> Target | None:
        row = self.browser.selected
        if row is None:
            return None
        snap = self.browser.snapshot_for(row)
        if snap is not None:
            return Target(row, snap.id, snap.time_ns, (snap.id, snap.time_ns))
        latest = self.browser.previous_snapshot()  # at Now: the last backup, unless the file is new since
        stored = None if latest is None or row.change == "new" else (latest.id, latest.time_ns)
        return Target(row, None, None, stored)

    def _folder_chosen(self, item: QListWidgetItem | None) -> None:
        self.browser.show_folder(item.data(PATH_ROLE) if item is not None else None)

    def _context_menu(self, pos: QPoint) -> None:
        """Right-click on a row, or the Menu key (then at the selected row, wherever the mouse is)."""
        view = self.tree_view
        if not view.indexAt(pos).isValid():
            if not view.currentIndex().isValid():
                return
            pos = view.visualRect(view.currentIndex()).center()
        self.last_menu = self.actions_.popup(view.viewport().mapToGlobal(pos))

    def _read_summary(self, snapshot_id: int) -> None:
        """A timeline tooltip wants to say what a snapshot changed: counted in a worker."""
        if not self.bridge.read(Timekeep.snapshot_summary, snapshot_id, on_done=self.snapshots.set_summary,
                                on_failed=lambda _message: self.snapshots.summary_failed(snapshot_id)):
            self.snapshots.summary_failed(snapshot_id)

    def _time_moved(self, snapshot: SnapshotInfo | None) -> None:
        self.earlier_button.setEnabled(self.timeline.position > 0)
        self.later_button.setEnabled(self.timeline.position < self.timeline.now_position)
        self.now_button.setEnabled(snapshot is not None)
        self.actions_.refresh()

    def _refresh_idle(self, *_: object) -> None:
        """The idle words again: time passes, and the next backup is the window's only while no agent runs."""
        self.backup_status.next_in_s = self.next_backup_in()
        self.backup_status.refresh()

    def _backup_ended(self, *_: object) -> None:
        last = self.history.snapshots[-1].time_ns if self.history and self.history.snapshots else None
        self.backup_status.set_idle(last, self.next_backup_in())

    # window state
    def restore_state(self, geometry: str | None, splitter: str | None) -> None:
        if geometry:
            self.restoreGeometry(QByteArray.fromHex(geometry.encode()))
        if splitter:
            self.splitter.restoreState(QByteArray.fromHex(splitter.encode()))

    def saved_state(self) -> tuple[str, str]:
        return (bytes(self.saveGeometry().toHex().data()).decode(),
                bytes(self.splitter.saveState().toHex().data()).decode())

    def closeEvent(self, event: QCloseEvent) -> None:
        self.window_closed.emit()
        super().closeEvent(event)

    def status_text(self) -> str:
        """What the status bar says now (tests, accessibility)."""
        return self.statusBar().currentMessage() or self.backup_status.label.text()
