"""Sorting the folder view: by any column, folders always first, whichever the direction."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt

from timekeep.gui.models.tree import SORT_ROLE, FolderTreeModel, sort_key

AnyIndex = QModelIndex | QPersistentModelIndex


class FolderSortProxy(QSortFilterProxyModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)

    def lessThan(self, left: AnyIndex, right: AnyIndex) -> bool:
        """Rows are read from the tree model directly, not through `data()`: a listing at each moment of a
        dragged timeline is sorted again, hundreds of comparisons each time."""
        model = self.sourceModel()
        if not isinstance(model, FolderTreeModel):
            return False
        a, b = model.row_at(left), model.row_at(right)
        if a is None or b is None:
            return False
        if a.is_dir != b.is_dir:
            ascending = self.sortOrder() == Qt.SortOrder.AscendingOrder
            return bool(a.is_dir if ascending else b.is_dir)  # Qt flips the result for descending order
        ka, kb = sort_key(a, left.column()), sort_key(b, right.column())
        if ka != kb:
            return bool(ka < kb)
        return bool(a.name < b.name)
