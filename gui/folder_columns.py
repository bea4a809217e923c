"""The folder view's columns in a narrow window: the name takes the room first.

Names are elided in the middle, so "chapter-1-the-river.md" and "chapter-2-the-river.md" keep what tells
them apart (their ends and extensions) instead of both becoming "chapter…". When the view is too narrow
for the names, the Modified column goes first, then Size; both come back when there is room again (the
preview still says when the selected file was modified and how big it is). Widths are measured on the rows in
view, not on every row, and once after rows come or go (a change of size or time alone leaves the names as they
are): the view is updated at every moment the timeline passes.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QHeaderView, QTreeView

from timekeep.gui.models.tree import CHANGE, MODIFIED, NAME, SIZE

NAME_ROOM = 260  # pixels the names get before other columns do (less when the names are shorter)
GIVE_WAY = (MODIFIED, SIZE)  # the columns hidden first when there is not enough room


class FolderColumns(QObject):
    def __init__(self, view: QTreeView) -> None:
        super().__init__(view)
        self.view = view
        view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = view.header()
        header.setSectionResizeMode(NAME, QHeaderView.ResizeMode.Stretch)
        for column in (SIZE, MODIFIED, CHANGE):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)
        header.setResizeContentsPrecision(0)  # sized from the rows in view: a listing at each T stays cheap
        view.viewport().installEventFilter(self)
        self._refit = QTimer(self)  # many rows inserted or removed in one update: measured once after
        self._refit.setSingleShot(True)
        self._refit.setInterval(0)
        self._refit.timeout.connect(self.fit)
        model = view.model()
        if model is not None:  # other names, other room: refit when the listing changes
            for changed in (model.modelReset, model.rowsInserted, model.rowsRemoved):
                changed.connect(lambda *_: self._refit.start())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:
            self.fit()
        return False

    def fit(self) -> None:
        """Show the columns that leave the names their room, hiding the least needed first."""
        header = self.view.header()
        names = max(self.view.sizeHintForColumn(NAME), 0) or NAME_ROOM
        room = min(NAME_ROOM, names)
        width = self.view.viewport().width() - header.sectionSize(CHANGE)
        shown = [SIZE, MODIFIED]
        for column in GIVE_WAY:
            others = sum(self._wanted(c) for c in shown)
            if width - others >= room:
                break
            shown.remove(column)
        for column in (SIZE, MODIFIED):
            header.setSectionHidden(column, column not in shown)

    def _wanted(self, column: int) -> int:
        return max(self.view.sizeHintForColumn(column), self.view.header().sectionSizeHint(column))
