"""The window with encrypted backups, driven like a person would: the welcome flow makes an encrypted drive
that reveals no name and no content, keeps the passphrase in a real Secret Service (GNOME Keyring on a bus
of the test's own: tests/keyring_support.py) and restores byte-exact; the recovery key page saves a private
file whose key unlocks the drive and prints to PDF; an encrypted drive the keyring does not open asks (in the
welcome flow, where the recovery key opens it, and in the window), says "Wrong passphrase" and opens on the
right one; Cancel leaves it locked; "Do not encrypt" makes today's format.
Argon2 runs at kdf.TEST_PARAMS throughout, handed to the app."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtPdf import QPdfDocument

from tests.helpers import backup, make_tree, read_tree
from tests.keyring_support import needs_secret_service, no_keyring, secret_service
from tests.test_gui_welcome import choose_folder_as_drive, start
from tests.treeops import restore_into
from timekeep.core.api import Timekeep, init_repository, unlock, unlock_with
from timekeep.core.crypto import sealing
from timekeep.core.crypto.kdf import TEST_PARAMS
from timekeep.core.errors import KeyNeeded
from timekeep.core.storage.layout import load_config
from timekeep.gui.app import TimekeepApp
from timekeep.gui.dialogs.welcome import WelcomeDialog
from timekeep.gui.prompts import ScriptedPrompts
from timekeep.gui.settings import AppPaths, AppSettings
from timekeep.gui.volumes import repository_path

PASSPHRASE = "a walk along the estuary"
FILE_NAME = "tax-return-zebrafish.txt"
FOLDER_NAME = "private-correspondence-okapi"
SECRET_LINE = b"the combination to the garden shed is 4-7-1-1\n"


def private_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    make_tree(home, {"Documents": {FOLDER_NAME: {FILE_NAME: SECRET_LINE * 50}, "notes.txt": b"hello\n"}})
    return home


def to_page(qtbot, tmp_path: Path, home: Path, page: str = "new_page") -> tuple[TimekeepApp, WelcomeDialog]:  # type: ignore[no-untyped-def]
    """The welcome flow, with tmp_path/drive chosen, at the keys' `page`."""
    app, prompts, welcome = start(qtbot, tmp_path, home)
    prompts.folders.append(str(tmp_path / "drive"))
    qtbot.mouseClick(welcome.folder_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(welcome.next_button.isEnabled, timeout=10_000)
    qtbot.mouseClick(welcome.next_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: welcome.pages.currentWidget() is getattr(welcome.keys, page), timeout=10_000)
    return app, welcome


def type_twice(qtbot, welcome: WelcomeDialog, first: str, again: str) -> None:  # type: ignore[no-untyped-def]
    fields = welcome.keys.new_page.secret.fields
    for field, text in zip(fields, (first, again), strict=True):
        field.clear()
        qtbot.keyClicks(field, text)
    qtbot.mouseClick(welcome.next_button, Qt.MouseButton.LeftButton)


def every_file(root: Path) -> list[Path]:
    return [Path(d) / f for d, _, files in os.walk(root) for f in files]


@needs_secret_service
def test_the_welcome_flow_makes_an_encrypted_drive_kept_in_the_keyring(
        qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    home = private_home(tmp_path)
    with secret_service(tmp_path / "session", monkeypatch) as keyring_backend:
        app, welcome = to_page(qtbot, tmp_path, home)
        page = welcome.keys.new_page
        assert page.encrypt and page.keep and page.secret.fields[0].echoMode() != page.secret.fields[0].EchoMode.Normal
        type_twice(qtbot, welcome, PASSPHRASE, PASSPHRASE + "!")
        assert "differ" in welcome.message.text() and welcome.pages.currentWidget() is page
        type_twice(qtbot, welcome, "", "")
        assert "empty" in welcome.message.text() and welcome.pages.currentWidget() is page
        type_twice(qtbot, welcome, PASSPHRASE, PASSPHRASE)
        recovery = welcome.keys.recovery_page
        qtbot.waitUntil(lambda: welcome.pages.currentWidget() is recovery, timeout=10_000)
        groups = recovery.recovery_key.split("-")
        assert len(groups) == 9 and all(g in recovery.key_label.text() for g in groups)
        assert not welcome.next_button.isEnabled()
        recovery.kept_box.setChecked(True)
        qtbot.mouseClick(welcome.next_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: welcome.pages.currentIndex() == 1 and welcome.folder_list.count() == 1,
                        timeout=10_000)
        qtbot.mouseClick(welcome.next_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: welcome.outcome == "done", timeout=20_000)
        qtbot.mouseClick(welcome.next_button, Qt.MouseButton.LeftButton)
        qtbot.addWidget(app.window)
        qtbot.waitUntil(lambda: app.window is not None and app.window.history is not None, timeout=10_000)
        app.shut_down()
        repo = repository_path(tmp_path / "drive")
        config = json.loads((repo / "config.json").read_text())
        assert config["encryption"] == "repokey"
        rid = load_config(repo).repository_id
        assert keyring_backend.get_password("timekeep", f"repository {rid}") == PASSPHRASE
        for path in every_file(repo):  # the drive alone: no name, no content
            for needle in (FILE_NAME.encode(), FOLDER_NAME.encode(), SECRET_LINE.strip(), b"notes.txt"):
                assert needle not in path.read_bytes() and needle not in os.fsencode(path)
        sealing.forget(rid)  # as a new process would be: the keyring unlocks it, without asking
        with pytest.raises(KeyNeeded):
            Timekeep.open(repo)
        assert unlock(repo, interactive=False)
    documents = os.fsencode(home / "Documents")
    with Timekeep.open(repo) as tk:
        (snapshot,) = tk.snapshots()
        restored, _result = restore_into(tk, documents, snapshot.id, tmp_path / "restored")
    assert restored == read_tree(home / "Documents")


def test_do_not_encrypt_makes_todays_unencrypted_drive(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home = private_home(tmp_path)
    app, prompts, welcome = start(qtbot, tmp_path, home)
    choose_folder_as_drive(qtbot, prompts, welcome, tmp_path / "drive", passphrase=None)
    qtbot.waitUntil(lambda: welcome.pages.currentIndex() == 1, timeout=10_000)
    config = json.loads((repository_path(tmp_path / "drive") / "config.json").read_text())
    assert "encryption" not in config and "key_check" not in config
    app.shut_down()


def test_the_recovery_key_is_saved_privately_printed_and_unlocks_the_drive(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home = private_home(tmp_path)
    with no_keyring():
        app, welcome = to_page(qtbot, tmp_path, home)
        type_twice(qtbot, welcome, PASSPHRASE, PASSPHRASE)
        recovery = welcome.keys.recovery_page
        qtbot.waitUntil(lambda: welcome.pages.currentWidget() is recovery, timeout=10_000)
        assert "no keyring" in recovery.status.text()  # said, and the flow goes on
        prompts = welcome.prompts
        assert isinstance(prompts, ScriptedPrompts)
        saved = tmp_path / "key.txt"
        prompts.save_files.append(str(saved))
        qtbot.mouseClick(recovery.save_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: recovery.kept and welcome.next_button.isEnabled(), timeout=10_000)
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600 and recovery.recovery_key in saved.read_text()
        saved.write_text("something else\n")
        prompts.save_files.append(str(saved))
        prompts.confirmations.append(False)  # "Replace the file?" No
        qtbot.mouseClick(recovery.save_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: any(s[1] == "Replace the file?" for s in prompts.said), timeout=10_000)
        app.workers.wait_idle()
        assert saved.read_text() == "something else\n"
        pdf = tmp_path / "key.pdf"
        prompts.pdf_files.append(str(pdf))
        qtbot.mouseClick(recovery.print_button, Qt.MouseButton.LeftButton)
        document = QPdfDocument()
        assert document.load(str(pdf)) == QPdfDocument.Error.None_
        printed = document.getAllText(0).text()
        assert "recovery key" in printed and recovery.recovery_key.split("-")[0] in printed
        repo = repository_path(tmp_path / "drive")
        key = recovery.recovery_key
        app.shut_down()
    rid = load_config(repo).repository_id
    sealing.forget(rid)
    with pytest.raises(KeyNeeded):
        Timekeep.open(repo)
    assert unlock_with(repo, key) is False  # the recovery key: never one to keep in the keyring
    Timekeep.open(repo).close()


def locked_repository(tmp_path: Path, home: Path, repo: Path | None = None) -> tuple[Path, str]:
    """An encrypted repository holding one backup, locked as in a new process; and its recovery key."""
    repo = repo or tmp_path / "drive" / "repo"
    recovery_key = init_repository(repo, encryption="repokey", passphrase=PASSPHRASE, argon2=TEST_PARAMS)
    assert recovery_key is not None
    with Timekeep.open(repo, writer=True) as tk:
        tk.add_folder(os.fsencode(home / "Documents"))
    backup(repo)
    sealing.forget(load_config(repo).repository_id)
    return repo, recovery_key


def test_the_welcome_flow_opens_an_encrypted_drive_with_its_recovery_key(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home = private_home(tmp_path)
    repo, recovery_key = locked_repository(tmp_path, home, repository_path(tmp_path / "drive"))
    with no_keyring():
        app, welcome = to_page(qtbot, tmp_path, home, "open_page")
        assert str(repo) in welcome.keys.open_page.text.text()
        (field,) = welcome.keys.open_page.secret.fields
        qtbot.keyClicks(field, "not the passphrase")
        qtbot.mouseClick(welcome.next_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: welcome.message.text() == "Wrong passphrase", timeout=10_000)
        assert welcome.pages.currentWidget() is welcome.keys.open_page and welcome.next_button.isEnabled()
        qtbot.keyClicks(field, recovery_key.lower().replace("-", " "))
        with qtbot.waitSignal(welcome.setup_finished, timeout=10_000):  # its backups are there: nothing to set up
            qtbot.mouseClick(welcome.next_button, Qt.MouseButton.LeftButton)
        qtbot.addWidget(app.window)
        qtbot.waitUntil(lambda: app.window.tree_model.rowCount() == 2, timeout=10_000)
        app.shut_down()


def open_app(qtbot, tmp_path: Path, repo: Path) -> TimekeepApp:  # type: ignore[no-untyped-def]
    app = TimekeepApp(AppPaths(tmp_path / "config", tmp_path / "cache"), ScriptedPrompts(),
                      AppSettings(repository=str(repo)), tray=False, argon2=TEST_PARAMS)
    app.start()
    assert app.window is not None
    qtbot.addWidget(app.window)
    qtbot.waitUntil(lambda: app.unlock_dialog is not None and app.unlock_dialog.isVisible(), timeout=10_000)
    return app


def test_the_unlock_dialog_says_wrong_passphrase_then_opens_on_the_right_one(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home = private_home(tmp_path)
    repo, _recovery_key = locked_repository(tmp_path, home)
    with no_keyring():
        app = open_app(qtbot, tmp_path, repo)
        dialog = app.unlock_dialog
        assert dialog is not None and app.bridge.state == "locked"
        (field,) = dialog.secret.fields
        qtbot.keyClicks(field, "not the passphrase")
        qtbot.mouseClick(dialog.unlock_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dialog.message.text() == "Wrong passphrase", timeout=10_000)
        assert dialog.isVisible() and field.text() == "" and dialog.unlock_button.isEnabled()
        qtbot.keyClicks(field, PASSPHRASE)
        qtbot.mouseClick(dialog.unlock_button, Qt.MouseButton.LeftButton)
        window = app.window
        assert window is not None
        qtbot.waitUntil(lambda: window.tree_model.rowCount() == 2, timeout=10_000)
        assert not dialog.isVisible()
        assert sorted(window.tree_model.index(i, 0).data() for i in range(2)) == sorted([FOLDER_NAME, "notes.txt"])
        settings = app.show_settings()
        qtbot.addWidget(settings)
        assert settings.encryption_label.text().startswith("<small>Encrypted:")
        settings.reject()
        app.shut_down()


def test_cancelling_the_unlock_leaves_the_window_usable_and_the_drive_locked(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo, _recovery_key = locked_repository(tmp_path, private_home(tmp_path))
    with no_keyring():
        app = open_app(qtbot, tmp_path, repo)
        dialog = app.unlock_dialog
        assert dialog is not None
        dialog.reject()
        window = app.window
        assert window is not None and window.isVisible() and app.bridge.state == "locked"
        assert "locked" in window.drive_status.label.text() and not window.backup_action.isEnabled()
        app.shut_down()


def test_changing_to_a_new_drive_in_settings_encrypts_it_too(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Settings' "Change drive…" onto a drive without backups asks for a passphrase and shows the recovery key,
    as the welcome flow does, rather than making an unencrypted repository behind the person's back."""
    home = private_home(tmp_path)
    old = tmp_path / "old-drive" / "repo"
    init_repository(old)
    with no_keyring():
        app = TimekeepApp(AppPaths(tmp_path / "config", tmp_path / "cache"), ScriptedPrompts(),
                          AppSettings(repository=str(old)), tray=False, home=home, argon2=TEST_PARAMS)
        app.start()
        assert app.window is not None
        qtbot.addWidget(app.window)
        settings = app.show_settings()
        qtbot.addWidget(settings)
        settings.new_repository = str(tmp_path / "new-drive")
        settings.accept()
        qtbot.waitUntil(lambda: app.new_drive is not None and app.new_drive.isVisible(), timeout=10_000)
        dialog = app.new_drive
        assert dialog is not None and dialog.pages.currentWidget() is dialog.steps.new_page
        for field in dialog.steps.new_page.secret.fields:
            qtbot.keyClicks(field, PASSPHRASE)
        qtbot.mouseClick(dialog.next_button, Qt.MouseButton.LeftButton)
        recovery = dialog.steps.recovery_page
        qtbot.waitUntil(lambda: dialog.pages.currentWidget() is recovery, timeout=10_000)
        assert not dialog.next_button.isEnabled()
        recovery.kept_box.setChecked(True)
        qtbot.mouseClick(dialog.next_button, Qt.MouseButton.LeftButton)
        repo = repository_path(tmp_path / "new-drive")
        qtbot.waitUntil(lambda: app.settings.repository == str(repo) and not dialog.isVisible(), timeout=10_000)
        assert load_config(repo).encrypted and not load_config(old).encrypted
        sealing.forget(load_config(repo).repository_id)
        unlock_with(repo, PASSPHRASE)  # the passphrase typed in the dialog is the drive's
        app.shut_down()
