"""The window's search field over the real engine: results (name, folder, last seen, present or deleted)
come from a worker, and choosing one moves the timeline to the last snapshot that held it and selects it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from tests.helpers import backup, make_tree, new_repo
from tests.test_gui_window import start_app
from timekeep.gui import search as search_module
from timekeep.gui.main_window import MainWindow
from timekeep.gui.search import COLUMNS, FOUND_ROLE


@pytest.fixture
def window(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    docs = Path(os.path.realpath(tmp_path)) / "home" / "Documents"
    make_tree(docs, {"Annual Report.txt": b"one\n", "sub": {"old report.odt": b"old\n", "keep.txt": b"k\n"}})
    repo = new_repo(tmp_path, docs)
    backup(repo)
    (docs / "sub" / "old report.odt").unlink()
    backup(repo)
    app, _ = start_app(qtbot, tmp_path, repo)
    shown = app.window
    qtbot.waitUntil(lambda: shown.history is not None and shown.tree_model.rowCount() > 0, timeout=10_000)
    yield shown, docs
    app.shut_down()


def search(qtbot, window: MainWindow, text: str) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(window.finder.panel.results_shown, timeout=10_000):
        window.finder.panel.field.setText(text)
        window.finder.panel.field.returnPressed.emit()
    results = window.finder.panel.results
    return {results.topLevelItem(r).text(0): [results.topLevelItem(r).text(c) for c in range(len(COLUMNS))]
            for r in range(results.topLevelItemCount())}


def test_results_list_name_folder_last_seen_and_state(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    shown, _ = window
    rows = search(qtbot, shown, "REPORT")
    assert set(rows) == {"Annual Report.txt", "old report.odt"}
    assert rows["old report.odt"][3] == "deleted" and rows["Annual Report.txt"][3] == "present"
    assert rows["old report.odt"][1].endswith("Documents/sub") and rows["old report.odt"][2]
    assert shown.finder.panel.summary.text() == "2 found" and not shown.finder.panel.results.isHidden()
    assert search(qtbot, shown, "nothing like it") == {} and shown.finder.panel.results.isHidden()
    assert "Nothing in the history" in shown.finder.panel.summary.text()


def test_a_protected_folder_found_says_so_in_the_folder_column(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    shown, _ = window
    rows = search(qtbot, shown, "Documents")
    assert rows["Documents"][1] == "(protected)"  # not the full path of the folder above it
    assert rows["Documents"][3] == "present"
    assert search(qtbot, shown, "sub")["sub"][1] == "Documents"  # a folder inside one: named from it


def test_a_bad_pattern_is_said_in_the_panel(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    shown, _ = window
    assert search(qtbot, shown, "sub/old") == {}
    assert "names, not paths" in shown.finder.panel.summary.text()


def test_choosing_a_deleted_file_moves_the_timeline_and_selects_it(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    shown, docs = window
    search(qtbot, shown, "old")
    item = shown.finder.panel.results.topLevelItem(0)
    found = item.data(0, FOUND_ROLE)
    with qtbot.waitSignal(shown.browser.selection_changed, timeout=10_000):
        shown.finder.panel.results.itemActivated.emit(item, 0)
    current = shown.timeline.current()
    assert current is not None and current.id == found.last_seen == 1
    qtbot.waitUntil(lambda: shown.browser.selected is not None
                    and shown.browser.selected.path == os.fsencode(docs / "sub" / "old report.odt"), timeout=10_000)


def test_the_search_runs_off_the_gui_thread(qtbot, window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import threading

    shown, _ = window
    threads: list[bool] = []
    real = search_module.find_job

    def watched(tk, pattern):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread() is threading.main_thread())
        return real(tk, pattern)

    monkeypatch.setattr(search_module, "find_job", watched)
    search(qtbot, shown, "keep")
    assert threads == [False]


def test_typing_asks_after_a_pause(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    shown, _ = window
    with qtbot.waitSignal(shown.finder.panel.results_shown, timeout=10_000):
        qtbot.keyClicks(shown.finder.panel.field, "keep")
    assert shown.finder.panel.results.topLevelItemCount() == 1
    shown.finder.panel.field.clear()
    qtbot.keyClick(shown.finder.panel.field, Qt.Key.Key_Return)
    assert shown.finder.panel.summary.isHidden() and shown.finder.panel.results.topLevelItemCount() == 0
