"""The search field above the folder view: anything in all of history by name, present or deleted.

The search runs in a worker (`Timekeep.find_first`: the first `SHOWN`, and how many more), one at a time,
the answer to an older pattern dropped (`LatestOnly`); typing pauses briefly before it asks. Choosing a
result (double-click or Enter) moves the window's timeline to the last snapshot that held it, opens its
folder and selects it; right-clicking one offers the folder view's commands on its last version
(gui/search_actions.py). The button beside the field lists what is deleted beneath a folder (gui/deleted.py).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QPoint, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from timekeep.core.api import Timekeep
from timekeep.core.types import Found, FoundPage
from timekeep.gui import wording
from timekeep.gui.deleted import ShowDeleted
from timekeep.gui.engine_bridge import History
from timekeep.gui.file_actions import Target
from timekeep.gui.search_actions import FoundActions, found_target
from timekeep.gui.workers import LatestOnly

if TYPE_CHECKING:
    from timekeep.gui.main_window import MainWindow

PAUSE_MS = 300  # typing this long without a key asks
SHOWN = 500  # rows listed at most; the label says how many more there are
COLUMNS = ("Name", "Folder", "Last seen", "State")
FOUND_ROLE = Qt.ItemDataRole.UserRole + 1


def find_job(tk: Timekeep, pattern: str) -> FoundPage:
    return tk.find_first(pattern, SHOWN)


def summary_text(pattern: str, page: FoundPage) -> str:
    """How many were found, and how many more than are listed."""
    shown = len(page.found)
    if not shown:
        return f"Nothing in the history has a name like “{pattern}”"
    if not page.more:
        return f"{shown} found"
    return f"The first {shown:,} of {shown + page.more:,} found: {page.more:,} more — refine the search"


PROTECTED = "(protected)"  # the Folder column of a protected folder itself: the folder above is not backed up


def folder_text(path: bytes, roots: Sequence[bytes]) -> str:
    """Where it is, named from the protected folder holding it; a protected folder itself says it is one
    (the folder above it holds nothing Timekeep protects, and its full path is in the tooltip)."""
    if any(path.rstrip(b"/") == root.rstrip(b"/") for root in roots):
        return PROTECTED
    return wording.within(os.path.dirname(path), roots)


def row_texts(found: Found, seen_ns: int, roots: Sequence[bytes] = ()) -> tuple[str, str, str, str]:
    """Name, folder (named from the protected folder holding it), last seen (the time of the last snapshot
    that held it), present or deleted."""
    state = "present" if found.present else "deleted"
    return (wording.display_name(found.path), folder_text(found.path, roots), wording.when(seen_ns), state)


class SearchPanel(QWidget):
    chosen = Signal(object)  # Found
    results_shown = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.field = QLineEdit()
        self.field.setPlaceholderText("Find in all of history (a name, or *.pdf)")
        self.field.setClearButtonEnabled(True)
        self.field.setAccessibleName("Find in all of history")
        self.results = QTreeWidget()
        self.results.setHeaderLabels(list(COLUMNS))
        self.results.setRootIsDecorated(False)
        self.results.setAccessibleName("Found in history")
        self.results.setMaximumHeight(220)
        self.results.hide()
        self.summary = QLabel()
        self.summary.hide()
        self.deleted_button = QPushButton("Deleted files…")
        self.deleted_button.setToolTip("Everything deleted from the folder shown (or the folder selected) and "
                                       "gone now, newest deletion first")
        line = QHBoxLayout()
        line.addWidget(self.field, 1)
        line.addWidget(self.deleted_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(line)
        layout.addWidget(self.summary)
        layout.addWidget(self.results)
        self.results.itemActivated.connect(lambda item, _column: self.chosen.emit(item.data(0, FOUND_ROLE)))

    def show_found(self, pattern: str, page: FoundPage, times: dict[int, int], roots: Sequence[bytes] = ()) -> None:
        self.results.clear()
        for item in page.found:
            row = QTreeWidgetItem(list(row_texts(item, times.get(item.last_seen, item.changed_ns), roots)))
            row.setData(0, FOUND_ROLE, item)
            row.setToolTip(1, wording.display_path(item.path))
            self.results.addTopLevelItem(row)
        self.summary.setText(summary_text(pattern, page))
        self.summary.show()
        self.results.setVisible(bool(page.found))
        self.results_shown.emit()

    def show_problem(self, message: str) -> None:
        self.results.clear()
        self.results.hide()
        self.summary.setText(wording.sentence(message))
        self.summary.show()
        self.results_shown.emit()

    def clear(self) -> None:
        self.results.clear()
        self.results.hide()
        self.summary.hide()


class Finder(QObject):
    """The search panel above the window's folder view (`column`), asking the engine as the person types and
    showing the newest answer; a result chosen is revealed in the window."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window, self.bridge = window, window.bridge
        self.panel = SearchPanel()
        self.column = QWidget()
        stack = QVBoxLayout(self.column)
        stack.setContentsMargins(0, 0, 0, 0)
        stack.addWidget(self.panel)
        stack.addWidget(window.tree_view, 1)
        self.times: dict[int, int] = {}  # snapshot id -> time, of the history the window shows
        self.roots: list[bytes] = []  # its protected folders
        self.searches: LatestOnly[FoundPage] = LatestOnly()
        self.actions_ = FoundActions(window.bridge, window.prompts, window.assets, self.panel.results, self.target)
        self.actions_.restored.connect(lambda sentence: window.statusBar().showMessage(sentence, 15_000))
        self.actions_.restoring.connect(window.statusBar().showMessage)
        self.panel.results.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.panel.results.customContextMenuRequested.connect(self._context_menu)
        self.panel.results.currentItemChanged.connect(lambda *_: self.actions_.refresh())
        self.last_menu: QMenu | None = None
        self.deleted = ShowDeleted(window, self.panel.deleted_button)
        self.pause = QTimer(self)
        self.pause.setSingleShot(True)
        self.pause.setInterval(PAUSE_MS)
        self.pause.timeout.connect(self.search)
        self.panel.field.textEdited.connect(lambda _text: self.pause.start())
        self.panel.field.returnPressed.connect(self.search)
        self.panel.chosen.connect(self.reveal)
        for signal in (self.bridge.repository_opened, self.bridge.history_loaded):
            signal.connect(self._history)

    def _history(self, history: History) -> None:
        self.times = {s.id: s.time_ns for s in history.snapshots}
        self.roots = [f.path for f in history.folders]

    def search(self) -> None:
        self.pause.stop()
        pattern = self.panel.field.text().strip()
        if not pattern:
            self.searches.cancel()
            self.panel.clear()
            return
        self.searches.submit(lambda done, failed, _wanted: self.bridge.read(find_job, pattern, on_done=done,
                                                                            on_failed=failed, lane="jobs"),
                             lambda found: self.panel.show_found(pattern, found, self.times, self.roots),
                             self.panel.show_problem)

    def selected(self) -> Found | None:
        item = self.panel.results.currentItem()
        found = item.data(0, FOUND_ROLE) if item is not None else None
        return found if isinstance(found, Found) else None

    def target(self) -> Target | None:
        return found_target(self.selected(), self.times)

    def _context_menu(self, pos: QPoint) -> None:
        """Right-click on a result, or the Menu key (then at the current result)."""
        results = self.panel.results
        item = results.itemAt(pos)
        if item is not None:
            results.setCurrentItem(item)
        else:
            current = results.currentItem()
            if current is None:
                return
            pos = results.visualItemRect(current).center()
        self.last_menu = self.actions_.popup(results.viewport().mapToGlobal(pos))

    def reveal(self, found: Found) -> None:
        """The timeline at the last snapshot that held it, its folder open, it selected."""
        from timekeep.gui.place import protecting, show_in_window  # place builds on the window

        window = self.window
        folder = protecting(found.path, window.history.folders if window.history else ())
        if folder is None:
            window.statusBar().showMessage(f"{wording.display_path(found.path)} is in no folder Timekeep protects "
                                           "now", 15_000)
            return
        window.timeline.set_snapshot(found.last_seen)
        show_in_window(window, folder.path, os.path.dirname(found.path), found.path)
