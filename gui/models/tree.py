"""The folder tree as it stood at T: a lazy QAbstractItemModel over rows the engine listed in a worker.

Laziness works at two levels. A folder's children are asked for only when the view expands it
(`children_wanted`, answered later by `set_children` from a worker); and a folder with thousands of children
exposes them in batches through `canFetchMore`/`fetchMore`, so a 10k-entry folder opens at once and scrolls
smoothly. Every reset bumps `generation`; answers for an older generation are dropped (the slider moved on).

Moving to another T changes few rows, so `update_listing` applies a diff of each loaded folder's old and new
rows (worked out in the worker: `listing_diff`) as row removals, insertions and changes: the selection, the
open folders and how far the view was scrolled stay, and the GUI thread's cost follows the rows that changed,
not the folder's size. The view's layouts ask for one more batch each time (Qt fetches before it lays out);
`wants_more` (the view scrolled near its end) says whether the root's next batch is wanted, so a drag that
lays the view out again and again does not expose a 10k-entry folder batch by batch.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QIcon

from timekeep.gui.listing import Listing, Row, natural_key
from timekeep.gui.listing_diff import RowsDiff, diff_rows, key, runs
from timekeep.gui.models.tree_cells import CHANGE as CHANGE
from timekeep.gui.models.tree_cells import COLUMNS, cell, name_cell
from timekeep.gui.models.tree_cells import MODIFIED as MODIFIED
from timekeep.gui.models.tree_cells import NAME as NAME
from timekeep.gui.models.tree_cells import ROW_ROLE as ROW_ROLE
from timekeep.gui.models.tree_cells import SIZE as SIZE
from timekeep.gui.models.tree_cells import SORT_ROLE as SORT_ROLE
from timekeep.gui.models.tree_cells import sort_key as sort_key

BATCH = 256
MOST_RUNS = 64  # a diff of more runs than this (a folder mostly replaced) resets instead: as cheap, and simpler
FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable  # built once: asked for per row at each layout
AnyIndex = QModelIndex | QPersistentModelIndex


class Node:
    """One row of the tree; the root node stands for the folder shown and has no row of its own."""

    __slots__ = ("children", "loaded", "parent", "pending", "position", "row", "rows", "shown")

    def __init__(self, row: Row | None, parent: Node | None, position: int) -> None:
        self.row, self.parent, self.position = row, parent, position
        self.children: list[Node] = []
        self.rows: Sequence[Row] = ()  # the listing the children were made from (what a diff starts from)
        self.loaded = False
        self.pending = False
        self.shown = 0

    @property
    def is_dir(self) -> bool:
        return self.row is None or self.row.is_dir

    def fill(self, rows: Sequence[Row], shown: int) -> None:
        self.children = [Node(r, self, i) for i, r in enumerate(rows)]
        self.rows = rows
        self.loaded, self.pending = True, False
        self.shown = min(shown, len(rows))

    def renumber(self, start: int) -> None:
        for i in range(start, len(self.children)):
            self.children[i].position = i


class FolderTreeModel(QAbstractItemModel):
    children_wanted = Signal(bytes, int)  # folder path, generation: list it and call set_children

    def __init__(self, icons: dict[str, QIcon] | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self.icons = icons or {}
        self.generation = 0
        self.root_path: bytes | None = None
        self.root = Node(None, None, 0)
        self._by_path: dict[bytes, Node] = {}
        self.wants_more: Callable[[], bool] = lambda: True  # whether the view would show the root's next batch
        self._updating = False  # no batch is exposed from inside an update (a slot may ask for one mid-way)

    # feeding
    def set_listing(self, root_path: bytes | None, listing: Listing) -> None:
        """Replace everything: the root folder's rows, plus any sub-folders listed with it (kept expanded)."""
        self.beginResetModel()
        self.generation += 1
        self.root_path = root_path
        self.root = Node(None, None, 0)
        self._by_path = {}
        if root_path is not None and root_path in listing:
            self._fill(self.root, root_path, listing)
        self.endResetModel()

    def _fill(self, node: Node, path: bytes, listing: Listing) -> None:
        node.fill(listing[path], BATCH)
        self._by_path[path] = node
        for child in node.children:
            if child.row is not None and child.row.path in listing:
                self._fill(child, child.row.path, listing)

    def set_children(self, path: bytes, generation: int, rows: list[Row]) -> None:
        """A worker's answer to `children_wanted`; ignored when the tree was reset since the question."""
        node = self._by_path.get(path) if generation == self.generation else None
        if node is None or node.loaded:
            return
        count = min(BATCH, len(rows))
        if count:
            self.beginInsertRows(self._index_of(node), 0, count - 1)
        node.fill(rows, count)
        if count:
            self.endInsertRows()

    def clear(self) -> None:
        self.set_listing(None, {})

    def loaded_rows(self) -> dict[bytes, Sequence[Row]]:
        """Each loaded folder's rows: what the next listing is diffed against (plain data, for a worker)."""
        return {path: node.rows for path, node in self._by_path.items() if node.loaded}

    def update_listing(self, root_path: bytes | None, listing: Listing, diffs: dict[bytes, RowsDiff | None]) -> bool:
        """Show `listing` by the rows that changed; False when it reset instead (another root, a diff missing)."""
        plan = self._plan(root_path, listing, diffs)
        if plan is None:
            self.set_listing(root_path, listing)
            return False
        self.generation += 1  # children asked for at the old T are dropped when they arrive...
        self._updating = True
        try:
            for path in sorted({*listing, *self._by_path}, key=len):  # parents first
                node = self._by_path.get(path) or self._child_node(path)
                if node is not None and self._attached(node):
                    self._follow(node, path, listing, plan)
        finally:
            self._updating = False
        return True

    def _follow(self, node: Node, path: bytes, listing: Listing, plan: dict[bytes, RowsDiff]) -> None:
        """Bring one folder to the new T: its diff, its first listing, or let go of it when no longer listed."""
        if node.loaded and path in plan and plan[path].base is node.rows:
            self._apply(node, plan[path])
        elif not node.loaded and path in listing:
            node.fill(listing[path], 0)
            self._by_path[path] = node
            self._top_up(node)
        elif node.loaded and path not in listing:
            self._unload(node)
        elif node.pending:
            self.children_wanted.emit(path, self.generation)  # ...and asked for again at the new one

    def _plan(self, root_path: bytes | None, listing: Listing,
              diffs: dict[bytes, RowsDiff | None]) -> dict[bytes, RowsDiff] | None:
        """A usable diff for every loaded folder listed (made here if the worker's started from other rows)."""
        if root_path is None or root_path != self.root_path or root_path not in listing or not self.root.loaded:
            return None
        plan: dict[bytes, RowsDiff] = {}
        for path, rows in listing.items():
            node = self._by_path.get(path)
            if node is None or not node.loaded:
                continue
            diff = diffs.get(path)
            if diff is None or diff.base is not node.rows or diff.rows is not rows:
                diff = diff_rows(node.rows, rows)
            if diff is None or len(diff.removed) + len(diff.inserted) > MOST_RUNS:
                return None
            plan[path] = diff
        return plan

    def _apply(self, node: Node, diff: RowsDiff) -> None:
        for start, count in reversed(diff.removed):
            self._remove(node, start, count)
        for start, count in diff.inserted:
            self._insert(node, start, diff.rows[start:start + count])
        shown = [k for k in diff.changed if k < node.shown]
        renamed = [k for k in shown if name_cell(node.children[k].row) != name_cell(diff.rows[k])]
        for k in diff.changed:
            node.children[k].row = diff.rows[k]
        node.rows = diff.rows
        self._data_changed(node, shown, SIZE, CHANGE)
        self._data_changed(node, renamed, NAME, NAME)
        self._top_up(node)

    def _data_changed(self, node: Node, positions: list[int], first: int, last: int) -> None:
        """Rows changed in columns `first`..`last`. The name column is left out unless what it shows changed:
        a change there makes the sort proxy sort again when it sorts by name (as it does by default)."""
        parent = self._index_of(node)
        for start, count in runs(positions):
            self.dataChanged.emit(self.index(start, first, parent), self.index(start + count - 1, last, parent))

    def _remove(self, node: Node, start: int, count: int) -> None:
        shown = max(0, min(start + count, node.shown) - start)
        if shown:
            self.beginRemoveRows(self._index_of(node), start, start + shown - 1)
        for child in node.children[start:start + count]:
            self._forget(child)
        del node.children[start:start + count]
        node.renumber(start)
        node.shown -= shown
        if shown:
            self.endRemoveRows()

    def _insert(self, node: Node, start: int, rows: Sequence[Row]) -> None:
        visible = start < node.shown
        if visible:
            self.beginInsertRows(self._index_of(node), start, start + len(rows) - 1)
        node.children[start:start] = [Node(r, node, start + i) for i, r in enumerate(rows)]
        node.renumber(start + len(rows))
        if visible:
            node.shown += len(rows)
            self.endInsertRows()

    def _top_up(self, node: Node) -> None:
        """At least a batch shown, as a reset would show."""
        wanted = min(BATCH, len(node.children))
        if node.shown < wanted:
            self.beginInsertRows(self._index_of(node), node.shown, wanted - 1)
            node.shown = wanted
            self.endInsertRows()

    def _unload(self, node: Node) -> None:
        """A folder no longer listed (closed meanwhile): its children are asked for again when it opens."""
        shown = node.shown
        if shown:
            self.beginRemoveRows(self._index_of(node), 0, shown - 1)
        for child in node.children:
            self._forget(child)
        node.children, node.rows, node.shown, node.loaded = [], (), 0, False
        if shown:
            self.endRemoveRows()
        if node.row is not None:
            self._by_path.pop(node.row.path, None)

    def _forget(self, node: Node) -> None:
        """Drop a removed folder and everything loaded below it from the path map."""
        if node.row is not None and node.row.is_dir and self._by_path.get(node.row.path) is node:
            del self._by_path[node.row.path]
            for child in node.children:
                self._forget(child)

    def _child_node(self, path: bytes) -> Node | None:
        parent = self._by_path.get(path.rsplit(b"/", 1)[0])
        child = None if parent is None or not parent.loaded else find_child(parent, path)
        return child if child is not None and child.is_dir else None

    def _attached(self, node: Node) -> bool:
        """Whether `node` is still in the tree (its folder, or one above it, may have just been removed)."""
        while node.parent is not None:
            up = node.parent
            if node.position >= len(up.children) or up.children[node.position] is not node:
                return False
            node = up
        return node is self.root

    # lookup
    def node(self, index: AnyIndex) -> Node:
        return index.internalPointer() if index.isValid() else self.root

    def row_at(self, index: AnyIndex) -> Row | None:
        return self.node(index).row if index.isValid() else None

    def index_for_path(self, path: bytes) -> QModelIndex:
        """The index of a loaded row (only exposed rows; invalid otherwise)."""
        parent = self._by_path.get(path.rsplit(b"/", 1)[0])
        child = None if parent is None else find_child(parent, path)
        if child is None or parent is None or child.position >= parent.shown:
            return QModelIndex()
        return self.createIndex(child.position, 0, child)

    def listed_paths(self) -> list[bytes]:
        """Folders whose children are loaded, root first: what a reset at another T should list again."""
        return list(self._by_path)

    def _index_of(self, node: Node) -> QModelIndex:
        return QModelIndex() if node is self.root else self.createIndex(node.position, 0, node)

    # QAbstractItemModel
    def index(self, row: int, column: int, parent: AnyIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        node = self.node(parent)
        if parent.isValid() and parent.column() != 0:
            return QModelIndex()
        if 0 <= row < node.shown and 0 <= column < len(COLUMNS):
            return self.createIndex(row, column, node.children[row])
        return QModelIndex()

    def parent(self, index: AnyIndex = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        if not index.isValid():
            return QModelIndex()
        up = self.node(index).parent
        return QModelIndex() if up is None or up is self.root else self.createIndex(up.position, 0, up)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid() and parent.column() != 0:
            return 0
        return self.node(parent).shown

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return len(COLUMNS)

    def hasChildren(self, parent: AnyIndex = QModelIndex()) -> bool:  # noqa: B008
        if parent.isValid() and parent.column() != 0:
            return False
        node = self.node(parent)
        if not node.is_dir:
            return False
        return node.shown > 0 if node.loaded or node is self.root else True

    def canFetchMore(self, parent: AnyIndex) -> bool:
        node = self.node(parent)
        if (parent.isValid() and parent.column() != 0) or not node.is_dir:
            return False
        if not node.loaded:
            return node is not self.root and not node.pending
        if self._updating:
            return False
        return node.shown < len(node.children) and (node is not self.root or self.wants_more())

    def fetchMore(self, parent: AnyIndex) -> None:
        if not self.canFetchMore(parent):
            return
        node = self.node(parent)
        if not node.loaded:
            node.pending = True
            assert node.row is not None
            self._by_path[node.row.path] = node
            self.children_wanted.emit(node.row.path, self.generation)
            return
        first, last = node.shown, min(node.shown + BATCH, len(node.children)) - 1
        self.beginInsertRows(parent if parent.column() == 0 else QModelIndex(), first, last)
        node.shown = last + 1
        self.endInsertRows()

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return FLAGS

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = self.row_at(index)
        if row is None:
            return None
        return cell(row, index.column(), role, self.icons)


def find_child(parent: Node, path: bytes) -> Node | None:
    """The child at `path`: found by bisection, the children being in the listing's order (a folder or a file
    of that name), else by a walk (rows out of order: two of one name)."""
    name = os.path.basename(path)
    for is_dir in (True, False):
        i = bisect_left(parent.rows, (not is_dir, natural_key(name), name), key=key)
        found = parent.children[i] if i < len(parent.children) else None
        if found is not None and found.row is not None and found.row.path == path:
            return found
    return next((c for c in parent.children if c.row is not None and c.row.path == path), None)
