"""Every stored version of one file: time, size and what happened, with identical versions hideable.

Two consecutive versions are *identical* when their content is the same (same content id, kind and size):
a touch or a permission change stores a version whose bytes did not move. Back In Time's per-file dialog
showed the value of hiding them; here it is on by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from timekeep.core.types import VersionInfo
from timekeep.gui import wording

VERSION_ROLE = Qt.ItemDataRole.UserRole + 1
COLUMNS = ("Time", "Size", "Change")
STATES = {"created": "Created", "modified": "Changed", "metadata": "Attributes changed", "deleted": "Deleted"}
AnyIndex = QModelIndex | QPersistentModelIndex


def same_content(a: VersionInfo, b: VersionInfo) -> bool:
    if a.state == "deleted" or b.state == "deleted":
        return a.state == b.state
    return (a.kind, a.size, a.content_id, a.link_target) == (b.kind, b.size, b.content_id, b.link_target)


def distinct(versions: Sequence[VersionInfo]) -> list[VersionInfo]:
    """Drop each version whose content equals the one before it: only real changes remain."""
    kept: list[VersionInfo] = []
    for version in versions:
        if not kept or not same_content(kept[-1], version):
            kept.append(version)
    return kept


class VersionsModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.all_versions: tuple[VersionInfo, ...] = ()
        self.hide_identical = True
        self.shown: list[VersionInfo] = []

    def set_versions(self, versions: Sequence[VersionInfo]) -> None:
        self.all_versions = tuple(versions)
        self._refresh()

    def set_hide_identical(self, hide: bool) -> None:
        self.hide_identical = hide
        self._refresh()

    def _refresh(self) -> None:
        self.beginResetModel()
        self.shown = distinct(self.all_versions) if self.hide_identical else list(self.all_versions)
        self.endResetModel()

    def version_at(self, row: int) -> VersionInfo | None:
        return self.shown[row] if 0 <= row < len(self.shown) else None

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.shown)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        version = self.version_at(index.row()) if index.isValid() else None
        if version is None:
            return None
        if role == VERSION_ROLE:
            return version
        if role == Qt.ItemDataRole.DisplayRole:
            return _display(version, index.column())
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() == 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


def _display(version: VersionInfo, column: int) -> str:
    if column == 0:
        return wording.when(version.time_ns)
    if column == 1:
        return "" if version.state == "deleted" or version.kind != "file" else wording.size(version.size)
    return STATES.get(version.state, version.state)
