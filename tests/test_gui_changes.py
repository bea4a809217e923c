"""What a snapshot changed, as the window shows it: the engine's change kinds as markers, deleted items as
struck-out rows that right-click Restore brings back, and timeline tooltips that count what changed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, QModelIndex, QPoint, Qt
from PySide6.QtGui import QHelpEvent
from PySide6.QtWidgets import QApplication, QToolTip

from tests.helpers import backup, make_tree, new_repo
from tests.test_gui_window import select, start_app, trigger_menu_item, wait_tree
from timekeep.gui import palette, wording
from timekeep.gui.main_window import MainWindow
from timekeep.gui.models.tree import CHANGE, NAME, ROW_ROLE, SIZE
from timekeep.gui.preview_data import hex_dump
from timekeep.gui.widgets.timeline_scale import nearest

BINARY = bytes(range(256)) * 5


@pytest.fixture
def running(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Snapshot 1 stores a folder; snapshot 2 edits, adds, chmods, deletes a file and a whole folder."""
    docs = tmp_path / "home" / "Documents"
    make_tree(docs, {"report.txt": b"one\n", "script.sh": b"echo hi\n", "data.bin": BINARY,
                     "old": {"x.txt": b"x\n", "y.txt": b"y\n"}})
    repo = new_repo(tmp_path, docs)
    backup(repo)
    (docs / "report.txt").write_bytes(b"one\ntwo\n")
    (docs / "script.sh").chmod(0o755)
    (docs / "new.txt").write_bytes(b"new\n")
    (docs / "data.bin").unlink()
    shutil.rmtree(docs / "old")
    backup(repo)
    app, prompts = start_app(qtbot, tmp_path, repo)
    window = app.window
    qtbot.waitUntil(lambda: window.history is not None and window.tree_model.rowCount() > 0, timeout=10_000)
    wait_tree(qtbot, window, lambda: window.timeline.set_position(1))
    yield app, window, prompts, docs
    app.shut_down()


def rows(window: MainWindow, parent: QModelIndex = QModelIndex()) -> dict[str, QModelIndex]:  # noqa: B008
    model = window.tree_model
    return {model.index(r, NAME, parent).data(): model.index(r, NAME, parent) for r in range(model.rowCount(parent))}


def now_apart(window: MainWindow) -> None:
    """Now ten minutes after the last snapshot: with the real clock, Now (read a few milliseconds after the
    second backup) may share the second snapshot's pixel, and a tie goes to Now."""
    last = window.snapshots.snapshots[-1].time_ns
    window.timeline.clock = lambda: last + 600 * 10**9


def test_markers_follow_the_engine_and_say_what_kind_of_change(qtbot, running) -> None:  # type: ignore[no-untyped-def]
    _app, window, _prompts, _docs = running
    shown = rows(window)
    marks = {name: index.siblingAtColumn(CHANGE).data() for name, index in shown.items()}
    assert marks == {"report.txt": "M", "script.sh": "A", "new.txt": "N", "data.bin": "D", "old": "D"}
    tips = {name: index.siblingAtColumn(CHANGE).data(Qt.ItemDataRole.ToolTipRole) for name, index in shown.items()}
    assert tips["new.txt"].startswith("New") and tips["report.txt"].startswith("Changed")
    assert tips["script.sh"].startswith("Metadata only")
    assert len(set(tips.values())) == 4  # new, changed, metadata, deleted: four different explanations


def test_deleted_rows_are_marked_and_restore_the_version_before(qtbot, running) -> None:  # type: ignore[no-untyped-def]
    _app, window, prompts, docs = running
    first = window.snapshots.snapshots[0]
    data = rows(window)["data.bin"]
    assert data.data(Qt.ItemDataRole.FontRole).strikeOut()
    assert data.data(Qt.ItemDataRole.ForegroundRole) == palette.faded_text(palette.current())
    assert "Deleted at this snapshot" in data.data(Qt.ItemDataRole.ToolTipRole)
    assert rows(window)["report.txt"].data(Qt.ItemDataRole.FontRole) is None  # only deleted rows are struck out
    select(qtbot, window, docs / "data.bin")
    assert window.preview.shown_text() == hex_dump(BINARY)  # as it was just before it was deleted
    assert window.preview.details.text().startswith(f"As it was on {wording.when(first.time_ns)}")
    trigger_menu_item(window, "Restore")
    qtbot.waitUntil(lambda: bool(prompts.said), timeout=10_000)
    assert (docs / "data.bin").read_bytes() == BINARY
    assert prompts.said[-1][2] == f"Restored data.bin as it was on {wording.when(first.time_ns)}."


def test_a_deleted_folder_opens_on_what_went_with_it_and_comes_back(qtbot, running) -> None:  # type: ignore[no-untyped-def]
    _app, window, prompts, docs = running
    old = window.browser.proxy.mapFromSource(rows(window)["old"])
    window.tree_view.expand(old)
    node = window.tree_model.node(window.browser.proxy.mapToSource(old))
    qtbot.waitUntil(lambda: node.loaded, timeout=10_000)
    inside = rows(window, rows(window)["old"])
    assert sorted(inside) == ["x.txt", "y.txt"]
    assert all(index.data(ROW_ROLE).deleted for index in inside.values())
    select(qtbot, window, docs / "old")
    trigger_menu_item(window, "Restore")
    qtbot.waitUntil(lambda: bool(prompts.said), timeout=10_000)
    assert (docs / "old" / "x.txt").read_bytes() == b"x\n" and (docs / "old" / "y.txt").read_bytes() == b"y\n"


def test_a_tick_tooltip_says_what_the_snapshot_changed(qtbot, running) -> None:  # type: ignore[no-untyped-def]
    _app, window, _prompts, _docs = running
    timeline = window.timeline
    timeline.resize(800, timeline.sizeHint().height())
    now_apart(window)
    x = timeline.tick_xs()[1]
    first = timeline._tooltip_at(x)
    assert "Looking up what changed" in first  # counted in a worker, not on the GUI thread
    second_id = window.snapshots.snapshots[1].id
    qtbot.waitUntil(lambda: second_id in window.snapshots.summaries, timeout=10_000)
    text = timeline._tooltip_at(x)
    assert "3 files changed, 3 deleted" in text
    assert "Most changes in: Documents (4), Documents/old (2)" in text


def test_a_shown_tooltip_fills_in_when_the_summary_arrives(qtbot, running) -> None:  # type: ignore[no-untyped-def]
    _app, window, _prompts, _docs = running
    timeline = window.timeline
    window.show()
    qtbot.waitExposed(window)
    now_apart(window)
    xs = timeline.tick_xs()
    x = max(0, int(xs[0]) - 2)  # just left of the first tick
    # on a loaded machine the two snapshots (taken a moment apart) may share a pixel, and a tie goes to the later
    hovered = nearest(xs, x)
    assert hovered in (0, 1), "a snapshot's tick is under the pointer, not Now's"
    pos = QPoint(x, int(timeline._axis_y()))
    QApplication.sendEvent(timeline, QHelpEvent(QEvent.Type.ToolTip, pos, timeline.mapToGlobal(pos)))
    qtbot.waitUntil(lambda: "Most changes in: Documents" in QToolTip.text(), timeout=10_000)
    # the first snapshot stored every file; the second changed three and deleted three
    assert ("5 files changed" if hovered == 0 else "3 files changed, 3 deleted") in QToolTip.text()


def test_now_leaves_out_pipes_and_shows_no_size_for_links(qtbot, running) -> None:  # type: ignore[no-untyped-def]
    """A FIFO is never backed up, so Now does not call it new; a link's size column stays empty."""
    _app, window, _prompts, docs = running
    os.mkfifo(docs / "pipe")
    (docs / "link").symlink_to("report.txt")
    wait_tree(qtbot, window, lambda: window.timeline.set_position(window.timeline.now_position))
    rows = {window.tree_model.index(r, NAME).data(): window.tree_model.index(r, SIZE).data()
            for r in range(window.tree_model.rowCount())}
    assert "pipe" not in rows
    assert rows["link → report.txt"] == ""
