""""Browse in the file manager": the window mounts history off the GUI thread, opens the folder of the time shown
(only the call into the file manager is stubbed, at Qt's boundary), and its quit unmounts it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QUrl

from tests.agent_support import wait_for
from tests.helpers import PASSPHRASE, backup, make_tree, new_repo
from tests.mount_support import names, needs_fuse
from tests.test_gui_window import start_app
from timekeep.core.mount import available
from timekeep.core.mount.run import mounted_type
from timekeep.gui.app import TimekeepApp
from timekeep.gui.key_jobs import hold_for_agent
from timekeep.gui.place import Place, PlaceOpener, place_argument
from timekeep.gui.prompts import ScriptedPrompts
from timekeep.gui.settings import AppPaths, AppSettings


@pytest.fixture
def running(qtbot, tmp_path: Path, plain_and_encrypted: str):  # type: ignore[no-untyped-def]
    docs = Path(os.path.realpath(tmp_path)) / "home" / "Documents"
    make_tree(docs, {"a.txt": b"first\n", "sub": {"b.txt": b"b"}})
    repo = new_repo(tmp_path, docs)
    backup(repo)
    (docs / "a.txt").write_bytes(b"second\n")
    backup(repo)
    if plain_and_encrypted == "encrypted":
        hold_for_agent(repo, PASSPHRASE)  # as when the person typed it in the window, kept out of the keyring
    app, _ = start_app(qtbot, tmp_path, repo)
    window = app.window
    qtbot.waitUntil(lambda: window.history is not None and window.tree_model.rowCount() > 0, timeout=10_000)
    yield app, window, repo, docs
    app.shut_down()
    browse = window.browse_files
    if mounted_type(browse.mountpoint) is not None:  # a failed test leaves nothing mounted behind
        browse.is_mounted = True
        thread = browse.unmount()
        assert thread is not None
        thread.join(30)


@needs_fuse
def test_browse_mounts_and_opens_the_time_shown_and_quit_unmounts(qtbot, running) -> None:  # type: ignore[no-untyped-def]
    _, window, repo, docs = running
    opened: list[QUrl] = []
    browse = window.browse_files
    browse.opener = lambda url: opened.append(url) or True
    window.timeline.set_position(0)  # the first snapshot
    with qtbot.waitSignal(browse.mounted, timeout=60_000):
        browse.action.trigger()
    first = min(names(repo).items(), key=lambda kv: kv[1])[0]
    folder = Path(opened[0].toLocalFile())
    assert folder == browse.mountpoint / "by-time" / first / str(docs).lstrip("/")
    assert (folder / "a.txt").read_bytes() == b"first\n"  # as it was then, not as it is now
    assert sorted(os.listdir(folder)) == ["a.txt", "sub"]
    assert mounted_type(browse.mountpoint) == "fuse.timekeep"

    window.timeline.set_position(window.timeline.now_position)  # Now: the newest snapshot, already mounted
    with qtbot.waitSignal(browse.mounted, timeout=10_000):
        browse.action.trigger()
    newest = max(names(repo).items(), key=lambda kv: kv[1])[0]
    assert Path(opened[1].toLocalFile()) == browse.mountpoint / "by-time" / newest / str(docs).lstrip("/")
    assert (Path(opened[1].toLocalFile()) / "a.txt").read_bytes() == b"second\n"

    window.quit_requested.emit()
    wait_for(lambda: mounted_type(browse.mountpoint) is None, 30, what="the mount to be let go at quit")


def test_without_fuse_browse_says_why_in_the_status_bar(qtbot, running, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _, window, _, _ = running
    monkeypatch.setattr(available, "DEVICE", tmp_path / "no-fuse-here")
    browse = window.browse_files
    opened: list[QUrl] = []
    browse.opener = lambda url: opened.append(url) or True
    with qtbot.waitSignal(browse.failed, timeout=10_000) as failed:
        browse.action.trigger()
    assert "no-fuse-here does not exist" in failed.args[0]
    assert window.statusBar().currentMessage().startswith("Could not browse in the file manager: this computer")
    assert opened == [] and not browse.is_mounted


@needs_fuse
def test_the_file_managers_browse_item_opens_that_folders_history(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`timekeep-gui --browse FOLDER` (the file managers' "Browse this folder's history…"): the window opens at
    the folder, mounts history and opens that folder as the newest snapshot holds it; quitting unmounts."""
    docs = Path(os.path.realpath(tmp_path)) / "home" / "Documents"
    make_tree(docs, {"a.txt": b"a", "sub": {"b.txt": b"kept\n"}})
    repo = new_repo(tmp_path, docs)
    backup(repo)
    place = place_argument(["--browse", str(docs / "sub")])
    assert place == Place("browse", os.fsencode(docs / "sub"))
    app = TimekeepApp(AppPaths(tmp_path / "config", tmp_path / "cache"), ScriptedPrompts(),
                      AppSettings(repository=str(repo)), tray=False)
    PlaceOpener(app, place)
    app.start()
    window = app.window
    assert window is not None
    qtbot.addWidget(window)
    opened: list[QUrl] = []
    browse = window.browse_files
    browse.opener = lambda url: opened.append(url) or True
    try:
        qtbot.waitSignal(browse.mounted, timeout=60_000).wait()
        newest = max(names(repo).items(), key=lambda kv: kv[1])[0]
        folder = Path(opened[0].toLocalFile())
        assert folder == browse.mountpoint / "by-time" / newest / str(docs / "sub").lstrip("/")
        assert (folder / "b.txt").read_bytes() == b"kept\n"
        window.quit_requested.emit()
        wait_for(lambda: mounted_type(browse.mountpoint) is None, 30, what="the mount to be let go at quit")
    finally:
        app.shut_down()
        if mounted_type(browse.mountpoint) is not None:
            browse.is_mounted = True
            thread = browse.unmount()
            assert thread is not None
            thread.join(30)
