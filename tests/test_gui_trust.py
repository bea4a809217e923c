"""The window over a damaged drive, with the real engine: restores say what they left as it is and what may
not be as it was, a preview says when a lost snapshot came between, and damaged data is one line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.api import rebuild_index
from core.types import RestoreResult
from gui import wording
from gui.app import TimekeepApp
from gui.file_actions import restore_sentence, restore_went_wrong
from gui.main_window import MainWindow
from gui.prompts import ScriptedPrompts
from tests.helpers import backup, make_tree, new_repo
from tests.test_gui_window import select, start_app, trigger_menu_item, wait_tree
from tests.treeops import chunks_of, flip_byte

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


