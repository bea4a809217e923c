"""Moving the folder view to another T by the rows that changed: on many random pairs of listings the rows
after the update are those a reset shows (and Qt's model tester sees every step of it), and in the real window
a drag over snapshots keeps the selected file, the open folders and the markers right without resetting."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtTest import QAbstractItemModelTester

from tests.helpers import backup, make_tree, new_repo
from tests.test_gui_window import start_app, wait_tree
from timekeep.gui.listing import Listing, Row, ordered
from timekeep.gui.listing_diff import diff_listing, diff_rows
from timekeep.gui.models import tree
from timekeep.gui.models.sort_proxy import FolderSortProxy
from timekeep.gui.models.tree import CHANGE, NAME, ROW_ROLE, FolderTreeModel

ROOT = b"/r"
NAMES = [f"{stem}{n}" for stem in ("a", "B", "f") for n in (1, 2, 10, 11)]
CHANGES = ("", "new", "changed", "deleted")


@st.composite
def folder_rows(draw: st.DrawFn, folder: bytes) -> list[Row]:
    """A folder's rows in the listing's order: names from a small pool (so two listings share many), each a
    file or a folder, with a size, a time and a marker."""
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=len(NAMES)))
    rows = [Row(folder + b"/" + name.encode(), draw(st.sampled_from(("file", "dir"))), draw(st.integers(0, 2)),
                draw(st.integers(0, 2)), draw(st.sampled_from(CHANGES))) for name in names]
    return ordered(rows)


@st.composite
def listings(draw: st.DrawFn) -> Listing:
    """The root's rows, and those of some of its folders (the ones open in the view)."""
    root = draw(folder_rows(ROOT))
    listing = {ROOT: root}
    for row in root:
        if row.is_dir and draw(st.booleans()):
            listing[row.path] = draw(folder_rows(row.path))
    return listing


def exposed(model: FolderTreeModel, parent: QModelIndex = QModelIndex()) -> list[tuple[Row, object]]:  # noqa: B008
    """The first batch of rows the model exposes to Qt in each folder (more may be: the view fetched them),
    depth first, each with its children (or None: not loaded)."""
    out: list[tuple[Row, object]] = []
    assert model.rowCount(parent) >= min(tree.BATCH, len(model.node(parent).children))
    for r in range(min(tree.BATCH, model.rowCount(parent))):
        index = model.index(r, NAME, parent)
        node = model.node(index)
        out.append((index.data(ROW_ROLE), exposed(model, index) if node.loaded else None))
    return out


def full(model: FolderTreeModel, node: tree.Node | None = None) -> list[tuple[Row | None, object]]:
    node = node or model.root
    return [(c.row, full(model, c) if c.loaded else None) for c in node.children]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(old=listings(), new=listings())
def test_an_update_leaves_the_rows_a_reset_shows(qtbot, qtlog, monkeypatch, old: Listing,  # type: ignore[no-untyped-def]
                                                  new: Listing) -> None:
    monkeypatch.setattr(tree, "BATCH", 3)  # folders longer than a batch, partly exposed
    updated, reset = FolderTreeModel(), FolderTreeModel()
    updated.set_listing(ROOT, old)
    tester = QAbstractItemModelTester(updated, QAbstractItemModelTester.FailureReportingMode.Warning)
    proxy = FolderSortProxy()
    proxy.setSourceModel(updated)
    proxy.sort(NAME, Qt.SortOrder.AscendingOrder)
    earlier = len(qtlog.records)  # the fixture lives across examples: only this one's messages count
    with qtbot.captureExceptions() as raised:
        incremental = updated.update_listing(ROOT, new, diff_listing(updated.loaded_rows(), new))
    assert not raised
    assert not [r.message for r in qtlog.records[earlier:] if "FAIL" in r.message]  # each signal made sense
    reset.set_listing(ROOT, new)
    assert incremental  # both listings are in order: a diff always applies
    assert full(updated) == full(reset)  # every row, at every loaded level, as the reset has them
    assert exposed(updated) == exposed(reset)  # what Qt is shown: at least a batch, as much as it had fetched
    names = [proxy.index(r, NAME).data(ROW_ROLE).name for r in range(proxy.rowCount())]
    assert names == [c.row.name for c in updated.root.children[: updated.rowCount()]]  # sorted as listed
    del tester


def test_rows_out_of_order_get_no_diff_and_reset() -> None:
    a = Row(ROOT + b"/x", "file", 1, 0, "deleted")
    b = Row(ROOT + b"/x", "file", 2, 0)  # one name twice: deleted, and made again at the same snapshot
    assert diff_rows([a], [a, b]) is None
    model = FolderTreeModel()
    model.set_listing(ROOT, {ROOT: [a]})
    resets: list[int] = []
    model.modelReset.connect(lambda: resets.append(1))
    assert not model.update_listing(ROOT, {ROOT: [a, b]}, {ROOT: None})
    assert resets == [1] and model.rowCount() == 2


def test_a_change_of_size_or_time_leaves_the_name_column_alone(qtbot) -> None:  # type: ignore[no-untyped-def]
    """Sorted by name (the default), a row whose size changed is not sorted again: its name cell is unchanged."""
    model = FolderTreeModel()
    rows = [Row(ROOT + b"/a", "file", 1, 0), Row(ROOT + b"/b", "file", 1, 0)]
    model.set_listing(ROOT, {ROOT: rows})
    changed: list[tuple[int, int]] = []
    model.dataChanged.connect(lambda first, last, *_: changed.append((first.column(), last.column())))
    grown = [rows[0], Row(ROOT + b"/b", "file", 5, 9, "changed")]
    model.update_listing(ROOT, {ROOT: grown}, diff_listing(model.loaded_rows(), {ROOT: grown}))
    assert changed == [(1, CHANGE)]
    gone = [rows[0], Row(ROOT + b"/b", "file", 5, 9, "deleted")]
    model.update_listing(ROOT, {ROOT: gone}, diff_listing(model.loaded_rows(), {ROOT: gone}))
    assert changed[1:] == [(1, CHANGE), (NAME, NAME)]  # struck out: the name cell shows it


@pytest.fixture
def moving_history(tmp_path: Path) -> tuple[Path, Path]:
    """Three snapshots: a folder opened and a file selected in the first; the second adds and changes files
    inside and out; the third deletes one."""
    docs = tmp_path / "home" / "Documents"
    make_tree(docs, {"report.txt": b"one\n", "sub": {"a.txt": b"alpha\n"}, **{f"n{i}.txt": b"n" for i in range(12)}})
    repo = new_repo(tmp_path, docs)
    backup(repo)
    (docs / "report.txt").write_bytes(b"one\ntwo\n")
    (docs / "sub" / "b.txt").write_bytes(b"beta\n")
    (docs / "late.txt").write_bytes(b"late\n")
    backup(repo)
    (docs / "late.txt").unlink()
    backup(repo)
    return repo, docs


def marks(window, parent: QModelIndex = QModelIndex()) -> dict[str, str]:  # type: ignore[no-untyped-def]  # noqa: B008
    proxy = window.browser.proxy
    return {proxy.index(r, NAME, parent).data(): proxy.index(r, CHANGE, parent).data()
            for r in range(proxy.rowCount(parent))}


def test_moving_through_time_keeps_the_selection_and_the_open_folders(qtbot, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                      moving_history) -> None:
    repo, docs = moving_history
    app, _ = start_app(qtbot, tmp_path, repo)
    window, timeline, browser = app.window, app.window.timeline, app.window.browser
    try:
        qtbot.waitUntil(lambda: window.history is not None and window.tree_model.rowCount() > 0, timeout=10_000)
        wait_tree(qtbot, window, lambda: timeline.set_position(0))
        sub = browser.proxy.mapFromSource(window.tree_model.index_for_path(os.fsencode(docs / "sub")))
        window.tree_view.expand(sub)
        qtbot.waitUntil(lambda: window.tree_model.node(browser.proxy.mapToSource(sub)).loaded, timeout=10_000)
        assert browser.select_path(os.fsencode(docs / "report.txt"))
        resets: list[int] = []
        window.tree_model.modelReset.connect(lambda: resets.append(1))
        wait_tree(qtbot, window, lambda: timeline.set_position(1))
        sub = browser.proxy.mapFromSource(window.tree_model.index_for_path(os.fsencode(docs / "sub")))
        assert window.tree_view.isExpanded(sub) and marks(window, sub) == {"a.txt": "", "b.txt": "N"}
        shown = marks(window)
        assert shown["report.txt"] == "M" and shown["late.txt"] == "N" and shown["n3.txt"] == ""
        assert browser.selected is not None and browser.selected.path == os.fsencode(docs / "report.txt")
        assert window.tree_view.currentIndex().data() == "report.txt"
        wait_tree(qtbot, window, lambda: timeline.set_position(2))
        assert marks(window)["late.txt"] == "D" and marks(window)["report.txt"] == ""
        assert window.tree_view.isExpanded(sub) and marks(window, sub) == {"a.txt": "", "b.txt": ""}
        assert browser.select_path(os.fsencode(docs / "late.txt"))
        qtbot.waitUntil(lambda: browser.selected is not None and browser.selected.deleted, timeout=10_000)
        wait_tree(qtbot, window, lambda: timeline.set_position(3))  # Now: late.txt is gone
        assert "late.txt" not in marks(window) and browser.selected is None
        assert not window.tree_view.selectionModel().hasSelection()  # no neighbour took its place
        assert "late.txt did not exist now" in window.preview.shown_text()
        assert resets == []  # every move was an update, none a reset
    finally:
        app.shut_down()


def settle() -> None:
    """Run what the event loop has posted (the view's delayed layout, the columns' refit): zero-time timers."""
    from PySide6.QtWidgets import QApplication

    for _ in range(3):
        QApplication.processEvents()


def test_updates_in_a_view_do_not_expose_a_big_folder_batch_by_batch(qtbot) -> None:  # type: ignore[no-untyped-def]
    """Qt's tree view fetches a batch before every layout, and measuring the columns lays it out: updates that
    insert and remove rows must not walk a 10k-entry folder into the view, while scrolling to its end still
    brings the next batch."""
    from PySide6.QtWidgets import QTreeView

    from timekeep.gui.folder_columns import FolderColumns

    model, proxy, view = FolderTreeModel(), FolderSortProxy(), QTreeView()
    proxy.setSourceModel(model)
    view.setModel(proxy)
    view.setUniformRowHeights(True)
    view.setSortingEnabled(True)
    FolderColumns(view)
    view.sortByColumn(NAME, Qt.SortOrder.AscendingOrder)
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.show()
    bar = view.verticalScrollBar()
    model.wants_more = lambda: bar.value() >= bar.maximum() - bar.pageStep()  # as the window's Browser says
    rows = [Row(ROOT + b"/f%05d" % i, "file", i, 0) for i in range(10_000)]
    model.set_listing(ROOT, {ROOT: rows})
    qtbot.waitUntil(lambda: bar.maximum() > 0)
    settle()
    shown = model.rowCount()
    assert shown < 4 * tree.BATCH  # the first layouts, before the view knows its scroll range: a batch or two
    for step in range(8):  # eight moments, each with a file gone and a file new
        moved = [r for i, r in enumerate(rows) if i != step] + [Row(ROOT + b"/g%d" % step, "file", 1, 0)]
        model.update_listing(ROOT, {ROOT: moved}, diff_listing(model.loaded_rows(), {ROOT: moved}))
        settle()  # the view laid out and the columns measured, as between two moments
        rows = moved
    assert model.rowCount() == shown - 8  # each moment: a shown row gone, the new one past the exposed rows
    view.scrollToBottom()
    qtbot.waitUntil(lambda: model.rowCount() > shown)
