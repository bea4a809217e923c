"""Every stored version of one file: time, size and what happened, with identical versions hideable.
Times are to the minute unless two versions share one (then all to the second), and each change says how
the size moved, so no two rows look alike.

Two consecutive versions are *identical* when their content is the same (same content id, kind and size):
a touch or a permission change stores a version whose bytes did not move. Back In Time's per-file dialog
showed the value of hiding them; here it is on by default.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from timekeep.core.types import VersionInfo
from timekeep.gui import wording
from timekeep.gui.time_words import formatter

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
        self.when: Callable[[int], str] = wording.when

    def set_versions(self, versions: Sequence[VersionInfo]) -> None:
        self.all_versions = tuple(versions)
        self._refresh()

    def set_hide_identical(self, hide: bool) -> None:
        self.hide_identical = hide
        self._refresh()

    def _refresh(self) -> None:
        self.beginResetModel()
        self.shown = distinct(self.all_versions) if self.hide_identical else list(self.all_versions)
        self.when = formatter([v.time_ns for v in self.shown])
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
            before = self.version_at(index.row() - 1) if index.row() else None
            return _display(version, index.column(), before, self.when)
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() == 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


def _display(version: VersionInfo, column: int, before: VersionInfo | None, when: Callable[[int], str]) -> str:
    if column == 0:
        return when(version.time_ns)
    if column == 1:
        return "" if version.state == "deleted" or version.kind != "file" else wording.size(version.size)
    return change_text(version, before)


def change_text(version: VersionInfo, before: VersionInfo | None) -> str:
    """What happened, with how the size moved since the version above: "Changed, 1.2 KB larger"."""
    state = STATES.get(version.state, version.state)
    if version.state != "modified" or version.kind != "file" or before is None or before.state == "deleted":
        return state
    delta = version.size - before.size
    if delta == 0:
        return f"{state}, same size"
    return f"{state}, {wording.size(abs(delta))} {'larger' if delta > 0 else 'smaller'}"
