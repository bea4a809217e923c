"""A read-only list of rows with columns (deleted files, a diff): one row chosen at a time, one column
stretched to take the room and the others as wide as their contents."""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeView


def row_list(model: QAbstractItemModel, name: str, stretch: int, columns: int) -> QTreeView:
    """A flat, single-selection, read-only view of `model`, named `name` for screen readers."""
    view = QTreeView()
    view.setModel(model)
    view.setRootIsDecorated(False)
    view.setAlternatingRowColors(True)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setAccessibleName(name)
    header = view.header()
    for column in range(columns):
        mode = QHeaderView.ResizeMode.Stretch if column == stretch else QHeaderView.ResizeMode.ResizeToContents
        header.setSectionResizeMode(column, mode)
    header.setStretchLastSection(False)
    return view
