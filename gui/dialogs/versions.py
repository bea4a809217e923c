"""Versions of one file: every stored version with its time, size and change, identical ones hideable;
double-click (or Enter) previews a version, and any version can be restored from here.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QModelIndex, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from timekeep.core.api import Timekeep
from timekeep.core.types import VersionInfo
from timekeep.gui import wording
from timekeep.gui.engine_bridge import EngineBridge
from timekeep.gui.models.versions import VersionsModel
from timekeep.gui.preview_data import PreviewData, stored_preview
from timekeep.gui.widgets.dialog_footer import action_and_close
from timekeep.gui.widgets.preview import PreviewPane
from timekeep.gui.workers import LatestOnly


def versions_of(tk: Timekeep, path: bytes) -> list[VersionInfo]:
    return tk.versions(path)


def shown_path(path: bytes) -> str:
    """The file's path as a person reads it: inside the home folder, from "~"."""
    home = os.fsencode(os.path.expanduser("~")).rstrip(b"/")
    inside = home and path.startswith(home + b"/")
    return wording.display_path(b"~" + path[len(home):] if inside else path)


class VersionsDialog(QDialog):
    restore_requested = Signal(bytes, int, object)  # path, snapshot id, snapshot time (ns: past a C int)

    def __init__(self, bridge: EngineBridge, path: bytes, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge, self.path = bridge, path
        self.setWindowTitle(f"Versions of {wording.display_name(path)}")
        self.resize(920, 560)
        self.model = VersionsModel(self)
        self.previews: LatestOnly[PreviewData] = LatestOnly()
        self.heading = QLabel(f"<b>{shown_path(path)}</b><br>Loading versions…")
        self.heading.setWordWrap(True)
        self.table = self._make_table()
        self.hide_identical = QCheckBox("Hide identical versions")
        self.hide_identical.setChecked(True)
        self.hide_identical.setToolTip("Hide versions whose contents equal the version before (only the date or "
                                       "permissions changed)")
        self.hide_identical.toggled.connect(self._hide_toggled)
        self.preview = PreviewPane()
        self.preview.show_message("Double-click a version to preview it")
        self.restore_button = QPushButton("Restore this version")
        self.restore_button.setEnabled(False)
        self.restore_button.clicked.connect(self._restore_clicked)
        self._lay_out()
        bridge.read(versions_of, path, on_done=self._versions_loaded, on_failed=self._failed)

    def _make_table(self) -> QTableView:
        table = QTableView()
        table.setModel(self.model)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.verticalHeader().hide()
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        table.setAccessibleName("Versions")
        table.doubleClicked.connect(self.preview_row)
        table.activated.connect(self.preview_row)
        return table

    def _lay_out(self) -> None:
        left = QWidget()
        column = QVBoxLayout(left)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.table)
        column.addWidget(self.hide_identical)
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(self.preview)
        splitter.setSizes([380, 540])
        row = action_and_close(self, self.restore_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(splitter, 1)
        layout.addLayout(row)

    def _versions_loaded(self, versions: list[VersionInfo]) -> None:
        self.model.set_versions(versions)
        self._describe()
        if self.model.rowCount():
            self.table.selectRow(self.model.rowCount() - 1)
            self.restore_button.setEnabled(True)

    def _describe(self) -> None:
        total, shown = len(self.model.all_versions), self.model.rowCount()
        hidden = f" ({total - shown} identical hidden)" if total > shown else ""
        plural = "s" if total != 1 else ""
        self.heading.setText(f"<b>{shown_path(self.path)}</b><br>{total} version{plural} stored{hidden}")

    def _hide_toggled(self, hide: bool) -> None:
        self.model.set_hide_identical(hide)
        self._describe()

    def _failed(self, message: str) -> None:
        self.heading.setText(f"<b>{shown_path(self.path)}</b><br>{message}")

    def selected_version(self) -> VersionInfo | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.version_at(rows[0].row()) if rows else None

    def preview_row(self, index: QModelIndex) -> None:
        version = self.model.version_at(index.row())
        if version is None:
            return
        if version.state == "deleted":
            self.preview.show_message(f"Deleted on {wording.when(version.time_ns)}")
            return
        self.preview.show_loading(self.path)
        self.previews.submit(
            lambda done, failed, wanted: self.bridge.read(stored_preview, self.path, version.snapshot_id, wanted,
                                                           on_done=done, on_failed=failed, lane="preview"),
            lambda data: self._preview_loaded(data, version), self.preview.show_message)

    def _preview_loaded(self, data: PreviewData, version: VersionInfo) -> None:
        self.preview.show_preview(data, version.time_ns)

    def _restore_clicked(self) -> None:
        version = self.selected_version()
        if version is not None and version.state != "deleted":
            self.restore_requested.emit(self.path, version.snapshot_id, version.time_ns)

