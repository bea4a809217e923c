"""What changed between two moments chosen on the timeline (Shift-click, or Shift+arrows): a summary line,
then every path added, changed, deleted or renamed, with its sizes, from `Timekeep.diff` (the index alone
between snapshots; a metadata scan for Now), read in a worker.

One dialog follows the range as it changes (an answer to an older range is dropped). Opening a row (double
click, Enter or Compare) sets the file at the earlier moment beside it at the later one in the compare view:
under its earlier name for a rename, nothing on the side where it did not exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, QObject, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QDialog,
    QLabel,
    QPushButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from timekeep.core.api import Timekeep
from timekeep.core.types import CHANGE_KINDS, Change, Diff, SnapshotInfo
from timekeep.gui import wording
from timekeep.gui.dialogs.compare import CompareDialog, Side
from timekeep.gui.engine_bridge import EngineBridge
from timekeep.gui.widgets.dialog_footer import action_and_close
from timekeep.gui.widgets.row_list import row_list
from timekeep.gui.workers import LatestOnly

if TYPE_CHECKING:
    from timekeep.gui.main_window import MainWindow

CHANGE_ROLE = Qt.ItemDataRole.UserRole + 1
COLUMNS = ("Change", "Path", "Size")
SHOWN = 2000  # rows listed at most: the summary counts them all
WORDS = {"added": "added", "changed": "changed", "attributes": "attributes only", "deleted": "deleted",
         "renamed": "renamed"}


def diff_job(tk: Timekeep, before: int, after: int | None) -> Diff:
    return tk.diff(before, after)


def summary_text(diff: Diff) -> str:
    """`2 added, 1 changed (3 paths)`, or that nothing changed."""
    counts = [f"{diff.count(kind)} {WORDS[kind]}" for kind in CHANGE_KINDS if diff.count(kind)]
    if not counts:
        return "Nothing changed between these two moments."
    paths = len(diff.changes)
    return f"{', '.join(counts)} ({paths} path{'s' if paths != 1 else ''})."


def size_text(change: Change) -> str:
    """`12 kB → 14 kB`, one size where only one side exists or both are equal; nothing for a folder."""
    if change.kind == "dir":
        return ""
    sizes = [wording.size(s) for s in (change.size_before, change.size_after) if s is not None]
    return " → ".join(sizes) if len(set(sizes)) > 1 else (sizes[0] if sizes else "")


def sides(change: Change, before: SnapshotInfo, after: SnapshotInfo | None) -> tuple[Side, Side]:
    """The file at the earlier moment (under its old name if renamed) and at the later one (Now: on disk)."""
    old = Side(change.origin or change.path, before.id, before.time_ns, absent=change.change == "added")
    gone = change.change == "deleted"
    new = Side(change.path, absent=gone) if after is None else Side(change.path, after.id, after.time_ns, gone)
    return old, new


class RangeDiffDialog(QDialog):
    loaded = Signal()  # the list shows the newest range's changes, or why not (tests wait on it)

    def __init__(self, bridge: EngineBridge, roots: list[bytes], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge, self.roots = bridge, roots
        self.diff: Diff | None = None
        self.compared: CompareDialog | None = None
        self.answers: LatestOnly[Diff] = LatestOnly()
        self.setWindowTitle("What changed")
        self.resize(760, 480)
        self.heading = QLabel()
        self.heading.setWordWrap(True)
        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels(list(COLUMNS))
        self.view = self._make_view()
        self.compare_button = QPushButton("Compare")
        self.compare_button.setToolTip("The file at the earlier moment beside it at the later one")
        self.compare_button.clicked.connect(lambda: self.compare(self.view.currentIndex()))
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.view, 1)
        layout.addLayout(action_and_close(self, self.compare_button))

    def _make_view(self) -> QTreeView:
        view = row_list(self.model, "Changes between the two moments", stretch=1, columns=len(COLUMNS))
        view.activated.connect(self.compare)
        view.selectionModel().currentChanged.connect(lambda *_: self._enable())
        return view

    def show_range(self, before: SnapshotInfo, after: SnapshotInfo | None) -> None:
        later = "now" if after is None else wording.when(after.time_ns)
        self.title = f"From {wording.when(before.time_ns)} to {later}"
        self.heading.setText(f"<b>{self.title}</b><br>Looking at what changed…")
        self.model.removeRows(0, self.model.rowCount())
        self._enable()
        later_id = None if after is None else after.id
        self.answers.submit(lambda done, failed, _wanted: self.bridge.read(diff_job, before.id, later_id,
                                                                           on_done=done, on_failed=failed,
                                                                           lane="jobs"),
                            self._loaded, self._failed)

    def _loaded(self, diff: Diff) -> None:
        self.diff = diff
        for change in diff.changes[:SHOWN]:
            self.model.appendRow(self._row(change))
        listed = f" The first {SHOWN:,} are listed." if len(diff.changes) > SHOWN else ""
        self.heading.setText(f"<b>{self.title}</b><br>{summary_text(diff)}{listed}"
                             + (" Double-click a file to compare it." if diff.changes else ""))
        if diff.changes:
            self.view.setCurrentIndex(self.model.index(0, 0))
        self._enable()
        self.loaded.emit()

    def _row(self, change: Change) -> list[QStandardItem]:
        name = wording.within(change.path, self.roots) + ("/" if change.kind == "dir" else "")
        if change.origin is not None:
            name = f"{wording.within(change.origin, self.roots)} → {name}"
        items = [QStandardItem(text) for text in (WORDS[change.change], name, size_text(change))]
        items[0].setData(change, CHANGE_ROLE)
        items[1].setToolTip(wording.display_path(change.path))
        return items

    def _failed(self, message: str) -> None:
        self.heading.setText(f"<b>{self.title}</b><br>{wording.sentence(message)}")
        self.loaded.emit()

    def change_at(self, index: QModelIndex) -> Change | None:
        found = self.model.index(index.row(), 0).data(CHANGE_ROLE) if index.isValid() else None
        return found if isinstance(found, Change) else None

    def _enable(self) -> None:
        change = self.change_at(self.view.currentIndex())
        self.compare_button.setEnabled(change is not None and change.kind == "file")

    def compare(self, index: QModelIndex) -> CompareDialog | None:
        change, diff = self.change_at(index), self.diff
        if change is None or change.kind != "file" or diff is None:
            return None
        old, new = sides(change, diff.before, diff.after)
        dialog = CompareDialog(self.bridge, change.path, 0, 0, self, sides=(old, new))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        self.compared = dialog
        return dialog


class RangeDiff(QObject):
    """Opens (or brings back) the window's one range dialog when a range is chosen on its timeline."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.dialog: RangeDiffDialog | None = None
        window.timeline.range_chosen.connect(self.show)

    def show(self, before: SnapshotInfo, after: SnapshotInfo | None) -> RangeDiffDialog:
        history = self.window.history
        roots = [f.path for f in history.folders] if history is not None else []
        if self.dialog is None:
            self.dialog = RangeDiffDialog(self.window.bridge, roots, self.window)
        self.dialog.roots = roots
        self.dialog.show_range(before, after)
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog
