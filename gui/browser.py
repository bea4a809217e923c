"""Keeps the folder view and the preview showing time T as the timeline moves and the selection changes.

Every query runs in a worker through the bridge; `LatestOnly` keeps at most one listing and one preview in
flight and drops answers the person has moved past. While the timeline's handle is dragged, the folder is
listed at most once every `DRAG_MS` (the moment it has reached then), and once more where it is let go, so a
drag over thousands of snapshots asks for a few listings a second, not one per snapshot passed. Folders that
were open stay open at the new T, and the selected file stays selected if it existed then; the snapshots
where it changed are asked for once per file and history, not at every T. A listing arrives with what
changed since the rows the view shows (diffed in the worker), and the view is updated by those rows alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from PySide6.QtCore import QItemSelection, QModelIndex, QObject, QTimer, Signal
from PySide6.QtWidgets import QTreeView

from timekeep.core.api import Timekeep
from timekeep.core.types import SnapshotInfo, VersionInfo
from timekeep.gui import wording
from timekeep.gui.engine_bridge import EngineBridge
from timekeep.gui.listing import Listing, Row, TreeRequest, load_tree
from timekeep.gui.listing_diff import RowsDiff, diff_listing
from timekeep.gui.listing_memory import fewer_collections, reuse_listing, settled
from timekeep.gui.models.sort_proxy import FolderSortProxy
from timekeep.gui.models.tree import ROW_ROLE, FolderTreeModel
from timekeep.gui.models.versions import distinct
from timekeep.gui.preview_data import PreviewData, live_preview, stored_preview
from timekeep.gui.widgets.preview import PreviewPane
from timekeep.gui.widgets.timeline import Timeline
from timekeep.gui.workers import LatestOnly

DRAG_MS = 250  # while the handle is dragged: at most one listing this often
Changes = tuple[Listing, dict[bytes, RowsDiff | None]]


def load_changes(tk: Timekeep, request: TreeRequest, base: dict[bytes, Sequence[Row]]) -> Changes:
    """The folders at T, and for each the view had loaded, what changed since the rows it shows (rows that did
    not change are the view's own objects: gui/listing_memory.py)."""
    with fewer_collections():
        listing = reuse_listing(base, load_tree(tk, request))
        changes = listing, diff_listing(base, listing)
    settled()
    return changes


def changed_at(tk: Timekeep, path: bytes) -> frozenset[int]:
    """The snapshots at which a file's content changed: the timeline marks them."""
    versions: list[VersionInfo] = tk.versions(path)
    return frozenset(v.snapshot_id for v in distinct(versions))


class Browser(QObject):
    tree_shown = Signal()  # the view now shows the listing for the current T (tests and status wait on it)
    preview_shown = Signal()
    selection_changed = Signal()

    def __init__(self, bridge: EngineBridge, timeline: Timeline, view: QTreeView, preview: PreviewPane,
                 model: FolderTreeModel) -> None:
        super().__init__(view)
        self.bridge, self.timeline, self.view, self.preview = bridge, timeline, view, preview
        self.model = model
        self.proxy = FolderSortProxy(self)
        self.proxy.setSourceModel(model)
        view.setModel(self.proxy)
        self.root: bytes | None = None
        self.snapshot: SnapshotInfo | None = None  # None: Now
        self.expanded: set[bytes] = set()
        self.selected: Row | None = None
        self._wanted_selection: bytes | None = None
        self._updating = False  # the model is being moved to another T: its row moves are not the person's
        model.wants_more = self._near_end
        self.trees: LatestOnly[Changes] = LatestOnly()
        self.previews: LatestOnly[PreviewData] = LatestOnly()
        self.marks: LatestOnly[frozenset[int]] = LatestOnly()
        self._marked_path: bytes | None = None  # whose changes the timeline marks now (asked once per history)
        self._drag_pause = QTimer(self)
        self._drag_pause.setSingleShot(True)
        self._drag_pause.setInterval(DRAG_MS)
        self._drag_pause.timeout.connect(self._drag_paused)
        self._moved_in_pause = False
        self._connect()

    def _connect(self) -> None:
        self.timeline.position_changed.connect(self.show_time)
        self.timeline.drag_finished.connect(self._drag_finished)
        self.timeline.model.modelReset.connect(self._history_changed)
        self.model.children_wanted.connect(self._children_wanted)
        self.view.expanded.connect(lambda index: self._expanded_changed(index, True))
        self.view.collapsed.connect(lambda index: self._expanded_changed(index, False))
        self.view.selectionModel().selectionChanged.connect(self._selection_changed)

    # what to show
    def show_folder(self, root: bytes | None) -> None:
        if root != self.root:
            self.root, self.expanded, self.selected = root, set(), None
            self._wanted_selection = None
            self.preview.show_message("Select a file to see it as it was")
        self.reload()

    def show_time(self, snapshot: SnapshotInfo | None) -> None:
        self.snapshot = snapshot
        if self.timeline.dragging and self._drag_pause.isActive():
            self._moved_in_pause = True  # listed when the pause ends, or where the handle is let go
            return
        if self.timeline.dragging:
            self._drag_pause.start()
        self.reload()

    def _drag_paused(self) -> None:
        if self._moved_in_pause and self.timeline.dragging:
            self._moved_in_pause = False
            self._drag_pause.start()
            self.reload()

    def _drag_finished(self) -> None:
        self._drag_pause.stop()
        if self._moved_in_pause:
            self._moved_in_pause = False
            self.reload()

    def _history_changed(self) -> None:
        self._marked_path = None  # the file's changes are asked for again (a backup, thinning)

    def previous_snapshot(self) -> SnapshotInfo | None:
        """The snapshot before T, or the latest one when T is Now (what changes are marked against)."""
        snaps = self.timeline.snapshots
        if self.snapshot is None:
            return snaps[-1] if snaps else None
        at = self.timeline.model.position_of(self.snapshot.id) or 0
        return snaps[at - 1] if at > 0 else None

    def previous_id(self) -> int | None:
        before = self.previous_snapshot()
        return None if before is None else before.id

    def snapshot_for(self, row: Row) -> SnapshotInfo | None:
        """Where a row's bytes are: T, or for a row deleted at T the snapshot before, when it still existed."""
        return self.previous_snapshot() if row.deleted else self.snapshot

    def _request(self, folders: tuple[bytes, ...]) -> TreeRequest:
        before = self.previous_snapshot()
        return TreeRequest(None if self.snapshot is None else self.snapshot.id, self.previous_id(), folders,
                           None if before is None else before.time_ns)

    def reload(self) -> None:
        """List the root and every open folder at T (one worker job), then redraw the tree."""
        if self.root is None:
            self.trees.cancel()
            self.model.clear()
            return
        folders = (self.root, *sorted(p for p in self.expanded if p.startswith(self.root + b"/")))
        request = self._request(folders)
        if self.selected is not None:
            self._wanted_selection = self.selected.path
        self.trees.submit(lambda done, failed, _wanted: self.bridge.read(
                              load_changes, request, self.model.loaded_rows(), on_done=done, on_failed=failed),
                          partial(self._tree_loaded, request), self._tree_failed,
                          partial(self._tree_overtaken, request))

    def _tree_loaded(self, request: TreeRequest, changes: Changes) -> None:
        listing, diffs = changes
        self._updating = True
        try:
            self.model.update_listing(request.folders[0], listing, diffs)
            for path in sorted(listing, key=len)[1:]:
                index = self.proxy.mapFromSource(self.model.index_for_path(path))
                if index.isValid() and not self.view.isExpanded(index):
                    self.view.expand(index)
        finally:
            self._updating = False
        self._restore_selection()
        self.tree_shown.emit()

    def _tree_overtaken(self, request: TreeRequest, changes: Changes) -> None:
        """A listing the handle moved past while it ran (a big folder read during a drag): the rows are shown
        meanwhile so the view follows the drag; the selection and the preview wait for the handle's moment."""
        if request.folders[0] != self.root:
            return
        self._updating = True
        try:
            self.model.update_listing(request.folders[0], *changes)
        finally:
            self._updating = False

    def _near_end(self) -> bool:
        """Whether the view is scrolled within a page of its last row (its next batch of rows is wanted)."""
        bar = self.view.verticalScrollBar()
        return bar.value() >= bar.maximum() - bar.pageStep()

    def _tree_failed(self, message: str) -> None:
        self.model.clear()
        self.preview.show_message(message)
        self.tree_shown.emit()

    def _children_wanted(self, path: bytes, generation: int) -> None:
        request = self._request((path,))
        self.bridge.read(load_tree, request,
                         on_done=lambda listing: self.model.set_children(path, generation, listing.get(path, [])))

    def _expanded_changed(self, index: QModelIndex, is_open: bool) -> None:
        row = index.data(ROW_ROLE)
        if row is not None:
            (self.expanded.add if is_open else self.expanded.discard)(row.path)

    # selection and preview
    def _restore_selection(self) -> None:
        path, self._wanted_selection = self._wanted_selection, None
        index = self.proxy.mapFromSource(self.model.index_for_path(path)) if path else QModelIndex()
        if index.isValid():
            if index != self.view.currentIndex():
                self._updating = True  # one preview below, not one per signal Qt sends
                self.view.setCurrentIndex(index)
                self._updating = False
            self._selection_changed()  # same row at another T: refresh the preview even if Qt saw no change
        elif path is not None:
            self._updating = True  # the row went: no neighbour Qt moved the current row to becomes selected
            self.view.selectionModel().clear()
            self._updating = False
            self.previews.cancel()  # its preview at the moment before, still on its way, is not shown over this
            self.selected = None
            self.selection_changed.emit()
            when = "now" if self.snapshot is None else f"on {wording.when(self.snapshot.time_ns)}"
            self.preview.show_message(f"{wording.display_name(path)} did not exist {when}")

    def select_path(self, path: bytes) -> bool:
        index = self.proxy.mapFromSource(self.model.index_for_path(path))
        if index.isValid():
            self.view.setCurrentIndex(index)
        return index.isValid()

    def _selection_changed(self, *_: QItemSelection) -> None:
        if self._updating:
            return
        index = self.view.currentIndex()
        row = index.data(ROW_ROLE) if index.isValid() else None
        self.selected = row
        self.selection_changed.emit()
        if row is None:
            return
        self._load_preview(row)
        self._mark_changes(row)

    def _load_preview(self, row: Row) -> None:
        snapshot = self.snapshot_for(row)
        if row.kind != "file":
            self.previews.cancel()
            self.preview.show_preview(PreviewData(row.path, None, "folder" if row.is_dir else "symlink", 0, None,
                                                  text=wording.display_path(row.link_target or b"")),
                                      None if snapshot is None else snapshot.time_ns)
            self.preview_shown.emit()
            return
        self.preview.show_loading(row.path)
        self.previews.submit(partial(self._start_preview, row.path, snapshot),
                             lambda data: self._preview_loaded(data, snapshot),
                             lambda message: self._preview_failed(row.path, message))

    def _start_preview(self, path: bytes, snapshot: SnapshotInfo | None, done: Callable[[PreviewData], None],
                       failed: Callable[[str], None], wanted: Callable[[], bool]) -> bool:
        if snapshot is None:
            self.bridge.workers.start(live_preview, path, wanted, on_done=done, on_failed=failed, lane="preview")
            return True
        return self.bridge.read(stored_preview, path, snapshot.id, wanted, on_done=done, on_failed=failed,
                                lane="preview")

    def _preview_loaded(self, data: PreviewData, snapshot: SnapshotInfo | None) -> None:
        self.preview.show_preview(data, None if snapshot is None else snapshot.time_ns)
        self.preview_shown.emit()

    def _preview_failed(self, path: bytes, message: str) -> None:
        """One line naming the file: damaged data on the drive is refused, never shown wrong."""
        self.preview.show_failure(path, message)
        self.preview_shown.emit()

    def _mark_changes(self, row: Row) -> None:
        if row.kind != "file":
            self.marks.cancel()
            self._marked_path = None
            self.timeline.set_marked(frozenset())
            return
        if row.path == self._marked_path:
            return  # the same file at another T: the same changes
        self._marked_path = row.path
        self.marks.submit(lambda done, failed, _w: self.bridge.read(changed_at, row.path, on_done=done,
                                                                    on_failed=failed),
                          lambda ids: self.timeline.set_marked(ids, wording.display_name(row.path)),
                          lambda _message: self._marks_failed())

    def _marks_failed(self) -> None:
        self._marked_path = None
        self.timeline.set_marked(frozenset())

