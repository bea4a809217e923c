"""The window over a damaged drive, with the real engine: an index that is missing, damaged or behind is
said in the banner with a "Rebuild index" button that brings the history back (and lists what the drive
lost); a writer that must rebuild the index first shows it and says so; restores say what they left as it is
and what may not be as it was; damaged data is one line; "Check backup…" finds losses."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from tests.helpers import backup, make_tree, new_repo
from tests.test_gui_window import select, start_app, trigger_menu_item, wait_tree
from tests.treeops import chunks_of, flip_byte, truncate
from timekeep.core.api import Timekeep, rebuild_index
from timekeep.core.storage.lock import WriterLock
from timekeep.core.types import Lost, Progress, RestoreResult
from timekeep.gui import wording
from timekeep.gui.app import TimekeepApp
from timekeep.gui.assets import Assets
from timekeep.gui.dialogs.settings import SettingsDialog
from timekeep.gui.engine_jobs import FolderChange, IndexTrouble, open_reader
from timekeep.gui.file_actions import restore_sentence, restore_went_wrong
from timekeep.gui.index_repair import lost_lines
from timekeep.gui.main_window import MainWindow
from timekeep.gui.prompts import ScriptedPrompts
from timekeep.gui.settings import AppSettings

Running = tuple[TimekeepApp, MainWindow, ScriptedPrompts]


@pytest.fixture
def three(tmp_path: Path) -> tuple[Path, Path]:
    """Three snapshots: report.txt changes each time, sub/steady.txt never, sub/added.txt comes at 2."""
    docs = tmp_path / "home" / "Documents"
    make_tree(docs, {"report.txt": b"one\n", "sub": {"steady.txt": b"steady\n"}})
    repo = new_repo(tmp_path, docs)
    backup(repo)
    (docs / "report.txt").write_bytes(b"one\ntwo\n")
    (docs / "sub" / "added.txt").write_bytes(b"added at two\n")
    backup(repo)
    (docs / "report.txt").write_bytes(b"one\ntwo\nthree\n")
    backup(repo)
    return repo, docs


def drop_index(repo: Path) -> None:
    """What a person clearing "the cache" does: index.db gone, with its WAL files."""
    for name in ("index.db", "index.db-wal", "index.db-shm"):
        (repo / name).unlink(missing_ok=True)


def lose_snapshot_two(repo: Path) -> None:
    """Manifest 2 and the index both gone, then the index rebuilt from what is left: snapshot 2 is lost."""
    (repo / "snapshots" / "0000000002.manifest").unlink()
    drop_index(repo)
    rebuild_index(repo)


@pytest.fixture
def app(qtbot, tmp_path: Path, three):  # type: ignore[no-untyped-def]
    """The app started on `three`'s repository, as the test damaged it before calling `app()`."""
    started: list[TimekeepApp] = []

    def start() -> Running:
        application, prompts = start_app(qtbot, tmp_path, three[0])
        started.append(application)
        assert application.window is not None
        return application, application.window, prompts

    yield start
    for application in started:
        application.shut_down()


def wait_history(qtbot, window: MainWindow, snapshots: int) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: window.history is not None and window.timeline.now_position == snapshots
                    and window.tree_model.rowCount() > 0, timeout=10_000)


def wait_banner(qtbot, window: MainWindow, words: str) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: not window.drive_status.isHidden() and words in window.drive_status.label.text(),
                    timeout=10_000)


# 1. a damaged or missing index in the window

def test_a_missing_index_offers_a_rebuild_that_brings_the_history_back(qtbot, app, three) -> None:  # type: ignore[no-untyped-def]
    repo, _docs = three
    drop_index(repo)
    _app, window, prompts = app()
    banner = window.drive_status
    wait_banner(qtbot, window, "The index of this backup is missing")
    assert not banner.rebuild_button.isHidden() and banner.rebuild_button.text() == "Rebuild index"
    assert "timekeep rebuild-index" in banner.label.toolTip()  # the engine's own line, for the curious
    assert not window.backup_action.isEnabled() and "rebuilt" in window.backup_action.toolTip()
    assert window.preview.shown_text() == "The history comes back when the index is rebuilt"
    shown: list[str] = []
    window.repair.progressed.connect(lambda _p: shown.append(banner.label.text()))
    qtbot.mouseClick(banner.rebuild_button, Qt.MouseButton.LeftButton)
    wait_history(qtbot, window, 3)
    assert banner.isHidden() and window.backup_action.isEnabled()
    assert shown and all(text.startswith("Rebuilding the index from the drive: ") for text in shown)
    assert shown[-1] == "Rebuilding the index from the drive: 3 of 3 snapshots"
    assert window.status_text() == "The index was rebuilt from the drive (3 snapshots); nothing was lost"
    assert prompts.said == []


def test_a_damaged_index_says_so_and_is_rebuilt_too(qtbot, app, three) -> None:  # type: ignore[no-untyped-def]
    repo, _docs = three
    truncate(repo / "index.db", 100)
    _app, window, _prompts = app()
    wait_banner(qtbot, window, "The index of this backup is damaged")
    assert "index.db is damaged" in window.drive_status.label.toolTip()
    qtbot.mouseClick(window.drive_status.rebuild_button, Qt.MouseButton.LeftButton)
    wait_history(qtbot, window, 3)
    assert window.drive_status.isHidden()


def test_a_rebuild_that_finds_a_snapshot_lost_lists_it(qtbot, app, three) -> None:  # type: ignore[no-untyped-def]
    repo, docs = three
    (repo / "snapshots" / "0000000002.manifest").unlink()
    drop_index(repo)
    _app, window, prompts = app()
    wait_banner(qtbot, window, "missing")
    qtbot.mouseClick(window.drive_status.rebuild_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(prompts.said), timeout=10_000)
    kind, title, text = prompts.said[-1]
    assert (kind, title) == ("warn", "Index rebuilt")
    assert text.startswith("The index was rebuilt from the drive: 2 snapshots restorable.\n\nWhat the drive lost:")
    assert "• snapshot 2 is lost: its manifest is missing from the drive" in text
    assert f"• {docs / 'report.txt'} at snapshot 2: " in text
    wait_history(qtbot, window, 2)


def test_a_failed_rebuild_shows_its_line_and_can_be_tried_again(qtbot, app, three) -> None:  # type: ignore[no-untyped-def]
    repo, _docs = three
    drop_index(repo)
    _app, window, _prompts = app()
    banner = window.drive_status
    wait_banner(qtbot, window, "missing")
    held = WriterLock(repo / "lock")  # another writer (a backup from a terminal) holds the repository
    held.acquire()
    try:
        qtbot.mouseClick(banner.rebuild_button, Qt.MouseButton.LeftButton)
        wait_banner(qtbot, window, "The index could not be rebuilt")
        assert "\n" not in banner.label.text() and not banner.rebuild_button.isHidden()
        assert window.bridge.state == "index" and not window.backup_action.isEnabled()
    finally:
        held.release()
    qtbot.mouseClick(banner.rebuild_button, Qt.MouseButton.LeftButton)
    wait_history(qtbot, window, 3)


def test_an_index_behind_the_drive_is_said_in_the_banner(qtbot, app, three, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo, docs = three
    old = tmp_path / "old-index.db"
    shutil.copy(repo / "index.db", old)
    (docs / "report.txt").write_bytes(b"four\n")
    backup(repo)
    drop_index(repo)
    shutil.copy(old, repo / "index.db")  # an older copy put back: it knows 3 snapshots, the drive has 4
    _app, window, _prompts = app()
    wait_history(qtbot, window, 3)  # what it shows is true, but not all
    wait_banner(qtbot, window, "The index is behind the drive")
    assert not window.drive_status.rebuild_button.isHidden()
    qtbot.mouseClick(window.drive_status.rebuild_button, Qt.MouseButton.LeftButton)
    wait_history(qtbot, window, 4)
    assert window.drive_status.isHidden()


def test_another_drive_with_a_missing_index_shows_nothing_of_the_first(qtbot, app, three, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo, _docs = three
    application, window, _prompts = app()
    wait_history(qtbot, window, 3)
    other = tmp_path / "other" / "Timekeep" / "repo"
    shutil.copytree(repo, other)
    drop_index(other)
    application.open_repository(str(other))
    wait_banner(qtbot, window, "The index of this backup is missing")
    assert window.history is None and window.timeline.now_position == 0 and window.folders_list.count() == 0
    assert window.status_text() == "No backups until the index is rebuilt"
    assert not any(action.isEnabled() for action in window.actions_.actions)  # nothing selected any more


def test_lost_lists_stay_a_few_lines() -> None:
    lost = [Lost((2,), f"/d/f{i}.txt".encode(), "its version at snapshot 2 was lost") for i in range(10)]
    lines = lost_lines(lost, limit=4)
    assert lines == ["/d/f0.txt at snapshot 2: its version at snapshot 2 was lost",
                     "/d/f1.txt at snapshot 2: its version at snapshot 2 was lost",
                     "/d/f2.txt at snapshot 2: its version at snapshot 2 was lost", "and 7 more"]
    assert lost_lines(lost[:4], limit=4)[-1].startswith("/d/f3.txt")


# 2. rebuilds the engine does on its own show

def test_a_backup_through_a_missing_index_shows_the_rebuild_and_says_so(qtbot, app, three) -> None:  # type: ignore[no-untyped-def]
    repo, docs = three
    application, window, _prompts = app()
    wait_history(qtbot, window, 3)
    drop_index(repo)  # while the window is open on it
    (docs / "report.txt").write_bytes(b"four\n")
    shown: list[str] = []
    application.bridge.backup_progressed.connect(lambda _p: shown.append(window.backup_status.label.text()))
    with qtbot.waitSignal(application.bridge.writer_notes, timeout=20_000):
        window.backup_action.trigger()
    assert "Backing up, rebuilding the index from the drive first: 3 of 3 snapshots" in shown
    assert window.status_text() == ("Backup drive checked: The index (index.db) was missing; rebuilt it from the "
                                    "drive (3 snapshots).")
    wait_history(qtbot, window, 4)  # the new index is a new file: the window opened it again


def test_a_change_of_folders_through_a_missing_index_shows_the_rebuild(qtbot, app, three, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo, _docs = three
    application, window, _prompts = app()
    wait_history(qtbot, window, 3)
    drop_index(repo)
    more = tmp_path / "home" / "More"
    more.mkdir()
    shown: list[tuple[Progress, str]] = []
    application.bridge.index_rebuilding.connect(lambda p: shown.append((p, window.backup_status.label.text())))
    with qtbot.waitSignal(application.bridge.writer_notes, timeout=20_000):
        application.bridge.change_folders(FolderChange(add=(os.fsencode(more),)))
    first = next(text for progress, text in shown if progress.files_done < progress.files_total)
    assert first.startswith("Rebuilding the index from the drive first: ") and first.endswith("of 3 snapshots")
    assert "rebuilt it from the drive (3 snapshots)" in window.status_text()
    qtbot.waitUntil(lambda: window.folders_list.count() == 2, timeout=10_000)
    assert window.backup_status.bar.isHidden()  # the rebuild is over: the status bar is idle again


# 3. restores say what they left and what may be off

def test_a_restore_says_which_files_kept_their_current_permissions(qtbot, app, three) -> None:  # type: ignore[no-untyped-def]
    _repo, docs = three
    (docs / "sub" / "steady.txt").chmod(0o600)  # the same content as stored, other permissions
    _application, window, prompts = app()
    wait_history(qtbot, window, 3)
    wait_tree(qtbot, window, lambda: window.timeline.set_position(2))
    select(qtbot, window, docs / "sub")
    trigger_menu_item(window, "Restore")
    qtbot.waitUntil(lambda: bool(prompts.said), timeout=10_000)
    kind, _title, text = prompts.said[-1]
    assert kind == "inform"
    assert text.endswith(": 2 already the same. 1 of them keeps its current permissions and dates, which differ "
                         "from then (`timekeep restore --overwrite` sets those back too).")
    assert (docs / "sub" / "steady.txt").stat().st_mode & 0o777 == 0o600


def test_a_restore_after_a_lost_snapshot_is_a_warning(qtbot, app, three) -> None:  # type: ignore[no-untyped-def]
    repo, docs = three
    lose_snapshot_two(repo)
    _application, window, prompts = app()
    wait_history(qtbot, window, 2)
    wait_tree(qtbot, window, lambda: window.timeline.set_position(1))  # snapshot 3, after the lost one
    select(qtbot, window, docs / "sub")
    trigger_menu_item(window, "Restore")
    qtbot.waitUntil(lambda: bool(prompts.said), timeout=10_000)
    kind, _title, text = prompts.said[-1]
    assert kind == "warn"  # not a plain success
    assert " Caution: the backup may not hold it exactly as it was then: snapshot 2 is lost" in text
    assert "may have changed in a lost snapshot." in text


def test_a_preview_after_a_lost_snapshot_shows_the_doubt(qtbot, app, three) -> None:  # type: ignore[no-untyped-def]
    repo, docs = three
    lose_snapshot_two(repo)
    _application, window, _prompts = app()
    wait_history(qtbot, window, 2)
    wait_tree(qtbot, window, lambda: window.timeline.set_position(1))
    window.tree_view.expand(window.browser.proxy.mapFromSource(
        window.tree_model.index_for_path(os.fsencode(docs / "sub"))))
    qtbot.waitUntil(lambda: window.tree_model.index_for_path(os.fsencode(docs / "sub" / "steady.txt")).isValid(),
                    timeout=10_000)
    select(qtbot, window, docs / "sub" / "steady.txt")
    doubt = window.preview.doubt
    assert not doubt.isHidden() and doubt.text().startswith("<b>This may not be how it was</b>: snapshot 2 is lost")
    assert window.preview.shown_text() == "steady\n"
    select(qtbot, window, docs / "report.txt")  # changed at snapshot 3 itself: no doubt
    assert doubt.isHidden()


def test_damaged_data_is_one_line_in_the_preview_and_the_restore(qtbot, app, three) -> None:  # type: ignore[no-untyped-def]
    repo, docs = three
    for pack, offset, length in chunks_of(repo, os.fsencode(docs / "report.txt")):
        flip_byte(repo, pack, offset + length // 2)
    _application, window, prompts = app()
    wait_history(qtbot, window, 3)
    wait_tree(qtbot, window, lambda: window.timeline.set_position(2))
    select(qtbot, window, docs / "report.txt")
    said = window.preview.shown_text()
    assert said.startswith("report.txt cannot be shown: ") and "\n" not in said and window.preview.current is None
    trigger_menu_item(window, "Restore")
    qtbot.waitUntil(lambda: bool(prompts.said), timeout=10_000)
    kind, _title, text = prompts.said[-1]
    assert kind == "warn" and text.startswith("report.txt could not be restored: ") and "\n" not in text
    assert (docs / "report.txt").read_bytes() == b"one\ntwo\nthree\n"


# 4. check from the window

def test_check_backup_finds_nothing_wrong_on_a_healthy_drive(qtbot, app) -> None:  # type: ignore[no-untyped-def]
    application, window, _prompts = app()
    wait_history(qtbot, window, 3)
    window.check_action.trigger()
    dialog = application.check_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=10_000)
    assert dialog.shown_text() == ("No problems found: the index agrees with the drive and nothing is lost "
                                   "(3 snapshots checked).")


def test_check_backup_lists_what_was_lost_by_snapshot_and_path(qtbot, app, three) -> None:  # type: ignore[no-untyped-def]
    repo, docs = three
    lose_snapshot_two(repo)
    application, window, _prompts = app()
    wait_history(qtbot, window, 2)
    window.check_action.trigger()
    dialog = application.check_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=10_000)
    text = dialog.shown_text()
    assert text.startswith("Problems found (2 snapshots checked): they are listed below.\n"
                           "Lost (what a restore cannot give back):")
    assert "• snapshot 2 is lost: its manifest is missing from the drive" in text
    assert f"• {docs / 'report.txt'} at snapshot 2: " in text


def test_check_backup_says_why_it_could_not(qtbot, app, three) -> None:  # type: ignore[no-untyped-def]
    repo, _docs = three
    application, window, _prompts = app()
    wait_history(qtbot, window, 3)
    drop_index(repo)
    window.check_action.trigger()
    dialog = application.check_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.status.text().startswith("The backup could not be checked: "), timeout=10_000)
    assert dialog.report is None and "\n" not in dialog.status.text()


def test_a_reader_never_writes_the_index_back(tmp_path: Path, three) -> None:
    """What the window opens for browsing leaves a missing index missing: only the person's rebuild, or a
    writer, makes it again."""
    repo, _docs = three
    drop_index(repo)
    opened = open_reader(repo)
    assert isinstance(opened, IndexTrouble) and opened.kind == "missing"
    assert not (repo / "index.db").exists()
    with Timekeep.open(repo, writer=True) as tk:
        assert tk.rebuilt


def test_restore_sentences_say_what_was_left_and_what_may_be_off() -> None:
    when = 1_700_000_000 * 10**9
    stamp = wording.when(when)
    kept = RestoreResult(unchanged=1, metadata_kept=1)
    assert restore_sentence(b"/d/report.txt", when, kept) == (
        f"report.txt already holds its content from {stamp}, so it was left as it is, with its current "
        "permissions and dates (`timekeep restore --overwrite` sets those back too).")
    assert not restore_went_wrong(kept)
    doubtful = RestoreResult(written=(b"/d/a", b"/d/b"), warnings=("snapshot 2 is lost", "2 files may be older"))
    assert restore_sentence(b"/d", when, doubtful).endswith(
        ": 2 items written. Caution: the backup may not hold it exactly as it was then: snapshot 2 is lost; "
        "2 files may be older.")
    assert restore_went_wrong(doubtful)


def test_progress_never_counts_past_the_total() -> None:
    # a rebuild that finds a snapshot lost has reported one more snapshot loaded than it counted
    assert wording.progress_line(Progress("rebuild", 3, 2, 0, 0, 0.1)) == "2 of 2 snapshots"
    assert wording.progress_line(Progress("rebuild", 1, 1, 0, 0, 0.1)) == "1 of 1 snapshot"


def test_thinning_says_when_it_rebuilds_the_index_first(qtbot) -> None:  # type: ignore[no-untyped-def]
    dialog = SettingsDialog(AppSettings(), (), ScriptedPrompts(), Assets())
    qtbot.addWidget(dialog)
    dialog.thinning_started()
    dialog.thinning_progressed(Progress("rebuild", 2, 12, 0, 0, 0.5))
    assert dialog.thin_result.text() == "Rebuilding the index from the drive first: 2 of 12 snapshots"
    dialog.thinning_progressed(Progress("coalesce", 1, 4, 0, 0, 0.6))
    assert dialog.thin_result.text() == "Thinning…"
