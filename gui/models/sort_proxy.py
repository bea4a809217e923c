"""Sorting the folder view: by any column, folders always first, whichever the direction."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt

from timekeep.gui.models.tree import ROW_ROLE, SORT_ROLE

AnyIndex = QModelIndex | QPersistentModelIndex


class FolderSortProxy(QSortFilterProxyModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)

    def lessThan(self, left: AnyIndex, right: AnyIndex) -> bool:
        a, b = left.data(ROW_ROLE), right.data(ROW_ROLE)
        if a is None or b is None:
            return False
        if a.is_dir != b.is_dir:
            ascending = self.sortOrder() == Qt.SortOrder.AscendingOrder
            return bool(a.is_dir if ascending else b.is_dir)  # Qt flips the result for descending order
        ka, kb = left.data(SORT_ROLE), right.data(SORT_ROLE)
        if ka != kb:
            return bool(ka < kb)
        return bool(a.name < b.name)
