"""Living with an encrypted drive's key from Settings, driven like a person would on real repositories:
"Change passphrase…" says "Wrong passphrase" in place, then changes it (the old passphrase fails afterwards,
the new one and the recovery key unlock and restore byte-exact; the window holds the new one for a locked
agent); with the old passphrase kept in a real Secret Service (GNOME Keyring on a bus of the test's own:
tests/keyring_support.py) the keyring holds the new one afterwards, here changed with the recovery key;
"Add recovery key…" shows the new key on the welcome flow's recovery page and that key unlocks and restores.
An unencrypted drive offers neither. Argon2 runs at kdf.TEST_PARAMS throughout, handed to the app."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from tests.helpers import backup, make_tree, read_tree
from tests.keyring_support import needs_secret_service, no_keyring, secret_service
from tests.treeops import restore_into
from timekeep.core.api import Timekeep, init_repository, keep_new_passphrase, unlock_with
from timekeep.core.crypto import sealing
from timekeep.core.crypto.kdf import TEST_PARAMS
from timekeep.core.crypto.keychain import Keychain
from timekeep.core.errors import KeyNeeded, WrongPassphrase
from timekeep.core.storage.layout import load_config
from timekeep.gui.app import TimekeepApp
from timekeep.gui.dialogs.add_recovery import AddRecoveryDialog
from timekeep.gui.dialogs.change_passphrase import DONE, ChangePassphraseDialog
from timekeep.gui.dialogs.settings import SettingsDialog
from timekeep.gui.key_jobs import held_secret
from timekeep.gui.prompts import ScriptedPrompts
from timekeep.gui.settings import AppPaths, AppSettings

OLD = "a walk along the estuary"
NEW = "herons over the salt marsh"


def drive_with_a_backup(tmp_path: Path, encrypted: bool = True) -> tuple[Path, Path, str | None]:
    """A repository holding one backup of tmp_path/home/Documents (unlocked in this process, as after the
    welcome flow); the folder, and its recovery key."""
    docs = tmp_path / "home" / "Documents"
    make_tree(docs, {"letter.txt": b"Dear aunt,\n" * 40, "deep": {"big.bin": os.urandom(200_000)}})
    repo = tmp_path / "drive" / "repo"
    recovery = (init_repository(repo, encryption="repokey", passphrase=OLD, argon2=TEST_PARAMS) if encrypted
                else init_repository(repo))
    with Timekeep.open(repo, writer=True) as tk:
        tk.add_folder(os.fsencode(docs))
    backup(repo)
    return repo, docs, recovery


def settings_of(qtbot, tmp_path: Path, repo: Path) -> tuple[TimekeepApp, SettingsDialog]:  # type: ignore[no-untyped-def]
    app = TimekeepApp(AppPaths(tmp_path / "config", tmp_path / "cache"), ScriptedPrompts(),
                      AppSettings(repository=str(repo)), tray=False, home=tmp_path / "home", argon2=TEST_PARAMS)
    app.start()
    window = app.window
    assert window is not None
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.history is not None and window.tree_model.rowCount() == 2, timeout=10_000)
    settings = app.show_settings()
    qtbot.addWidget(settings)
    return app, settings


def type_in(qtbot, dialog: ChangePassphraseDialog, current: str, new: str, again: str,  # type: ignore[no-untyped-def]
            press: bool = True) -> None:
    for field, text in zip(dialog.secret.fields, (current, new, again), strict=True):
        field.clear()
        qtbot.keyClicks(field, text)
    if press:
        qtbot.mouseClick(dialog.change_button, Qt.MouseButton.LeftButton)


def open_change(qtbot, settings: SettingsDialog) -> ChangePassphraseDialog:  # type: ignore[no-untyped-def]
    keys = settings.key_buttons
    assert keys is not None and keys.isVisibleTo(settings)
    qtbot.mouseClick(keys.change_button, Qt.MouseButton.LeftButton)
    dialog = keys.dialog
    assert isinstance(dialog, ChangePassphraseDialog) and dialog.isVisible()
    return dialog


def restores_exactly(repo: Path, docs: Path, base: Path) -> bool:
    with Timekeep.open(repo) as tk:
        tree, _ = restore_into(tk, os.fsencode(docs), tk.snapshots()[-1].id, base)
    return tree == read_tree(docs)


def locked_again(repo: Path) -> None:
    """As a new process: nothing unlocked."""
    sealing.forget(load_config(repo).repository_id)
    with pytest.raises(KeyNeeded):
        Timekeep.open(repo)


def test_change_passphrase_says_wrong_in_place_then_the_new_one_opens_and_the_old_one_does_not(
        qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo, docs, recovery = drive_with_a_backup(tmp_path)
    assert recovery is not None
    with no_keyring():
        app, settings = settings_of(qtbot, tmp_path, repo)
        dialog = open_change(qtbot, settings)
        assert dialog.secret.fields[0].echoMode() == dialog.secret.fields[0].EchoMode.Password
        type_in(qtbot, dialog, OLD, NEW, NEW + "!")
        assert "differ" in dialog.message.text() and dialog.change_button.isEnabled()
        type_in(qtbot, dialog, "not the passphrase", NEW, NEW)
        qtbot.waitUntil(lambda: dialog.message.text() == "Wrong passphrase", timeout=10_000)
        type_in(qtbot, dialog, "still not the passphrase", NEW, NEW, press=False)
        dialog.try_change()  # no event is handled before the next line: the answer cannot have arrived yet
        assert dialog.busy.isVisible() and not dialog.change_button.isEnabled() and not dialog.secret.isEnabled()
        qtbot.waitUntil(lambda: dialog.message.text() == "Wrong passphrase", timeout=10_000)
        assert dialog.isVisible() and dialog.secret.fields[0].text() == "" and dialog.change_button.isEnabled()
        assert not dialog.busy.isVisible() and not dialog.changed
        type_in(qtbot, dialog, OLD, NEW, NEW)
        qtbot.waitUntil(lambda: dialog.changed, timeout=10_000)
        assert dialog.message.text() == DONE and not dialog.change_button.isVisible()
        assert dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).text() == "Close"
        assert held_secret(repo) == NEW  # no keyring: a locked agent is handed the new passphrase by the window
        app.shut_down()
    locked_again(repo)
    with pytest.raises(WrongPassphrase):
        unlock_with(repo, OLD)
    assert unlock_with(repo, NEW) is True
    assert restores_exactly(repo, docs, tmp_path / "restored")
    locked_again(repo)
    assert unlock_with(repo, recovery) is False  # the recovery key still opens it
    assert restores_exactly(repo, docs, tmp_path / "restored")


@needs_secret_service
def test_a_passphrase_kept_in_the_keyring_is_replaced_by_the_new_one(
        qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    repo, docs, recovery = drive_with_a_backup(tmp_path)
    assert recovery is not None
    rid = load_config(repo).repository_id
    with secret_service(tmp_path / "session", monkeypatch):
        keep_new_passphrase(repo, OLD)
        app, settings = settings_of(qtbot, tmp_path, repo)
        dialog = open_change(qtbot, settings)
        type_in(qtbot, dialog, recovery, NEW, NEW)  # the passphrase forgotten: the recovery key changes it
        qtbot.waitUntil(lambda: dialog.changed, timeout=10_000)
        assert "keyring is now the new one" in dialog.message.text()
        assert Keychain().lookup(rid) == NEW and held_secret(repo) is None  # kept: nothing held in memory
        app.shut_down()
        locked_again(repo)
        assert unlock_with(repo, Keychain().lookup(rid) or "") is True
    with pytest.raises(WrongPassphrase):
        unlock_with(repo, OLD)
    assert restores_exactly(repo, docs, tmp_path / "restored")


def test_add_recovery_key_shows_a_new_key_on_the_recovery_page_and_it_unlocks(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo, docs, first_key = drive_with_a_backup(tmp_path)
    with no_keyring():
        app, settings = settings_of(qtbot, tmp_path, repo)
        keys = settings.key_buttons
        assert keys is not None
        qtbot.mouseClick(keys.recovery_button, Qt.MouseButton.LeftButton)
        dialog = keys.dialog
        assert isinstance(dialog, AddRecoveryDialog) and dialog.isVisible()
        (field,) = dialog.secret.fields
        qtbot.keyClicks(field, "not the passphrase")
        qtbot.mouseClick(dialog.make_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dialog.message.text() == "Wrong passphrase", timeout=10_000)
        assert dialog.pages.currentWidget() is not dialog.recovery_page and field.text() == ""
        qtbot.keyClicks(field, OLD)
        qtbot.mouseClick(dialog.make_button, Qt.MouseButton.LeftButton)
        page = dialog.recovery_page
        qtbot.waitUntil(lambda: dialog.pages.currentWidget() is page, timeout=10_000)
        new_key = page.recovery_key
        assert new_key and new_key != first_key and page.key_label.text().replace("\n", "-") == new_key
        assert field.text() == "" and not dialog.done_button.isEnabled()  # Done waits until it is kept
        qtbot.mouseClick(page.copy_button, Qt.MouseButton.LeftButton)
        assert "Copied" in page.status.text()
        page.kept_box.setChecked(True)
        # a button shown a moment ago is laid out by the event loop: until then it has no size to click in
        qtbot.waitUntil(lambda: dialog.done_button.isEnabled() and not dialog.done_button.rect().isEmpty())
        qtbot.mouseClick(dialog.done_button, Qt.MouseButton.LeftButton)
        assert not dialog.isVisible()
        app.shut_down()
    locked_again(repo)
    assert unlock_with(repo, new_key) is False
    assert restores_exactly(repo, docs, tmp_path / "restored")


def test_an_unencrypted_drive_offers_no_key_buttons(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo, _docs, _ = drive_with_a_backup(tmp_path, encrypted=False)
    app, settings = settings_of(qtbot, tmp_path, repo)
    assert settings.key_buttons is None and settings.encryption_label.text().startswith("<small>Not encrypted")
    app.shut_down()
