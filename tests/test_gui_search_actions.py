"""A search result's right-click (Restore, Restore to…, Show versions, Compare), the result limit, and "Show
deleted files" for a folder: the real window over real repositories, plain and encrypted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTreeWidgetItem

from tests.helpers import backup, make_tree, new_repo
from tests.test_gui_search import search
from tests.test_gui_window import start_app
from timekeep.gui import search as search_module
from timekeep.gui.dialogs.compare import CompareDialog
from timekeep.gui.dialogs.deleted import DeletedDialog
from timekeep.gui.dialogs.versions import VersionsDialog
from timekeep.gui.main_window import MainWindow


@pytest.fixture
def window(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    """plan.txt changed twice then deleted (with its folder's other file); keep.txt changed on disk since."""
    docs = Path(os.path.realpath(tmp_path)) / "home" / "Documents"
    make_tree(docs, {"keep.txt": b"keep one\n", "notes": {"plan.txt": b"plan one\n", "deep": {"idea.txt": b"i\n"}},
                     "top.txt": b"top\n"})
    repo = new_repo(tmp_path, docs)
    backup(repo)
    (docs / "notes" / "plan.txt").write_bytes(b"plan two\n")
    (docs / "top.txt").unlink()
    backup(repo)
    (docs / "notes" / "plan.txt").unlink()
    (docs / "notes" / "deep" / "idea.txt").unlink()
    backup(repo)
    (docs / "keep.txt").write_bytes(b"keep one\nand two\n")
    app, prompts = start_app(qtbot, tmp_path, repo)
    shown = app.window
    qtbot.waitUntil(lambda: shown.history is not None and shown.tree_model.rowCount() > 0, timeout=10_000)
    yield shown, prompts, docs
    app.shut_down()


def pick(window: MainWindow, name: str) -> QTreeWidgetItem:
    results = window.finder.panel.results
    item = next(results.topLevelItem(r) for r in range(results.topLevelItemCount())
                if results.topLevelItem(r).text(0) == name)
    results.setCurrentItem(item)
    return item


def test_right_click_offers_the_folder_views_commands(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    shown, _, _ = window
    assert search(qtbot, shown, "plan")["plan.txt"][1] == "Documents/notes"  # named from the protected folder
    item = pick(shown, "plan.txt")
    results = shown.finder.panel.results
    results.customContextMenuRequested.emit(results.visualItemRect(item).center())
    menu = shown.finder.last_menu
    assert menu is not None
    texts = [a.text() for a in menu.actions() if a.text()]
    assert texts == ["Restore", "Restore to…", "Show versions", "Compare with the version before", "Copy path"]
    assert all(a.isEnabled() for a in menu.actions() if a.text())
    menu.close()


def test_a_deleted_result_restores_its_last_version_in_place(qtbot, window, plain_and_encrypted: str) -> None:  # type: ignore[no-untyped-def]
    shown, prompts, docs = window
    search(qtbot, shown, "plan")
    pick(shown, "plan.txt")
    with qtbot.waitSignal(shown.finder.actions_.restored, timeout=15_000):
        shown.finder.actions_.restore_action.trigger()
    assert (docs / "notes" / "plan.txt").read_bytes() == b"plan two\n"
    assert prompts.said[-1][0] == "inform" and "Restored plan.txt as it was on" in prompts.said[-1][2]
    assert "Restored plan.txt" in shown.status_text()


def test_restore_to_puts_it_in_the_folder_chosen_and_keeps_a_changed_file(qtbot, window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shown, prompts, docs = window
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    prompts.folders.append(str(elsewhere))
    search(qtbot, shown, "keep")
    pick(shown, "keep.txt")
    with qtbot.waitSignal(shown.finder.actions_.restored, timeout=15_000):
        shown.finder.actions_.restore_to_action.trigger()
    assert (elsewhere / "keep.txt").read_bytes() == b"keep one\n"
    with qtbot.waitSignal(shown.finder.actions_.restored, timeout=15_000):
        shown.finder.actions_.restore_action.trigger()  # in place: the file changed since is never overwritten
    assert (docs / "keep.txt").read_bytes() == b"keep one\nand two\n"
    beside = [p for p in os.listdir(docs) if p.startswith("keep") and p != "keep.txt"]
    assert len(beside) == 1 and (docs / beside[0]).read_bytes() == b"keep one\n"


def test_show_versions_opens_the_versions_of_that_file(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    shown, _, docs = window
    search(qtbot, shown, "plan")
    pick(shown, "plan.txt")
    dialog = shown.finder.actions_.show_versions()
    assert isinstance(dialog, VersionsDialog)
    qtbot.waitUntil(lambda: dialog.model.rowCount() >= 2, timeout=10_000)
    assert dialog.path == os.fsencode(docs / "notes" / "plan.txt")
    dialog.close()


def test_compare_a_present_result_with_the_file_now(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    shown, _, _ = window
    search(qtbot, shown, "keep")
    pick(shown, "keep.txt")
    assert shown.finder.actions_.compare_action.text() == "Compare with current"
    dialog = shown.finder.actions_.compare()
    assert isinstance(dialog, CompareDialog)
    qtbot.waitUntil(lambda: dialog.comparison is not None, timeout=10_000)
    assert dialog.comparison is not None and [r.new for r in dialog.comparison.rows] == ["keep one", "and two"]
    assert dialog.titles[1].text() == "<b>Now, on this computer</b>"
    dialog.close()


def test_compare_a_deleted_result_with_its_version_before(qtbot, window, plain_and_encrypted: str) -> None:  # type: ignore[no-untyped-def]
    shown, _, _ = window
    search(qtbot, shown, "plan")
    pick(shown, "plan.txt")
    actions = shown.finder.actions_
    assert actions.compare_action.isEnabled()
    actions.compare()
    qtbot.waitUntil(lambda: actions.last_dialog is not None and actions.last_dialog.comparison is not None,
                    timeout=10_000)
    dialog = actions.last_dialog
    assert dialog is not None and dialog.comparison is not None
    assert [(r.old, r.new, r.tag) for r in dialog.comparison.rows] == [("plan one", "plan two", "replace")]
    assert dialog.titles[0].text().startswith("<b>As it was on") and "Now" not in dialog.titles[1].text()
    dialog.close()


def test_a_result_with_one_version_has_nothing_to_compare_with(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    shown, prompts, _ = window
    search(qtbot, shown, "top")
    pick(shown, "top.txt")
    shown.finder.actions_.compare()
    qtbot.waitUntil(lambda: bool(prompts.said), timeout=10_000)
    assert prompts.said[-1][1] == "Compare" and "only one version" in prompts.said[-1][2]


def test_the_window_lists_the_first_n_and_says_how_many_more(qtbot, window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    shown, _, _ = window
    monkeypatch.setattr(search_module, "SHOWN", 2)
    rows = search(qtbot, shown, "*.txt")
    assert len(rows) == 2
    assert shown.finder.panel.summary.text() == "The first 2 of 4 found: 2 more — refine the search"
    monkeypatch.setattr(search_module, "SHOWN", 4)
    assert len(search(qtbot, shown, "*.txt")) == 4 and shown.finder.panel.summary.text() == "4 found"


def deleted_dialog(qtbot, shown: MainWindow) -> DeletedDialog:  # type: ignore[no-untyped-def]
    dialog = shown.finder.deleted.dialog
    assert isinstance(dialog, DeletedDialog)
    qtbot.waitUntil(lambda: "since the first backup" in dialog.heading.text(), timeout=10_000)
    return dialog


def names(dialog: DeletedDialog) -> list[str]:
    return [dialog.model.index(r, 0).data() for r in range(dialog.model.rowCount())]


def test_deleted_files_of_the_protected_folder_at_any_depth_newest_first(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    shown, prompts, docs = window
    shown.finder.panel.deleted_button.click()  # nothing selected: the protected folder shown
    dialog = deleted_dialog(qtbot, shown)
    assert dialog.folder == os.fsencode(docs)
    assert names(dialog) == ["notes/deep/idea.txt", "notes/plan.txt", "top.txt"]
    assert all(dialog.model.index(r, 1).data() for r in range(3))  # when each was deleted
    assert "3 items deleted from here or any folder in it" in dialog.heading.text()
    dialog.view.setCurrentIndex(dialog.model.index(0, 0))
    with qtbot.waitSignal(dialog.loaded, timeout=15_000):
        dialog.restore_button.click()
    assert (docs / "notes" / "deep" / "idea.txt").read_bytes() == b"i\n"
    assert names(dialog) == ["notes/plan.txt", "top.txt"]
    assert prompts.said[-1][0] == "inform"


def test_show_deleted_files_on_a_folders_right_click(qtbot, window, plain_and_encrypted: str) -> None:  # type: ignore[no-untyped-def]
    shown, _, docs = window
    notes = os.fsencode(docs / "notes")
    with qtbot.waitSignal(shown.browser.selection_changed, timeout=10_000):
        shown.browser.select_path(notes)
    shown.tree_view.customContextMenuRequested.emit(shown.tree_view.visualRect(shown.tree_view.currentIndex()).center())
    menu = shown.last_menu
    assert menu is not None
    offered = {a.text(): a for a in menu.actions()}
    assert "Show deleted files…" in offered
    offered["Show deleted files…"].trigger()
    menu.close()
    dialog = deleted_dialog(qtbot, shown)
    assert dialog.folder == notes and names(dialog) == ["deep/idea.txt", "plan.txt"]
    dialog.view.setCurrentIndex(dialog.model.index(1, 0))
    with qtbot.waitSignal(dialog.loaded, timeout=15_000):
        dialog.actions_.restore_action.trigger()
    assert (docs / "notes" / "plan.txt").read_bytes() == b"plan two\n"
    assert names(dialog) == ["deep/idea.txt"]


def test_show_deleted_files_is_in_the_file_menu_with_its_keys(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    shown, _, docs = window
    file_menu = next(a.menu() for a in shown.menuBar().actions() if a.text() == "&File")
    offered = {a.text(): a for a in file_menu.actions()}
    action = offered["Show deleted files…"]
    assert action is shown.finder.deleted.action and action.shortcut().toString() == "Ctrl+Shift+D"
    notes = os.fsencode(docs / "notes")
    with qtbot.waitSignal(shown.browser.selection_changed, timeout=10_000):
        shown.browser.select_path(notes)
    shown.tree_view.setFocus()
    qtbot.waitUntil(shown.tree_view.hasFocus, timeout=10_000)
    qtbot.keyClick(shown.tree_view, Qt.Key.Key_D,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    dialog = deleted_dialog(qtbot, shown)  # the folder selected, at any depth below it
    assert dialog.folder == notes and names(dialog) == ["deep/idea.txt", "plan.txt"]


def test_a_long_list_of_deleted_files_shows_the_newest(qtbot, window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from timekeep.gui.dialogs import deleted as deleted_module

    shown, _, _ = window
    monkeypatch.setattr(deleted_module, "SHOWN", 2)
    shown.finder.panel.deleted_button.click()
    dialog = deleted_dialog(qtbot, shown)
    assert names(dialog) == ["notes/deep/idea.txt", "notes/plan.txt"]
    assert "3 items deleted from here or any folder in it since the first backup, the newest 2 listed" \
        in dialog.heading.text()


def test_the_lists_are_read_off_the_gui_thread(qtbot, window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import threading

    from timekeep.gui import search_actions
    from timekeep.gui.dialogs import deleted as deleted_module

    shown, _, _ = window
    threads: list[bool] = []

    def watched(real):  # type: ignore[no-untyped-def]
        def run(*args):  # type: ignore[no-untyped-def]
            threads.append(threading.current_thread() is threading.main_thread())
            return real(*args)
        return run

    monkeypatch.setattr(deleted_module, "gone_beneath_now", watched(deleted_module.gone_beneath_now))
    monkeypatch.setattr(search_actions, "version_before", watched(search_actions.version_before))
    shown.finder.panel.deleted_button.click()
    deleted_dialog(qtbot, shown).close()
    search(qtbot, shown, "plan")
    pick(shown, "plan.txt")
    shown.finder.actions_.compare()
    qtbot.waitUntil(lambda: shown.finder.actions_.last_dialog is not None, timeout=10_000)
    assert threads == [False, False]


def test_the_results_list_takes_the_restore_keys_while_it_has_the_focus(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    """Ctrl+R in the results restores the result; in the folder view, the folder view's selection."""
    shown, _, docs = window
    shown.show()
    shown.timeline.set_snapshot(1)
    with qtbot.waitSignal(shown.browser.selection_changed, timeout=10_000):
        shown.browser.select_path(os.fsencode(docs / "keep.txt"))
    qtbot.waitUntil(shown.actions_.restore_action.isEnabled, timeout=10_000)  # both enabled: no ambiguity
    search(qtbot, shown, "plan")
    pick(shown, "plan.txt")
    fired: list[str] = []
    shown.finder.actions_.restore_action.triggered.connect(lambda: fired.append("result"))
    shown.actions_.restore_action.triggered.connect(lambda: fired.append("folder view"))
    for widget in (shown.finder.panel.results, shown.tree_view):
        widget.setFocus()
        qtbot.waitUntil(widget.hasFocus, timeout=10_000)
        qtbot.keyClick(widget, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: len(fired) == 2, timeout=10_000)
    assert fired == ["result", "folder view"]
    qtbot.waitUntil(lambda: (docs / "notes" / "plan.txt").exists(), timeout=15_000)
