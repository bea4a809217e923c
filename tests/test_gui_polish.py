"""The first day in the window, over the real engine: names in natural order, marks at Now that tell the
truth (an excluded file, a folder with a change inside), names elided in the middle, versions that share a
minute told apart, a mistyped --repo refused without being remembered, and the Help menu."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from importlib import metadata
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex
from PySide6.QtGui import QFontMetrics

from tests.helpers import backup, make_tree, new_repo
from tests.test_gui_window import start_app
from timekeep.core.api import Timekeep
from timekeep.core.types import VersionInfo
from timekeep.gui.engine_jobs import named_repository_problem
from timekeep.gui.listing import Row, natural_key, ordered
from timekeep.gui.models.tree import CHANGE, MODIFIED, NAME, ROW_ROLE, SIZE
from timekeep.gui.models.versions import VersionsModel


def shown_rows(window) -> dict[str, Row]:  # type: ignore[no-untyped-def]
    proxy = window.browser.proxy
    rows = [proxy.index(r, NAME, QModelIndex()).data(ROW_ROLE) for r in range(proxy.rowCount(QModelIndex()))]
    return {os.fsdecode(row.name): row for row in rows}


def shown_names(window) -> list[str]:  # type: ignore[no-untyped-def]
    return list(shown_rows(window))


def test_natural_order_ignores_case_and_reads_numbers_as_numbers() -> None:
    names = [b"f10.txt", b"F2.txt", b"f1.txt", b"chapter-10", b"Chapter-9", b"a", b"f1.txt.bak", b"10", b"9"]
    rows = ordered(Row(b"/r/" + n, "file", 0, 0) for n in names)
    assert [r.name for r in rows] == [b"9", b"10", b"a", b"Chapter-9", b"chapter-10", b"f1.txt", b"f1.txt.bak",
                                      b"F2.txt", b"f10.txt"]
    assert natural_key(b"x2y") < natural_key(b"x10y") and natural_key(b"X") == natural_key(b"x")


@pytest.fixture
def folder_at_now(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Backed up twice: `notes.log` excluded between the two, so the latest snapshot lacks it."""
    docs = tmp_path / "home" / "Documents"
    make_tree(docs, {"f10.txt": b"ten", "f2.txt": b"two", "F1.txt": b"one", "notes.log": b"log",
                     "Thesis": {"chapter.md": b"draft"}, "Photos": {"a.png": b"png"}})
    repo = new_repo(tmp_path, docs)
    backup(repo)
    with Timekeep.open(repo, writer=True) as tk:
        tk.set_excludes(os.fsencode(docs), ("*.log",))
    backup(repo)
    return repo, docs


def test_the_folder_view_at_now_sorts_naturally_and_marks_truthfully(qtbot, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                      folder_at_now) -> None:
    repo, docs = folder_at_now
    (docs / "Thesis" / "chapter.md").write_bytes(b"draft, longer now")  # a change inside a folder
    app, _prompts = start_app(qtbot, tmp_path, repo)
    window = app.window
    qtbot.waitUntil(lambda: window.history is not None and len(shown_names(window)) == 6, timeout=10_000)
    assert shown_names(window) == ["Photos", "Thesis", "F1.txt", "f2.txt", "f10.txt", "notes.log"]
    rows = shown_rows(window)
    assert rows["notes.log"].change == "excluded"  # not "new" forever
    assert rows["Thesis"].change == "changed" and rows["Photos"].change == ""
    assert rows["f2.txt"].change == ""
    proxy = window.browser.proxy
    marks = {proxy.index(r, NAME).data(): proxy.index(r, CHANGE).data() for r in range(proxy.rowCount())}
    assert marks["notes.log"] == "X" and marks["Thesis"] == "M" and marks["Photos"] == ""
    app.shut_down()


def test_a_narrow_window_keeps_names_apart_and_gives_them_the_room(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    docs = tmp_path / "home" / "Documents"
    make_tree(docs, {"chapter-1-where-the-river-bends.md": b"one", "chapter-2-where-the-river-bends.md": b"two"})
    repo = new_repo(tmp_path, docs)
    backup(repo)
    app, _prompts = start_app(qtbot, tmp_path, repo)
    window = app.window
    qtbot.waitUntil(lambda: window.history is not None and len(shown_names(window)) == 2, timeout=10_000)
    view, header = window.tree_view, window.tree_view.header()
    window.resize(1400, 700)
    window.splitter.setSizes([200, 800, 400])
    qtbot.waitUntil(lambda: view.viewport().width() > 700)
    assert not header.isSectionHidden(MODIFIED) and not header.isSectionHidden(SIZE)
    window.splitter.setSizes([200, 230, 970])
    qtbot.waitUntil(lambda: view.viewport().width() < 260)
    assert header.isSectionHidden(MODIFIED)  # the date gives way before the names do
    width = header.sectionSize(NAME) - view.iconSize().width() - 12
    metrics = QFontMetrics(view.font())
    shown = [metrics.elidedText(name, view.textElideMode(), width) for name in shown_names(window)]
    assert all(text.endswith(".md") and "…" in text for text in shown) and shown[0] != shown[1]
    window.splitter.setSizes([200, 800, 400])
    qtbot.waitUntil(lambda: not header.isSectionHidden(MODIFIED))
    app.shut_down()


def _version(sid: int, time_ns: int, size: int, state: str = "modified") -> VersionInfo:
    return VersionInfo(sid, time_ns, state, "file", size, 0o644, time_ns, bytes([sid]))  # type: ignore[arg-type]


def test_versions_in_one_minute_are_all_shown_to_the_second() -> None:
    minute = int(datetime(2026, 11, 20, 15, 7).astimezone().timestamp()) * 10**9
    model = VersionsModel()
    model.set_versions([_version(1, minute - 3600 * 10**9, 100, "created"), _version(2, minute + 10 * 10**9, 100),
                        _version(3, minute + 40 * 10**9, 1500)])
    rows = [tuple(model.index(r, c).data() for c in range(3)) for r in range(3)]
    assert rows == [("2026-11-20 14:07:00", "100 bytes", "Created"),
                    ("2026-11-20 15:07:10", "100 bytes", "Changed, same size"),
                    ("2026-11-20 15:07:40", "1.5 kB", "Changed, 1.4 kB larger")]
    model.set_versions([_version(1, minute - 3600 * 10**9, 100, "created"), _version(3, minute + 40 * 10**9, 90)])
    assert [model.index(r, 0).data() for r in range(2)] == ["2026-11-20 14:07", "2026-11-20 15:07"]
    assert model.index(1, 2).data() == "Changed, 10 bytes smaller"


def test_the_versions_dialog_tells_quick_versions_apart(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    docs = tmp_path / "home" / "Documents"
    make_tree(docs, {"notes.txt": b"one"})
    repo = new_repo(tmp_path, docs)
    backup(repo)
    for text in (b"one two", b"one two three"):  # seconds apart: the same minute, most likely the same second
        (docs / "notes.txt").write_bytes(text)
        backup(repo)
    app, _prompts = start_app(qtbot, tmp_path, repo)
    window = app.window
    qtbot.waitUntil(lambda: window.history is not None and len(shown_names(window)) == 1, timeout=10_000)
    with qtbot.waitSignal(window.browser.preview_shown, timeout=10_000):
        assert window.browser.select_path(os.fsencode(docs / "notes.txt"))
    dialog = window.actions_.show_versions()
    qtbot.waitUntil(lambda: dialog.model.rowCount() == 3, timeout=10_000)
    rows = [tuple(dialog.model.index(r, c).data() for c in range(3)) for r in range(3)]
    assert len(set(rows)) == 3  # no two rows read alike
    times = [row[0] for row in rows]
    shared = len({t[:16] for t in times}) < 3
    assert all(len(t) == len("2026-11-20 15:07:10" if shared else "2026-11-20 15:07") for t in times)
    assert [row[2] for row in rows] == ["Created", "Changed, 4 bytes larger", "Changed, 6 bytes larger"]
    dialog.close()
    app.shut_down()


@pytest.mark.parametrize("how", ["missing", "empty folder"])
def test_a_mistyped_repo_is_refused_in_one_line_and_not_remembered(tmp_path: Path, how: str) -> None:
    target = tmp_path / "drive" / "Timekep"
    if how == "empty folder":
        target.mkdir(parents=True)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path / "home"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_STATE_HOME": str(tmp_path / "state")}
    done = subprocess.run([sys.executable, "-m", "timekeep.gui.app", "--repo", str(target)], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    said = {"missing": f"timekeep-gui: {target} does not exist: no Timekeep repository there (is the path spelled "
                       "right?)\n",
            "empty folder": f"timekeep-gui: {target} is not a Timekeep repository (its drive is connected, but no "
                            "backup was made there)\n"}
    assert done.stderr == said[how]
    saved = [p for top in ("config", "state") for p in (tmp_path / top).rglob("*") if p.is_file()]
    assert saved == []  # nothing saved for good: no settings.json, no window state


def test_a_drive_that_is_away_is_not_a_mistake() -> None:
    """Where desktops mount drives, with none mounted there: the window opens and waits for the drive."""
    assert named_repository_problem("/media/timekeep-test-drive/Timekeep/laptop") is None
    assert named_repository_problem("/") is not None  # the system disk is there, with no repository


def test_the_help_menu_shows_the_guide_the_keys_and_about(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    docs = tmp_path / "home" / "Documents"
    make_tree(docs, {"a.txt": b"a"})
    repo = new_repo(tmp_path, docs)
    app, _prompts = start_app(qtbot, tmp_path, repo)
    window = app.window
    menus = {a.text(): a.menu() for a in window.menuBar().actions()}
    assert [a.text() for a in menus["&Help"].actions() if a.text()] == ["Timekeep guide", "Keyboard shortcuts",
                                                                       "About Timekeep"]
    help_ = window.help
    help_.about_action.trigger()
    qtbot.waitUntil(lambda: help_.dialog is not None and help_.dialog.windowTitle() == "About Timekeep")
    about = help_.dialog.browser.toPlainText()
    assert f"Timekeep {metadata.version('timekeep')}" in about and "MIT licence" in about
    assert "every version of your files" in about
    help_.guide_action.trigger()
    qtbot.waitUntil(lambda: help_.dialog.windowTitle() == "Timekeep guide", timeout=10_000)
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    first_heading = next(line for line in readme.splitlines() if line.startswith("# "))[2:].strip()
    assert help_.dialog.browser.toPlainText().startswith(first_heading)  # the README, rendered, offline
    help_.keys_action.trigger()
    assert help_.dialog.windowTitle() == "Keyboard shortcuts" and "Ctrl+B" in help_.dialog.browser.toPlainText()
    app.shut_down()


def test_at_a_snapshot_a_folder_is_marked_for_a_change_deep_inside(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    docs = tmp_path / "home" / "Documents"
    make_tree(docs, {"Thesis": {"Part 1": {"chapter.md": b"draft"}}, "Photos": {"a.png": b"png"}})
    repo = new_repo(tmp_path, docs)
    backup(repo)
    (docs / "Thesis" / "Part 1" / "chapter.md").write_bytes(b"draft, longer")
    backup(repo)
    app, _prompts = start_app(qtbot, tmp_path, repo)
    window = app.window
    qtbot.waitUntil(lambda: window.history is not None and len(shown_names(window)) == 2, timeout=10_000)
    with qtbot.waitSignal(window.browser.tree_shown, timeout=10_000):
        window.timeline.set_position(1)
    rows = shown_rows(window)
    assert rows["Thesis"].change == "changed" and rows["Photos"].change == ""
    with qtbot.waitSignal(window.browser.tree_shown, timeout=10_000):
        window.timeline.set_position(0)  # the first snapshot: everything new, and said so
    assert shown_rows(window)["Thesis"].change == "new"
    app.shut_down()
