"""`timekeep-gui --file PATH` and `--folder PATH`, as the file managers' right-click runs them, on a real
repository: the versions dialog of that file in front of the window at its folder (the previous version
chosen for "Restore previous version…"), everything deleted beneath the folder listed newest first (by its
path from the folder) and restored byte for byte, and one sentence in the window for a path nothing protects
or a backup that is not there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import backup, make_tree, new_repo
from timekeep.core.types import VersionInfo
from timekeep.gui.app import TimekeepApp
from timekeep.gui.dialogs.deleted import DeletedDialog
from timekeep.gui.dialogs.versions import VersionsDialog
from timekeep.gui.place import Place, PlaceOpener, place_argument, previous_row
from timekeep.gui.prompts import ScriptedPrompts
from timekeep.gui.settings import AppPaths, AppSettings


@pytest.fixture
def history(tmp_path: Path) -> tuple[Path, Path]:
    docs = tmp_path / "home" / "Documents"
    make_tree(docs, {"notes": {"plan.txt": b"plan one\n"}, "old": {"draft.txt": b"first draft\n"},
                     "letter.txt": b"dear\n", "old.bin": bytes(range(200)), "gone.txt": b"gone but kept\n"})
    repo = new_repo(tmp_path, docs)
    backup(repo)
    (docs / "notes" / "plan.txt").write_bytes(b"plan two, longer\n")
    (docs / "gone.txt").unlink()
    backup(repo)
    (docs / "notes" / "plan.txt").write_bytes(b"plan three\n")
    (docs / "old.bin").unlink()
    backup(repo)
    (docs / "old" / "draft.txt").unlink()  # below a child folder, deleted last
    backup(repo)
    return repo, docs


def opened_at(qtbot, tmp_path: Path, repo: Path, place: Place) -> tuple[TimekeepApp, PlaceOpener, ScriptedPrompts]:  # type: ignore[no-untyped-def]
    prompts = ScriptedPrompts()
    app = TimekeepApp(AppPaths(tmp_path / "config", tmp_path / "cache"), prompts,
                      AppSettings(repository=str(repo)), tray=False)
    opener = PlaceOpener(app, place)
    app.start()
    assert app.window is not None
    qtbot.addWidget(app.window)
    return app, opener, prompts


def test_arguments_name_the_place() -> None:
    here = os.fsencode(os.path.realpath("notes.txt"))
    assert place_argument(["--file", "notes.txt"]) == Place("file", here)
    assert place_argument(["--file=notes.txt", "--previous"]) == Place("file", here, previous=True)
    tmp = os.fsencode(os.path.realpath("/tmp"))
    assert place_argument(["--repo", "/r", "--folder", "/tmp"]) == Place("folder", tmp)
    assert place_argument(["--repo", "/r"]) is None and place_argument(["--file"]) is None


def v(sid: int, size: int, mtime: int, state: str = "modified") -> VersionInfo:
    return VersionInfo(sid, sid * 10, state, "file", size, 0o644, mtime, b"c%d" % sid)  # type: ignore[arg-type]


@pytest.mark.parametrize(("versions", "disk", "row"), [
    ([v(1, 5, 100), v(2, 6, 200)], (6, 200), 0),  # unchanged since the last backup: the one before
    ([v(1, 5, 100), v(2, 6, 200)], (7, 300), 1),  # changed since: the last backup is the previous version
    ([v(1, 5, 100), v(2, 6, 200)], None, 1),  # gone from the disk: its last version
    ([v(1, 5, 100), v(2, 0, 0, "deleted")], None, 0),  # deleted: never the deletion itself
    ([v(1, 5, 100)], (5, 100), None),  # one version, the file holds it: nothing earlier
    ([], None, None),
])
def test_the_previous_version_is_the_newest_one_the_file_does_not_hold(versions, disk, row) -> None:  # type: ignore[no-untyped-def]
    assert previous_row(versions, disk) == row


def test_file_opens_its_versions_in_front_of_the_window_at_its_folder(qtbot, tmp_path: Path, history) -> None:  # type: ignore[no-untyped-def]
    repo, docs = history
    plan = os.fsencode(docs / "notes" / "plan.txt")
    app, opener, prompts = opened_at(qtbot, tmp_path, repo, Place("file", plan, previous=True))
    with qtbot.waitSignal(opener.opened, timeout=15_000) as shown:
        pass
    dialog = shown.args[0]
    assert isinstance(dialog, VersionsDialog) and dialog.path == plan and dialog.parent() is app.window
    qtbot.waitUntil(lambda: dialog.model.rowCount() == 3, timeout=10_000)
    assert [x.size for x in dialog.model.shown] == [9, 17, 11]
    qtbot.waitUntil(lambda: dialog.selected_version() is not None
                    and dialog.selected_version().size == 17, timeout=10_000)  # the one before "plan three"
    window = app.window
    qtbot.waitUntil(lambda: window.browser.selected is not None and window.browser.selected.path == plan,
                    timeout=10_000)  # the window behind it has the file's folder open, the file chosen
    dialog.restore_button.click()
    qtbot.waitUntil(lambda: any(kind == "inform" for kind, _t, _x in prompts.said), timeout=15_000)
    beside = [p for p in os.listdir(docs / "notes") if p != "plan.txt"]
    assert (docs / "notes" / "plan.txt").read_bytes() == b"plan three\n"  # never overwritten...
    assert len(beside) == 1 and (docs / "notes" / beside[0]).read_bytes() == b"plan two, longer\n"  # ...kept beside
    app.shut_down()


def test_folder_lists_what_was_deleted_and_restores_it_byte_exact(qtbot, tmp_path: Path, history) -> None:  # type: ignore[no-untyped-def]
    repo, docs = history
    app, opener, prompts = opened_at(qtbot, tmp_path, repo, Place("folder", os.fsencode(docs)))
    with qtbot.waitSignal(opener.opened, timeout=15_000) as shown:
        pass
    dialog = shown.args[0]
    assert isinstance(dialog, DeletedDialog)
    qtbot.waitUntil(lambda: dialog.model.rowCount() == 3, timeout=10_000)
    names = [dialog.model.index(r, 0).data() for r in range(3)]
    assert names == ["old/draft.txt", "old.bin", "gone.txt"]  # at any depth, newest deletion first
    assert "3 items deleted from here or any folder in it" in dialog.heading.text()
    dialog.view.setCurrentIndex(dialog.model.index(0, 0))
    with qtbot.waitSignal(dialog.loaded, timeout=15_000):
        dialog.restore_button.click()
    assert (docs / "old" / "draft.txt").read_bytes() == b"first draft\n"
    dialog.view.setCurrentIndex(dialog.model.index(1, 0))
    assert dialog.actions_.restore_action.isEnabled() and not dialog.actions_.compare_action.isEnabled()
    with qtbot.waitSignal(dialog.loaded, timeout=15_000):
        dialog.restore_button.click()
    assert (docs / "gone.txt").read_bytes() == b"gone but kept\n"
    assert [dialog.model.index(r, 0).data() for r in range(dialog.model.rowCount())] == ["old.bin"]
    assert prompts.said[-1][0] == "inform" and "gone.txt" in prompts.said[-1][2]
    dialog.view.setCurrentIndex(dialog.model.index(0, 0))
    with qtbot.waitSignal(dialog.loaded, timeout=15_000):
        dialog.actions_.restore_action.trigger()
    assert (docs / "old.bin").read_bytes() == bytes(range(200))
    assert dialog.model.rowCount() == 0 and "Nothing deleted from here is missing" in dialog.heading.text()
    app.shut_down()


def test_a_path_nothing_protects_is_said_in_one_sentence(qtbot, tmp_path: Path, history) -> None:  # type: ignore[no-untyped-def]
    repo, docs = history
    elsewhere = tmp_path / "Downloads" / "x.txt"
    make_tree(elsewhere.parent, {"x.txt": b"x"})
    app, opener, _prompts = opened_at(qtbot, tmp_path, repo, Place("file", os.fsencode(elsewhere)))
    with qtbot.waitSignal(opener.refused, timeout=15_000) as refused:
        pass
    sentence = refused.args[0]
    assert sentence == (f"{elsewhere} is not in a folder Timekeep protects ({docs}), so it has no backups.")
    assert app.window.preview.message.text() == sentence and opener.dialog is None
    app.shut_down()


def test_a_backup_drive_that_is_away_is_said_in_one_sentence(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    away = tmp_path / "media" / "drive" / "Timekeep" / "host"
    target = os.fsencode(tmp_path / "Documents" / "a.txt")
    app, opener, _prompts = opened_at(qtbot, tmp_path, away, Place("file", target))
    with qtbot.waitSignal(opener.refused, timeout=15_000) as refused:
        pass
    assert refused.args[0] == f"{os.fsdecode(target)} can be shown once the backup drive is connected."
    assert app.window.preview.message.text() == refused.args[0]
    app.shut_down()
