"""The main window over the real engine: the timeline shows each snapshot exactly, the preview follows,
right-click Restore puts the bytes back, versions and compare work, Back up now reports progress, a missing
drive is a calm state, and the window keeps answering while a big backup runs."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, Qt, QTimer
from PySide6.QtGui import QGuiApplication

from tests.helpers import backup, make_tree, new_repo, read_tree
from timekeep.gui.app import TimekeepApp
from timekeep.gui.main_window import MainWindow
from timekeep.gui.models.tree import CHANGE, NAME, ROW_ROLE
from timekeep.gui.preview_data import hex_dump
from timekeep.gui.prompts import ScriptedPrompts
from timekeep.gui.settings import AppPaths, AppSettings

BINARY = bytes(range(256)) * 3


@pytest.fixture
def history(tmp_path: Path) -> tuple[Path, Path, list[dict[bytes, tuple[str, bytes, int]]]]:
    """Three snapshots of a small folder, with the exact tree state at each."""
    docs = tmp_path / "home" / "Documents"
    make_tree(docs, {"report.txt": b"draft one\n", "data.bin": BINARY, "sub": {"a.txt": b"alpha\n"}})
    repo = new_repo(tmp_path, docs)
    states = []
    backup(repo)
    states.append(read_tree(docs))
    (docs / "report.txt").write_bytes(b"draft one\ndraft two\n")
    (docs / "sub" / "b.txt").write_bytes(b"beta\n")
    backup(repo)
    states.append(read_tree(docs))
    (docs / "data.bin").unlink()
    (docs / "report.txt").write_bytes(b"final\n")
    backup(repo)
    states.append(read_tree(docs))
    return repo, docs, states


def start_app(qtbot, tmp_path: Path, repo: Path, **settings) -> tuple[TimekeepApp, ScriptedPrompts]:  # type: ignore[no-untyped-def]
    prompts = ScriptedPrompts()
    app = TimekeepApp(AppPaths(tmp_path / "config", tmp_path / "cache"), prompts,
                      AppSettings(repository=str(repo), **settings), tray=False)
    app.start()
    assert app.window is not None
    qtbot.addWidget(app.window)
    return app, prompts


@pytest.fixture
def running(qtbot, tmp_path: Path, history):  # type: ignore[no-untyped-def]
    repo, docs, states = history
    app, prompts = start_app(qtbot, tmp_path, repo)
    window = app.window
    qtbot.waitUntil(lambda: window.history is not None and window.tree_model.rowCount() > 0, timeout=10_000)
    yield app, window, prompts, docs, states
    app.shut_down()


def wait_tree(qtbot, window: MainWindow, action) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(window.browser.tree_shown, timeout=10_000):
        action()


def shown_tree(qtbot, window: MainWindow, root: Path) -> dict[bytes, tuple[str, int]]:  # type: ignore[no-untyped-def]
    """Everything the view shows as there at T (deleted rows left out), opening every folder (each opens in a
    worker, as a person's click would)."""
    found: dict[bytes, tuple[str, int]] = {}
    proxy, base = window.browser.proxy, os.fsencode(root) + b"/"

    def walk(parent: QModelIndex) -> None:
        for r in range(proxy.rowCount(parent)):
            index = proxy.index(r, NAME, parent)
            row = index.data(ROW_ROLE)
            if row.deleted:
                continue
            found[row.path.removeprefix(base)] = (row.kind, row.size if row.kind == "file" else 0)
            if row.kind == "dir":
                window.tree_view.expand(index)
                node = window.tree_model.node(proxy.mapToSource(index))
                qtbot.waitUntil(lambda node=node: node.loaded, timeout=10_000)
                walk(proxy.index(r, NAME, parent))

    walk(QModelIndex())
    return found


def expected_tree(state: dict[bytes, tuple[str, bytes, int]]) -> dict[bytes, tuple[str, int]]:
    return {rel: (kind, len(data) if kind == "file" else 0) for rel, (kind, data, _mode) in state.items()}


def select(qtbot, window: MainWindow, path: Path) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(window.browser.preview_shown, timeout=10_000):
        assert window.browser.select_path(os.fsencode(path))


def test_the_timeline_shows_each_snapshot_exactly(qtbot, running) -> None:  # type: ignore[no-untyped-def]
    _app, window, _prompts, docs, states = running
    assert window.timeline.now_position == 3
    for position, state in enumerate(states):
        wait_tree(qtbot, window, lambda position=position: window.timeline.set_position(position))
        assert shown_tree(qtbot, window, docs) == expected_tree(state)
        for rel, (kind, data, _mode) in state.items():
            if kind != "file":
                continue
            select(qtbot, window, docs / os.fsdecode(rel))
            shown = window.preview.current
            assert shown is not None and shown.size == len(data) and shown.snapshot_id is not None
            expected = hex_dump(data) if rel == b"data.bin" else data.decode()
            assert window.preview.shown_text() == expected


def test_arrow_keys_step_and_changes_are_marked(qtbot, running) -> None:  # type: ignore[no-untyped-def]
    _app, window, _prompts, docs, _states = running
    window.timeline.setFocus()
    wait_tree(qtbot, window, lambda: qtbot.keyClick(window.timeline, Qt.Key.Key_Left))
    assert window.timeline.position == 2
    marks = {window.tree_model.index(r, NAME).data(): window.tree_model.index(r, 3).data()
             for r in range(window.tree_model.rowCount())}
    assert marks == {"sub": "", "report.txt": "M", "data.bin": "D"}  # data.bin: deleted at this snapshot
    select(qtbot, window, docs / "report.txt")
    qtbot.waitUntil(lambda: len(window.timeline.marked) == 3, timeout=10_000)  # report.txt changed every time
    wait_tree(qtbot, window, lambda: qtbot.keyClick(window.timeline, Qt.Key.Key_Left,
                                                    Qt.KeyboardModifier.ControlModifier))
    assert window.timeline.position == 1
    wait_tree(qtbot, window, lambda: qtbot.keyClick(window.timeline, Qt.Key.Key_Home))
    assert window.timeline.position == 0
    wait_tree(qtbot, window, lambda: qtbot.keyClick(window.timeline, Qt.Key.Key_End))
    assert window.timeline.current() is None  # Now: the live folder
    (docs / "fresh.txt").write_bytes(b"not backed up yet\n")
    wait_tree(qtbot, window, lambda: window.browser.reload())
    fresh = window.tree_model.index_for_path(os.fsencode(docs / "fresh.txt"))
    assert fresh.siblingAtColumn(3).data() == "N"


def test_right_click_restore_puts_the_bytes_back(qtbot, running) -> None:  # type: ignore[no-untyped-def]
    _app, window, prompts, docs, _states = running
    wait_tree(qtbot, window, lambda: window.timeline.set_position(0))
    select(qtbot, window, docs / "data.bin")  # deleted since: comes back in place
    trigger_menu_item(window, "Restore")
    qtbot.waitUntil(lambda: bool(prompts.said), timeout=10_000)
    assert (docs / "data.bin").read_bytes() == BINARY
    assert prompts.said[-1][2].startswith("Restored data.bin as it was on ")
    select(qtbot, window, docs / "report.txt")  # changed since: kept, the old one written beside it
    trigger_menu_item(window, "Restore")
    qtbot.waitUntil(lambda: len(prompts.said) == 2, timeout=10_000)
    assert (docs / "report.txt").read_bytes() == b"final\n"
    beside = [p for p in docs.iterdir() if p.name.startswith("report (restored ")]
    assert len(beside) == 1 and beside[0].read_bytes() == b"draft one\n"
    assert "so it was kept" in prompts.said[-1][2]


def trigger_menu_item(window: MainWindow, text: str) -> None:
    """Right-click the selected row and choose `text` from the menu that opens."""
    view = window.tree_view
    rect = view.visualRect(view.currentIndex())
    view.customContextMenuRequested.emit(rect.center())
    menu = window.last_menu
    assert menu is not None
    action = next(a for a in menu.actions() if a.text() == text)
    assert action.isEnabled()
    action.trigger()
    menu.close()


def restore_sub_elsewhere(qtbot, running, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """"Restore to…" of the folder `sub` as it was at the second snapshot, into a new folder; it, once said done."""
    _app, window, prompts, docs, _states = running
    wait_tree(qtbot, window, lambda: window.timeline.set_position(1))
    select(qtbot, window, docs / "sub")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    prompts.folders.append(str(elsewhere))
    trigger_menu_item(window, "Restore to…")
    qtbot.waitUntil(lambda: prompts.said[-1][0] in ("inform", "warn"), timeout=10_000)
    return elsewhere


def test_restore_to_another_folder(qtbot, running, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    elsewhere = restore_sub_elsewhere(qtbot, running, tmp_path)
    states, prompts = running[4], running[2]
    assert prompts.said[-1][0] == "inform"
    assert read_tree(elsewhere / "sub") == {k[4:]: v for k, v in states[1].items() if k.startswith(b"sub/")}


def test_versions_dialog_and_compare(qtbot, running) -> None:  # type: ignore[no-untyped-def]
    _app, window, _prompts, docs, _states = running
    wait_tree(qtbot, window, lambda: window.timeline.set_position(1))
    select(qtbot, window, docs / "report.txt")
    dialog = window.actions_.show_versions()
    qtbot.waitUntil(lambda: dialog.model.rowCount() == 3, timeout=10_000)
    assert [dialog.model.index(r, 2).data() for r in range(3)] == ["Created", "Changed, 10 bytes larger",
                                                                      "Changed, 14 bytes smaller"]
    dialog.preview_row(dialog.model.index(0, 0))
    qtbot.waitUntil(lambda: dialog.preview.current is not None, timeout=10_000)
    assert dialog.preview.shown_text() == "draft one\n"
    dialog.close()
    compare = window.actions_.compare()
    qtbot.waitUntil(lambda: compare.comparison is not None, timeout=10_000)
    assert compare.old_pane.toPlainText() == "~ draft one\n- draft two"
    assert compare.new_pane.toPlainText() == "~ final\n"
    assert compare.summary.text().startswith("2 lines differ: 1 changed, 0 added, 1 removed")
    compare.close()


def test_back_up_now_shows_progress_and_the_new_snapshot(qtbot, running) -> None:  # type: ignore[no-untyped-def]
    app, window, _prompts, docs, _states = running
    (docs / "later.txt").write_bytes(b"later\n")
    with qtbot.waitSignal(app.bridge.backup_finished, timeout=20_000):
        window.backup_action.trigger()
        assert not window.backup_action.isEnabled()
    qtbot.waitUntil(lambda: window.timeline.now_position == 4, timeout=10_000)
    assert window.status_text().startswith("Backup finished") or window.status_text().startswith("Last backup")
    assert app.settings.last_backup_ns == window.snapshots.snapshots[-1].time_ns
    wait_tree(qtbot, window, lambda: window.timeline.set_position(3))
    later = window.tree_model.index_for_path(os.fsencode(docs / "later.txt"))
    assert later.isValid() and later.siblingAtColumn(3).data() == "N"


def test_a_missing_drive_is_a_clear_state_and_coming_back_works(qtbot, tmp_path: Path, history) -> None:  # type: ignore[no-untyped-def]
    repo, _docs, _states = history
    away = repo.with_name("unplugged")
    repo.rename(away)
    app, _prompts = start_app(qtbot, tmp_path, repo, last_backup_ns=time.time_ns() - 2 * 86400 * 10**9 - 10**9)
    window = app.window
    app.bridge._poll.setInterval(50)
    qtbot.waitUntil(lambda: not window.drive_status.isHidden(), timeout=10_000)
    assert window.drive_status.label.text() == "Backup drive not connected — last backup 2 days ago"
    assert window.backup_status.label.text().startswith("Last backup ")  # the status bar tells the same story
    assert "(2 days ago)" in window.backup_status.label.text() and "next" not in window.backup_status.label.text()
    assert not window.backup_action.isEnabled() and "not connected" in window.backup_action.toolTip()
    assert window.folders_list.item(0).text().startswith("Connect the backup drive")
    away.rename(repo)  # the drive is plugged in again
    qtbot.waitUntil(lambda: window.drive_status.isHidden() and window.tree_model.rowCount() > 0, timeout=10_000)
    assert window.backup_action.isEnabled()
    assert [window.folders_list.item(i).text() for i in range(window.folders_list.count())] == ["Documents"]
    assert window.timeline.now_position == 3
    app.shut_down()


def test_the_window_keeps_answering_during_a_big_backup(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    many = tmp_path / "home" / "many"
    for d in range(10):  # many small files: the part of a backup that holds the GIL most
        make_tree(many / f"d{d:02}", {f"f{i:04}.txt": os.urandom(700) for i in range(600)})
    (many / "big.bin").write_bytes(os.urandom(64 << 20))
    repo = new_repo(tmp_path, many)
    app, _prompts = start_app(qtbot, tmp_path, repo)
    window = app.window
    qtbot.waitUntil(lambda: window.history is not None, timeout=10_000)
    during: list[bool] = []  # for each tick of a 10 ms timer the GUI thread handled: was the backup running?
    timer = QTimer()
    timer.timeout.connect(lambda: during.append(app.bridge.backing_up))
    timer.start(10)
    progress: list[object] = []
    app.bridge.backup_progressed.connect(progress.append)
    with qtbot.waitSignal(app.bridge.backup_finished, timeout=60_000):
        assert app.bridge.back_up("manual")
        wait_tree(qtbot, window, lambda: window.browser.reload())  # browsing works while the backup runs
        assert app.bridge.backing_up
    timer.stop()
    assert during.count(True) > 20 and progress  # the GUI thread went on with its timer and the progress
    app.shut_down()


def test_settings_change_folders_and_exclusions_through_the_engine(qtbot, running, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app, window, prompts, docs, _states = running
    extra = tmp_path / "home" / "Music"
    make_tree(extra, {"song.ogg": b"la", "big.iso": b"iso"})
    dialog = app.show_settings()
    qtbot.addWidget(dialog)
    prompts.folders.append(str(extra))
    dialog._add_folder()
    dialog.schedule_box.setCurrentIndex(dialog.schedule_box.findData(30))
    dialog.excludes_edit.setPlainText("*.iso\n")
    dialog.compression.setValue(9)
    with qtbot.waitSignal(app.bridge.folders_changed, timeout=10_000) as changed:
        dialog.accept()
    assert json.loads((Path(app.settings.repository) / "config.json").read_text())["compression_level"] == 9
    folders = {os.fsdecode(f.path): f.excludes for f in changed.args[0]}
    assert set(folders) == {str(docs), str(extra)}
    assert all("*.iso" in patterns for patterns in folders.values())
    assert app.settings.interval_minutes == 30 and app.settings.extra_excludes == ("*.iso",)
    # the schedule is the agent's: settings.json, which it follows, now says so
    qtbot.waitUntil(lambda: json.loads(app.paths.settings_file.read_text()).get("interval_minutes") == 30)
    qtbot.waitUntil(lambda: window.folders_list.count() == 2, timeout=10_000)
    with qtbot.waitSignal(app.bridge.backup_finished, timeout=20_000):
        window.backup.back_up_now()
    qtbot.waitUntil(lambda: window.timeline.now_position == 4, timeout=10_000)
    window.folders_list.setCurrentRow([window.folders_list.item(i).text()
                                       for i in range(2)].index("Music"))
    wait_tree(qtbot, window, lambda: window.timeline.set_position(3))
    assert [window.tree_model.index(r, NAME).data() for r in range(window.tree_model.rowCount())] == ["song.ogg"]


def test_restore_is_offered_only_for_the_past(qtbot, running) -> None:  # type: ignore[no-untyped-def]
    _app, window, _prompts, docs, _states = running
    assert window.timeline.current() is None  # the window opens at Now
    select(qtbot, window, docs / "report.txt")
    actions = window.actions_
    assert not actions.restore_action.isEnabled() and not actions.restore_to_action.isEnabled()
    assert actions.versions_action.isEnabled() and actions.copy_action.isEnabled()
    actions.copy_path()
    assert QGuiApplication.clipboard().text() == str(docs / "report.txt")


def test_at_now_a_file_changed_since_the_last_backup_is_marked_and_compared_with_it(qtbot, running) -> None:  # type: ignore[no-untyped-def]
    """Claim 30: the right end of the timeline is the live folder; a file changed since the last storage time
    shows as changed and compares with its last stored version. A file new since has nothing to compare with."""
    _app, window, _prompts, docs, _states = running
    (docs / "report.txt").write_bytes(b"final\nand an afterword\n")
    (docs / "fresh.txt").write_bytes(b"new\n")
    wait_tree(qtbot, window, window.browser.reload)
    changes = {window.tree_model.index(r, NAME).data(): window.tree_model.index(r, CHANGE).data()
               for r in range(window.tree_model.rowCount())}
    assert changes["report.txt"] == "M" and changes["fresh.txt"] == "N"
    select(qtbot, window, docs / "fresh.txt")
    assert not window.actions_.compare_action.isEnabled()
    select(qtbot, window, docs / "report.txt")
    actions = window.actions_
    assert actions.compare_action.isEnabled() and actions.compare_action.text() == "Compare with last backup"
    compare = actions.compare()
    qtbot.waitUntil(lambda: compare.comparison is not None, timeout=10_000)
    assert compare.old_pane.toPlainText() == "  final\n"
    assert compare.new_pane.toPlainText() == "  final\n+ and an afterword"
    assert compare.summary.text().startswith("1 line differs: 0 changed, 1 added")
    compare.close()



def test_the_bridge_outliving_its_window_reaches_nothing_deleted(qtbot, tmp_path: Path, history) -> None:  # type: ignore[no-untyped-def]
    """A job that fails, or a backup skipped or cancelled, as the window goes (the bridge and its workers live
    on in the app): nothing is sent to the deleted window's status bar."""
    from shiboken6 import Shiboken

    app = TimekeepApp(AppPaths(tmp_path / "config", tmp_path / "cache"), ScriptedPrompts(),
                      AppSettings(repository=str(history[0])), tray=False)
    app.start()
    window = app.window
    assert window is not None
    qtbot.waitUntil(lambda: window.history is not None, timeout=10_000)
    app.window = None
    Shiboken.delete(window)
    try:
        app.bridge.workers.job_failed.emit("the drive went away")
        app.bridge.backup_skipped.emit("nothing changed since the latest snapshot")
        app.bridge.backup_cancelled.emit()
        app.bridge.destinations_changed.emit(())
        assert not Shiboken.isValid(window)
    finally:
        app.shut_down()


def test_a_status_message_is_seen_beside_the_backup_corner(qtbot, running) -> None:  # type: ignore[no-untyped-def]
    """The status bar's permanent corner (protection, last backup) leaves room for what the window says there: the
    left of the bar is blank, then shows the message (a stretched corner once drew every message in no room)."""
    _app, window, _prompts, _docs, _states = running
    bar = window.statusBar()
    window.resize(1280, 780)

    def left_colours() -> int:
        qtbot.wait(0)  # let the bar lay itself out and paint (no wait on time: a zero-length event pass)
        image = bar.grab().toImage()
        return len({image.pixel(x, y) for x in range(image.width() // 3) for y in range(image.height())})

    bar.clearMessage()
    assert left_colours() == 1
    bar.showMessage("Restoring Photos… 1.2 GB written")
    assert left_colours() > 1
