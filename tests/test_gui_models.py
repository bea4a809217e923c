"""The item models over the real engine: the tree at T passes Qt's model tester, loads a 10k-entry folder
lazily, sorts folders first; the snapshots and versions models pass the tester too."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QTreeView

from tests.helpers import backup, make_tree, new_repo
from timekeep.core.api import Timekeep
from timekeep.gui.listing import TreeRequest, load_tree
from timekeep.gui.models.snapshots import SnapshotsModel
from timekeep.gui.models.sort_proxy import FolderSortProxy
from timekeep.gui.models.tree import BATCH, NAME, ROW_ROLE, SIZE, FolderTreeModel
from timekeep.gui.models.versions import VersionsModel

SPEC = {"notes.txt": b"hello\n", "b.bin": b"\x00" * 50, "Zdir": {"inner.txt": b"in\n", "deep": {"x": b"x"}},
        "adir": {}, "link": "-> notes.txt"}


@pytest.fixture
def history(tmp_path: Path) -> tuple[Path, Path, list[int]]:
    folder = tmp_path / "home" / "docs"
    make_tree(folder, SPEC)
    repo = new_repo(tmp_path, folder)
    first = backup(repo)
    (folder / "notes.txt").write_bytes(b"hello again\n")
    (folder / "Zdir" / "new.txt").write_bytes(b"new\n")
    return repo, folder, [first, backup(repo)]


def answering_model(tk: Timekeep, snapshot_id: int) -> tuple[FolderTreeModel, list[bytes]]:
    """A model whose folders load when expanded, answered later from the event loop as the app's worker does;
    and the folders asked for whose answers have not landed yet."""
    model = FolderTreeModel()
    waiting: list[bytes] = []

    def answer(path: bytes, generation: int) -> None:
        listing = load_tree(tk, TreeRequest(snapshot_id, None, (path,)))
        waiting.append(path)

        def land() -> None:
            waiting.remove(path)
            model.set_children(path, generation, listing.get(path, []))  # the tester may ask for more here

        QTimer.singleShot(0, land)

    model.children_wanted.connect(answer)
    return model, waiting


def test_tree_model_passes_the_model_tester(qtbot, qtmodeltester, history) -> None:  # type: ignore[no-untyped-def]
    repo, folder, snaps = history
    root = os.fsencode(folder)
    with Timekeep.open(repo) as tk:
        model, waiting = answering_model(tk, snaps[-1])
        model.set_listing(root, load_tree(tk, TreeRequest(snaps[-1], snaps[0], (root,))))
        qtmodeltester.check(model)
        zdir = model.index_for_path(root + b"/Zdir")
        model.fetchMore(zdir)
        qtbot.waitUntil(lambda: model.rowCount(zdir) > 0)
        qtbot.waitUntil(lambda: not waiting)  # the tester expands further folders as they appear: those too
        names = [model.index(i, NAME, zdir).data() for i in range(model.rowCount(zdir))]
        assert names == ["deep", "inner.txt", "new.txt"]
        model.set_listing(root, load_tree(tk, TreeRequest(snaps[0], None, (root, root + b"/Zdir"))))
        zdir = model.index_for_path(root + b"/Zdir")
        assert [model.index(i, NAME, zdir).data() for i in range(model.rowCount(zdir))] == ["deep", "inner.txt"]


def test_sorting_proxy_passes_the_model_tester(qtbot, qtmodeltester, history) -> None:  # type: ignore[no-untyped-def]
    repo, folder, snaps = history
    root = os.fsencode(folder)
    with Timekeep.open(repo) as tk:
        model, waiting = answering_model(tk, snaps[-1])
        model.set_listing(root, load_tree(tk, TreeRequest(snaps[-1], snaps[0], (root,))))
        proxy = FolderSortProxy()
        proxy.setSourceModel(model)
        proxy.sort(NAME, Qt.SortOrder.AscendingOrder)
        qtmodeltester.check(proxy)
        assert waiting  # the tester expanded folders...
        qtbot.waitUntil(lambda: not waiting)  # ...which load now, under its watch


def test_answers_for_an_old_generation_are_dropped(history) -> None:  # type: ignore[no-untyped-def]
    repo, folder, snaps = history
    root = os.fsencode(folder)
    with Timekeep.open(repo) as tk:
        model = FolderTreeModel()
        asked: list[tuple[bytes, int]] = []
        model.children_wanted.connect(lambda path, generation: asked.append((path, generation)))
        model.set_listing(root, load_tree(tk, TreeRequest(snaps[-1], None, (root,))))
        model.fetchMore(model.index_for_path(root + b"/Zdir"))
        (path, generation), = asked
        model.set_listing(root, load_tree(tk, TreeRequest(snaps[0], None, (root,))))
        model.set_children(path, generation, load_tree(tk, TreeRequest(snaps[-1], None, (path,)))[path])
        assert model.rowCount(model.index_for_path(path)) == 0  # stale: the tree moved to another T meanwhile


@pytest.mark.parametrize("order", [Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder])
def test_folders_come_first_in_either_order(history, order) -> None:  # type: ignore[no-untyped-def]
    repo, folder, snaps = history
    root = os.fsencode(folder)
    with Timekeep.open(repo) as tk:
        model = FolderTreeModel()
        model.set_listing(root, load_tree(tk, TreeRequest(snaps[-1], None, (root,))))
    proxy = FolderSortProxy()
    proxy.setSourceModel(model)
    proxy.sort(SIZE, order)
    kinds = [proxy.index(i, 0).data(ROW_ROLE).kind for i in range(proxy.rowCount())]
    assert kinds[:2] == ["dir", "dir"] and "dir" not in kinds[2:]
    proxy.sort(NAME, order)
    names = [proxy.index(i, 0).data() for i in range(proxy.rowCount())]
    files = ["b.bin", "link → notes.txt", "notes.txt"]
    assert names == (["adir", "Zdir", *files] if order == Qt.SortOrder.AscendingOrder
                     else ["Zdir", "adir", *reversed(files)])


def tree_in_a_view(qtbot) -> tuple[FolderTreeModel, FolderSortProxy, QTreeView]:  # type: ignore[no-untyped-def]
    model = FolderTreeModel()
    proxy = FolderSortProxy()
    proxy.setSourceModel(model)
    view = QTreeView()
    view.setModel(proxy)
    view.setUniformRowHeights(True)
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.show()
    return model, proxy, view


def test_a_folder_of_many_batches_loads_lazily(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Eight batches of rows: the view is given one, scrolling fetches more, never all at once. (A 10,000-entry
    folder proved no more here and cost a 10,000-file backup; how fast that one lists is bench/'s to measure.)"""
    entries = 8 * BATCH
    folder = tmp_path / "home" / "many"
    folder.mkdir(parents=True)
    for i in range(entries):
        (folder / f"f{i:05}.txt").write_bytes(b"%d" % i)
    repo = new_repo(tmp_path, folder)
    sid = backup(repo)
    root = os.fsencode(folder)
    with Timekeep.open(repo) as tk:
        listing = load_tree(tk, TreeRequest(sid, None, (root,)))
    assert len(listing[root]) == entries
    model, proxy, view = tree_in_a_view(qtbot)
    model.set_listing(root, listing)
    assert model.rowCount() == BATCH and model.canFetchMore(view.rootIndex())
    view.scrollToBottom()  # scrolling to the end is what makes a view fetch more
    qtbot.waitUntil(lambda: model.rowCount() > BATCH)
    assert model.rowCount() < entries
    while model.canFetchMore(view.rootIndex()):
        model.fetchMore(view.rootIndex())
    assert model.rowCount() == entries
    assert proxy.index(entries - 1, NAME).data() == f"f{entries - 1:05}.txt"


def test_snapshots_and_versions_models_pass_the_tester(qtmodeltester, history) -> None:  # type: ignore[no-untyped-def]
    repo, folder, _snaps = history
    with Timekeep.open(repo) as tk:
        snapshots = SnapshotsModel()
        snapshots.set_snapshots(tk.snapshots())
        qtmodeltester.check(snapshots)
        versions = VersionsModel()
        versions.set_versions(tk.versions(os.fsencode(folder / "notes.txt")))
        qtmodeltester.check(versions)
    assert versions.rowCount() == 2
    assert [versions.index(r, 2).data() for r in range(2)] == ["Created", "Changed, 6 bytes larger"]
