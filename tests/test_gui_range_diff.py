"""What changed between two moments chosen on the timeline: Shift-click and Shift+arrows choose a range, the
window lists the engine's diff for it (summary, then each path with its sizes), and each file opens in the
compare view, the earlier moment beside the later one; real window, real repositories, plain and encrypted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt

from tests.test_find_diff import Story
from tests.test_gui_window import start_app
from timekeep.core.types import Change, SnapshotInfo
from timekeep.gui import wording
from timekeep.gui.dialogs.compare import Side, no_differences
from timekeep.gui.main_window import MainWindow
from timekeep.gui.models.snapshots import SnapshotsModel
from timekeep.gui.range_diff import RangeDiffDialog, sides, size_text
from timekeep.gui.widgets.timeline import Timeline

HOUR = 3600 * 10**9
NOW = 1_800_000_000 * 10**9


def test_shift_click_chooses_a_range_and_a_plain_click_ends_it(qtbot) -> None:  # type: ignore[no-untyped-def]
    model = SnapshotsModel()
    model.set_snapshots([SnapshotInfo(i + 1, NOW - (5 - i) * HOUR, "schedule") for i in range(4)], [])
    timeline = Timeline(model, clock=lambda: NOW)
    qtbot.addWidget(timeline)
    timeline.resize(800, timeline.sizeHint().height())
    timeline.set_position(1)
    xs = timeline.tick_xs()
    with qtbot.waitSignal(timeline.range_chosen) as chosen:
        qtbot.mouseClick(timeline, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier,
                         QPoint(int(xs[3]), 14))
    assert [None if s is None else s.id for s in chosen.args] == [2, 4]
    assert timeline.position == 1 and timeline.range == (1, 3)  # the handle stays where it was
    with qtbot.waitSignal(timeline.range_chosen) as chosen:  # back to the left, and up to Now
        qtbot.mouseClick(timeline, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier,
                         QPoint(int(xs[4]), 14))
    assert chosen.args[0].id == 2 and chosen.args[1] is None
    with qtbot.waitSignal(timeline.range_chosen) as chosen:
        qtbot.mouseClick(timeline, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier,
                         QPoint(int(xs[0]), 14))
    assert [s.id for s in chosen.args] == [1, 2]
    qtbot.mouseClick(timeline, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(int(xs[2]), 14))
    assert timeline.range is None and timeline.position == 2


def test_shift_arrows_grow_the_range_from_the_handle(qtbot) -> None:  # type: ignore[no-untyped-def]
    model = SnapshotsModel()
    model.set_snapshots([SnapshotInfo(i + 1, NOW - (5 - i) * HOUR, "schedule") for i in range(4)], [])
    timeline = Timeline(model, clock=lambda: NOW)
    qtbot.addWidget(timeline)
    timeline.set_position(2)
    chosen: list[tuple[int, int | None]] = []
    timeline.range_chosen.connect(lambda a, b: chosen.append((a.id, None if b is None else b.id)))
    for _ in range(3):
        qtbot.keyClick(timeline, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)
    assert chosen == [(2, 3), (1, 3)] and timeline.range == (2, 0)  # the first snapshot is as far as it goes
    qtbot.keyClick(timeline, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert chosen[-1] == (2, 3)


def test_each_side_of_a_change_is_the_file_at_that_moment() -> None:
    before, after = SnapshotInfo(1, 10, "manual"), SnapshotInfo(2, 20, "manual")
    renamed = Change(b"/d/new.txt", "renamed", "file", 5, 5, origin=b"/d/old.txt")
    assert sides(renamed, before, after) == (Side(b"/d/old.txt", 1, 10), Side(b"/d/new.txt", 2, 20))
    added = Change(b"/d/a.txt", "added", "file", None, 3)
    assert sides(added, before, None) == (Side(b"/d/a.txt", 1, 10, absent=True), Side(b"/d/a.txt"))
    deleted = Change(b"/d/x.txt", "deleted", "file", 7, None)
    assert sides(deleted, before, after)[1] == Side(b"/d/x.txt", 2, 20, absent=True)
    assert size_text(added) == "3 bytes" and size_text(renamed) == "5 bytes"
    assert size_text(Change(b"/d", "changed", "dir", 0, 0)) == ""
    assert " → " in size_text(Change(b"/d/c", "changed", "file", 1000, 2000))


def test_no_differences_names_the_two_moments_compared() -> None:
    then, later = wording.when(10 * HOUR), wording.when(12 * HOUR)
    path = b"/d/a.txt"
    assert no_differences(Side(path, 1, 10 * HOUR), Side(path)) == \
        f"No differences: the file is the same now as it was on {then}"
    assert no_differences(Side(path, 1, 10 * HOUR), Side(path, 2, 12 * HOUR)) == \
        f"No differences: the file was the same on {then} and on {later}"
    assert "now" not in no_differences(Side(path, 1, 10 * HOUR), Side(path, 2, 12 * HOUR))
    assert no_differences(Side(path, 1, 10 * HOUR, absent=True), Side(path)) == "No lines differ: the file was empty"


def choose(qtbot, window: MainWindow, first: int, steps: int) -> RangeDiffDialog:  # type: ignore[no-untyped-def]
    window.timeline.set_snapshot(first)
    window.timeline.range = None
    for _ in range(steps - 1):
        qtbot.keyClick(window.timeline, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    dialog = window.range_diff.dialog
    if dialog is None:
        with qtbot.waitSignal(window.timeline.range_chosen, timeout=10_000):
            qtbot.keyClick(window.timeline, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
        dialog = window.range_diff.dialog
        assert dialog is not None
        qtbot.waitUntil(lambda: "Looking" not in dialog.heading.text(), timeout=10_000)
        return dialog
    with qtbot.waitSignal(dialog.loaded, timeout=10_000):
        qtbot.keyClick(window.timeline, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    return dialog


def rows(dialog: RangeDiffDialog) -> dict[str, tuple[str, str]]:
    return {dialog.model.index(r, 1).data(): (dialog.model.index(r, 0).data(), dialog.model.index(r, 2).data())
            for r in range(dialog.model.rowCount())}


def compared(qtbot, dialog: RangeDiffDialog, path_text: str):  # type: ignore[no-untyped-def]
    row = next(r for r in range(dialog.model.rowCount()) if dialog.model.index(r, 1).data() == path_text)
    dialog.view.setCurrentIndex(dialog.model.index(row, 0))
    assert dialog.compare_button.isEnabled()
    dialog.compare_button.click()
    shown = dialog.compared
    assert shown is not None
    qtbot.waitUntil(lambda: shown.comparison is not None, timeout=10_000)
    return shown


@pytest.fixture
def story(qtbot, tmp_path: Path, plain_and_encrypted: str):  # type: ignore[no-untyped-def]
    told = Story(tmp_path)
    app, _ = start_app(qtbot, tmp_path, told.repo)
    window = app.window
    qtbot.waitUntil(lambda: window.history is not None and window.timeline.now_position == 4, timeout=10_000)
    yield told, window
    app.shut_down()


def test_a_range_lists_every_change_with_a_summary_and_sizes(qtbot, story) -> None:  # type: ignore[no-untyped-def]
    told, window = story
    dialog = choose(qtbot, window, told.s1, 1)
    assert dialog.isVisible() and "From " in dialog.heading.text()
    assert "1 changed, 1 attributes only, 1 deleted, 1 renamed (4 paths)." in dialog.heading.text()
    listed = rows(dialog)
    assert listed["Documents/Report 2026.txt"] == ("changed", "600 bytes → 650 bytes")
    assert listed["Documents/old report.txt"] == ("deleted", "13 bytes")
    assert listed["Documents/notes.md"][0] == "attributes only"
    assert listed["Documents/Photos/holiday.png → Documents/holiday renamed.png"] == ("renamed", "3.0 kB")
    report = compared(qtbot, dialog, "Documents/Report 2026.txt")
    assert {(r.old, r.new) for r in report.comparison.rows} == {("first draft", "second draft")}
    assert "Now" not in report.titles[1].text()
    report.close()
    chmodded = compared(qtbot, dialog, "Documents/notes.md")  # two stored versions with the same lines
    times = {snap.id: wording.when(snap.time_ns) for snap in window.history.snapshots}
    said = f"No differences: the file was the same on {times[told.s1]} and on {times[told.s2]}"
    assert chmodded.summary.text() == said
    chmodded.close()


def test_one_dialog_follows_the_range_and_now_reads_the_disk(qtbot, story) -> None:  # type: ignore[no-untyped-def]
    told, window = story
    first = choose(qtbot, window, told.s2, 1)
    assert rows(first) == {"Documents/old report.txt": ("added", "10 bytes")}
    added = compared(qtbot, first, "Documents/old report.txt")
    assert [(r.old, r.new, r.tag) for r in added.comparison.rows] == [(None, "back again", "insert")]
    assert added.titles[0].text().startswith("<b>Nothing on")
    added.close()
    told.write("notes.md", b"# notes\nmore\n")
    again = choose(qtbot, window, told.s4, 1)  # the last snapshot to Now
    assert again is first and rows(again) == {"Documents/notes.md": ("changed", "8 bytes → 13 bytes")}
    now = compared(qtbot, again, "Documents/notes.md")
    assert [r.new for r in now.comparison.rows] == ["# notes", "more"]
    assert now.titles[1].text() == "<b>Now, on this computer</b>"
    now.close()
    assert os.path.exists(told.src / "notes.md")


def test_the_diff_is_read_off_the_gui_thread_and_a_long_one_lists_the_first(qtbot, story, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import threading

    from timekeep.gui import range_diff

    told, window = story
    threads: list[bool] = []
    real = range_diff.diff_job

    def watched(tk, before, after):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread() is threading.main_thread())
        return real(tk, before, after)

    monkeypatch.setattr(range_diff, "diff_job", watched)
    monkeypatch.setattr(range_diff, "SHOWN", 2)
    dialog = choose(qtbot, window, told.s1, 3)
    assert threads and not any(threads) and dialog.model.rowCount() == 2
    assert "The first 2 are listed." in dialog.heading.text()


def test_a_shift_drag_stretches_the_range(qtbot) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    model = SnapshotsModel()
    model.set_snapshots([SnapshotInfo(i + 1, NOW - (5 - i) * HOUR, "schedule") for i in range(4)], [])
    timeline = Timeline(model, clock=lambda: NOW)
    qtbot.addWidget(timeline)
    timeline.resize(800, timeline.sizeHint().height())
    timeline.set_position(0)
    ends: list[int | None] = []
    timeline.range_chosen.connect(lambda _a, b: ends.append(None if b is None else b.id))
    for x in timeline.tick_xs()[1:]:
        move = QMouseEvent(QMouseEvent.Type.MouseMove, QPointF(x, 14), QPointF(x, 14), Qt.MouseButton.NoButton,
                           Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier)
        QApplication.sendEvent(timeline, move)
    assert ends == [2, 3, 4, None] and timeline.range == (0, 4) and timeline.position == 0
