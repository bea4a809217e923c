"""The first run, driven like a person would: a temporary folder stands in for the drive, home sub-folders
are suggested, the first backup runs through the real engine with progress, and cancelling loses nothing."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer

from tests.helpers import backup, make_tree, new_repo, read_tree
from timekeep.core.api import Timekeep
from timekeep.core.crypto.kdf import TEST_PARAMS
from timekeep.gui.app import TimekeepApp
from timekeep.gui.dialogs.welcome import WelcomeDialog
from timekeep.gui.prompts import ScriptedPrompts
from timekeep.gui.settings import AppPaths, AppSettings, load_settings
from timekeep.gui.volumes import repository_path


def start(qtbot, tmp_path: Path, home: Path) -> tuple[TimekeepApp, ScriptedPrompts, WelcomeDialog]:  # type: ignore[no-untyped-def]
    prompts = ScriptedPrompts()
    paths = AppPaths(tmp_path / "config", tmp_path / "cache")
    app = TimekeepApp(paths, prompts, AppSettings(), tray=False, home=home, argon2=TEST_PARAMS)
    app.start()
    welcome = app.welcome
    assert welcome is not None and app.window is None
    qtbot.addWidget(welcome)
    return app, prompts, welcome


def choose_folder_as_drive(qtbot, prompts: ScriptedPrompts, welcome: WelcomeDialog, drive: Path,  # type: ignore[no-untyped-def]
                           passphrase: str | None = None) -> None:
    """Choose `drive`; a new one is then encrypted under `passphrase`, or not at all when it is None."""
    prompts.folders.append(str(drive))
    qtbot.mouseClick(welcome.folder_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: welcome.next_button.isEnabled(), timeout=10_000)
    assert welcome.repo == (drive if (drive / "config.json").exists() else repository_path(drive))
    new = not (welcome.repo / "config.json").exists()
    qtbot.mouseClick(welcome.next_button, Qt.MouseButton.LeftButton)
    if new:
        qtbot.waitUntil(lambda: welcome.pages.currentWidget() is welcome.keys.new_page, timeout=10_000)
        give_new_passphrase(qtbot, welcome, passphrase)


def give_new_passphrase(qtbot, welcome: WelcomeDialog, passphrase: str | None) -> None:  # type: ignore[no-untyped-def]
    """Fill the passphrase page (kept out of the keyring), or choose "Do not encrypt", and go on; for an
    encrypted drive, tick that the recovery key was kept and go on from that page too."""
    page = welcome.keys.new_page
    if passphrase is None:
        page.plain_box.setChecked(True)
    else:
        for field in page.secret.fields:
            qtbot.keyClicks(field, passphrase)
        page.secret.keep_box.setChecked(False)
    qtbot.mouseClick(welcome.next_button, Qt.MouseButton.LeftButton)
    if passphrase is not None:
        recovery = welcome.keys.recovery_page
        qtbot.waitUntil(lambda: welcome.pages.currentWidget() is recovery, timeout=10_000)
        assert not welcome.next_button.isEnabled()
        recovery.kept_box.setChecked(True)
        assert welcome.next_button.isEnabled()
        qtbot.mouseClick(welcome.next_button, Qt.MouseButton.LeftButton)


def test_welcome_flow_protects_folders_and_takes_the_first_backup(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    make_tree(home, {"Documents": {"cv.txt": b"my cv\n"}, "Pictures": {"cat.png": b"\x89PNG fake"},
                     "Music": {"song.ogg": b"la la"}, ".cache": {}})
    app, prompts, welcome = start(qtbot, tmp_path, home)
    qtbot.waitUntil(lambda: welcome.drive_list.count() > 0, timeout=10_000)  # the mounted volumes
    # what focus does to the list (when the window manager gives it): a current row, which is not a choice
    welcome.drive_list.setCurrentRow(0, QItemSelectionModel.SelectionFlag.NoUpdate)
    assert welcome.drive_list.currentRow() == 0 and not welcome.drive_list.selectedItems()
    assert welcome.repo is None and not welcome.next_button.isEnabled()
    choose_folder_as_drive(qtbot, prompts, welcome, tmp_path / "drive", passphrase="a long walk home")
    qtbot.waitUntil(lambda: welcome.pages.currentIndex() == 1 and welcome.folder_list.count() == 3, timeout=10_000)
    suggested = [welcome.folder_list.item(i).text() for i in range(3)]
    assert suggested == [str(home / "Documents"), str(home / "Pictures"), str(home / "Music")]
    assert welcome.chosen_folders() == [str(home / "Documents"), str(home / "Pictures")]
    qtbot.mouseClick(welcome.next_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: welcome.outcome == "done", timeout=20_000)
    assert welcome.progress_bar.value() == 1000 and "first backup is done" in welcome.progress_label.text()
    with qtbot.waitSignal(welcome.setup_finished, timeout=5_000):
        qtbot.mouseClick(welcome.next_button, Qt.MouseButton.LeftButton)
    repo = repository_path(tmp_path / "drive")
    assert_protected(repo, [home / "Documents", home / "Pictures"])
    window = app.window
    assert window is not None
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.tree_model.rowCount() == 1, timeout=10_000)
    assert window.tree_model.index(0, 0).data() == "cv.txt"
    qtbot.waitUntil(lambda: load_settings(app.store.paths).repository == str(repo), timeout=5_000)
    app.shut_down()


def assert_protected(repo: Path, folders: list[Path]) -> None:
    with Timekeep.open(repo) as tk:
        assert [os.fsdecode(f.path) for f in tk.folders()] == [str(f) for f in folders]
        (snap,) = tk.snapshots()
        assert snap.trigger == "first"


def test_cancelling_the_first_backup_loses_nothing(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    make_tree(home / "Documents", {f"f{i:04}.txt": os.urandom(3000) for i in range(800)})
    app, prompts, welcome = start(qtbot, tmp_path, home)
    choose_folder_as_drive(qtbot, prompts, welcome, tmp_path / "drive")
    qtbot.waitUntil(lambda: welcome.folder_list.count() == 1 and welcome.next_button.isEnabled(), timeout=10_000)

    def cancel_soon(page: int) -> None:  # the person presses Cancel as soon as the backup page shows
        if page == 2:
            QTimer.singleShot(0, lambda: qtbot.mouseClick(welcome.cancel_button, Qt.MouseButton.LeftButton))

    welcome.pages.currentChanged.connect(cancel_soon)
    qtbot.mouseClick(welcome.next_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: welcome.outcome != "", timeout=20_000)
    assert welcome.outcome == "cancelled"
    assert "Nothing was lost" in welcome.progress_label.text()
    repo = repository_path(tmp_path / "drive")
    with Timekeep.open(repo) as tk:
        assert tk.snapshots() == [] and tk.check().ok
    before = read_tree(home)
    sid = backup(repo)  # the next backup completes, and the source was never touched
    assert read_tree(home) == before
    with Timekeep.open(repo) as tk:
        assert [s.id for s in tk.snapshots()] == [sid]
    app.shut_down()


def test_a_drive_that_already_has_this_computers_backups_just_opens(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    make_tree(home / "Documents", {"a.txt": b"a"})
    drive = tmp_path / "drive"
    existing = repository_path(drive)
    existing.parent.mkdir(parents=True)
    repo = new_repo(tmp_path / "elsewhere", home / "Documents")
    repo.rename(existing)
    backup(existing)
    app, prompts, welcome = start(qtbot, tmp_path, home)
    with qtbot.waitSignal(welcome.setup_finished, timeout=10_000):
        choose_folder_as_drive(qtbot, prompts, welcome, drive)
    assert app.window is not None
    qtbot.addWidget(app.window)
    qtbot.waitUntil(lambda: app.window.tree_model.rowCount() == 1, timeout=10_000)
    app.shut_down()


def test_a_folder_that_is_itself_a_repository_opens_and_is_not_nested(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A repository made with `timekeep init` under any name: choosing it opens it, nothing is created inside."""
    home = tmp_path / "home"
    make_tree(home / "Documents", {"a.txt": b"a"})
    repo = new_repo(tmp_path / "usb", home / "Documents")  # usb/drive/Timekeep/repo, not this host's name
    backup(repo)
    app, prompts, welcome = start(qtbot, tmp_path, home)
    prompts.folders.append(str(repo))
    qtbot.mouseClick(welcome.folder_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: welcome.next_button.isEnabled(), timeout=10_000)
    assert welcome.repo == repo and "found backups" in welcome.target_label.text()
    with qtbot.waitSignal(welcome.setup_finished, timeout=10_000):
        qtbot.mouseClick(welcome.next_button, Qt.MouseButton.LeftButton)
    assert not (repo / "Timekeep").exists()
    assert app.settings.repository == str(repo)
    qtbot.addWidget(app.window)
    qtbot.waitUntil(lambda: app.window.tree_model.rowCount() == 1, timeout=10_000)
    app.shut_down()
