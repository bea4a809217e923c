"""What each cell of the folder view says, for each role: a table, so the view, the sort proxy and the tests
agree. A deleted row reads as gone on every column, an excluded one as left out; the change column carries
the engine's marker for the version at T.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QIcon

from timekeep.gui import palette, wording
from timekeep.gui.listing import Row, natural_key

COLUMNS = ("Name", "Size", "Modified", "Change")
NAME, SIZE, MODIFIED, CHANGE = range(4)
ROW_ROLE = Qt.ItemDataRole.UserRole + 1
SORT_ROLE = Qt.ItemDataRole.UserRole + 2
PATH_ROLE = Qt.ItemDataRole.UserRole + 3
DELETED_TIP = "Deleted at this snapshot: right-click Restore brings back the last version before"
MARKS = {"new": ("N", "New: it was not in the snapshot before"),
         "changed": ("M", "Changed: new content since the snapshot before"),
         "metadata": ("A", "Metadata only: permissions or times changed, the content did not"),
         "deleted": ("D", DELETED_TIP),
         "excluded": ("X", "Excluded: backups leave it out (it matches a pattern in Settings)")}
FOLDER_TIPS = {"metadata": "Metadata only: an item was added, removed or renamed in it, or its permissions changed",
               "changed": "Something inside it changed (since the snapshot before, or at Now since the last backup)"}


def name_cell(row: Row | None) -> tuple[object, ...]:
    """What the name column shows of a row besides its name: its link, and whether it reads as gone or left out."""
    return () if row is None else (row.link_target, row.deleted, row.change == "excluded")


def sort_key(row: Row, column: int) -> Any:
    """What a column sorts by (the proxy asks for it without a round trip through Qt)."""
    if column == NAME:
        return natural_key(row.name)
    return (None, row.size, row.mtime_ns, row.change)[column]


def cell(row: Row, column: int, role: int, icons: dict[str, QIcon]) -> Any:
    """What one cell says for one role: a table, so the view, the proxy and the tests agree."""
    if role == ROW_ROLE:
        return row
    if role == PATH_ROLE:
        return row.path
    if role == SORT_ROLE:
        return sort_key(row, column)
    if role == Qt.ItemDataRole.DisplayRole:
        return _display(row, column)
    if role == Qt.ItemDataRole.DecorationRole and column == NAME:
        return icons.get(row.kind)
    if row.deleted or row.change == "excluded":
        shown = _faded_cell(row, column, role)
        if shown is not None:
            return shown
    if column == CHANGE and row.change:
        if role == Qt.ItemDataRole.ForegroundRole:
            return palette.mark_colour(row.change, palette.current())
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole):
            return FOLDER_TIPS.get(row.change, MARKS[row.change][1]) if row.is_dir else MARKS[row.change][1]
    if role == Qt.ItemDataRole.TextAlignmentRole and column in (SIZE, CHANGE):
        align = Qt.AlignmentFlag.AlignRight if column == SIZE else Qt.AlignmentFlag.AlignHCenter
        return int(align | Qt.AlignmentFlag.AlignVCenter)
    if role == Qt.ItemDataRole.ToolTipRole and column == NAME:
        return wording.display_path(row.path)
    return None


def _faded_cell(row: Row, column: int, role: int) -> Any:
    """A deleted row reads as gone on every column: faded, struck out, and it says so; an excluded one is
    faded and says why."""
    if role == Qt.ItemDataRole.ForegroundRole:
        return palette.faded_text(palette.current())
    if row.change == "excluded":
        tip = MARKS["excluded"][1]
        return f"{wording.display_path(row.path)}\n{tip}" if role == Qt.ItemDataRole.ToolTipRole else None
    if role == Qt.ItemDataRole.FontRole and column != CHANGE:
        font = QFont()
        font.setStrikeOut(True)
        return font
    if role == Qt.ItemDataRole.ToolTipRole:
        return f"{wording.display_path(row.path)}\n{DELETED_TIP}" if column == NAME else DELETED_TIP
    return None


def _display(row: Row, column: int) -> str:
    if column == NAME:
        name = wording.display_name(row.path)
        return f"{name} → {wording.display_path(row.link_target)}" if row.link_target else name
    if column == SIZE:
        return wording.size(row.size) if row.kind == "file" else ""  # a folder's or a link's size says nothing
    if column == MODIFIED:
        return wording.when(row.mtime_ns)
    return MARKS[row.change][0] if row.change else ""
