"""“Restore deleted files here” (the file managers) and “Show deleted files” (the window): everything deleted at
any depth below one folder and still gone, newest deletion first, each named by its path from that folder.

Each row is the item as last backed up; the right-click menu is the window's own (Restore, Restore to…,
Show versions, Copy path), acting on that last stored version. The list is read in a worker, and read again
after a restore, so a file restored drops off it.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QDialog,
    QLabel,
    QMenu,
    QPushButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from timekeep.core.api import Timekeep
from timekeep.core.types import Gone
from timekeep.gui import wording
from timekeep.gui.assets import Assets
from timekeep.gui.engine_bridge import EngineBridge
from timekeep.gui.file_actions import FileActions, Target
from timekeep.gui.listing import Row
from timekeep.gui.prompts import Prompts
from timekeep.gui.widgets.dialog_footer import action_and_close
from timekeep.gui.widgets.row_list import row_list

GONE_ROLE = Qt.ItemDataRole.UserRole + 1
COLUMNS = ("Name", "Deleted", "Size", "Last backed up")
SHOWN = 1000  # rows listed at most, newest first: a folder emptied of a whole photo library stays responsive


def gone_beneath_now(tk: Timekeep, folder: bytes) -> list[Gone]:
    """Deleted at any depth below the folder since some snapshot, and not back on the disk since (by another
    hand, or a restore)."""
    return [g for g in tk.gone_beneath(folder) if not os.path.lexists(g.entry.path)]


class DeletedDialog(QDialog):
    loaded = Signal()  # the list now shows what is gone (tests wait on it)

    def __init__(self, bridge: EngineBridge, folder: bytes, prompts: Prompts, assets: Assets,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge, self.folder = bridge, folder
        self.setWindowTitle(f"Deleted from {wording.display_name(folder)}")
        self.resize(720, 440)
        self.gone: list[Gone] = []
        self.heading = QLabel(f"<b>{wording.display_path(folder)}</b><br>Looking for deleted files…")
        self.heading.setWordWrap(True)
        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels(list(COLUMNS))
        self.view = self._make_view()
        self.actions_ = FileActions(bridge, prompts, assets, self, self.target)
        self.actions_.restored.connect(lambda _sentence: self.reload())
        self.restore_button = QPushButton(assets.icon("restore"), "Restore")
        self.restore_button.clicked.connect(self.actions_.restore)
        self._lay_out()
        self.reload()

    def _make_view(self) -> QTreeView:
        view = row_list(self.model, "Deleted files", stretch=0, columns=len(COLUMNS))
        view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        view.customContextMenuRequested.connect(self._context_menu)
        view.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        return view

    def _lay_out(self) -> None:
        row = action_and_close(self, self.restore_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.view, 1)
        layout.addLayout(row)

    def reload(self) -> None:
        if not self.bridge.read(gone_beneath_now, self.folder, on_done=self._loaded, on_failed=self._failed):
            self._failed("the backup drive is not connected")

    def _loaded(self, gone: list[Gone]) -> None:
        self.gone = gone
        self.model.removeRows(0, self.model.rowCount())
        for item in gone[:SHOWN]:
            self.model.appendRow(self._row(item))
        count = len(gone)
        newest = f", the newest {SHOWN:,} listed" if count > SHOWN else ""
        said = (f"{count:,} item{'s' if count != 1 else ''} deleted from here or any folder in it since the first "
                f"backup{newest}, newest first: right-click one to restore it" if count
                else "Nothing deleted from here is missing.")
        self.heading.setText(f"<b>{wording.display_path(self.folder)}</b><br>{said}")
        if count:
            self.view.setCurrentIndex(self.model.index(0, 0))
        self._selection_changed()
        self.loaded.emit()

    def _row(self, gone: Gone) -> list[QStandardItem]:
        entry = gone.entry
        cells = [wording.display_path(os.path.relpath(entry.path, self.folder)) + ("/" if entry.kind == "dir" else ""),
                 wording.when(gone.deleted_ns), "" if entry.kind == "dir" else wording.size(entry.size),
                 wording.when(gone.stored_ns)]
        items = [QStandardItem(text) for text in cells]
        items[0].setData(gone, GONE_ROLE)
        items[0].setToolTip(wording.display_path(entry.path))
        return items

    def _failed(self, message: str) -> None:
        self.heading.setText(f"<b>{wording.display_path(self.folder)}</b><br>"
                             f"Deleted files cannot be listed: {message.rstrip('.')}.")
        self.loaded.emit()

    def selected(self) -> Gone | None:
        index = self.view.currentIndex()
        found = self.model.index(index.row(), 0).data(GONE_ROLE) if index.isValid() else None
        return found if isinstance(found, Gone) else None

    def target(self) -> Target | None:
        """The selected item's last stored version: what Restore puts back."""
        gone = self.selected()
        if gone is None:
            return None
        entry = gone.entry
        row = Row(entry.path, entry.kind, entry.size, entry.mtime_ns, "deleted", entry.link_target)
        return Target(row, entry.snapshot_id, gone.stored_ns, None)

    def _selection_changed(self) -> None:
        self.actions_.refresh()
        self.restore_button.setEnabled(self.selected() is not None)

    def _context_menu(self, pos: QPoint) -> None:
        if self.view.indexAt(pos).isValid():
            self.last_menu: QMenu = self.actions_.popup(self.view.viewport().mapToGlobal(pos))
