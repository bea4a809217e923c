"""The window with its backups in a bucket, driven like a person would against a real S3 server (`rclone serve
s3` on loopback): the welcome flow's "Network or cloud storage (S3)" form (connect, a new location made, the
first backup, the timeline showing it), an existing repository joined, Settings' S3 choice, and the one line a
wrong bucket, missing credentials or an unreachable server each get in place."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from tests.agent_support import wait_for
from tests.helpers import make_tree
from tests.s3_support import Rclone, S3Server, free_port
from tests.test_gui_protect import AGENT_SETTINGS, config_dir, runtime, status_of_agent, stop_agent  # noqa: F401 (runtime: a fixture)
from tests.test_gui_welcome import give_new_passphrase, start
from timekeep.core import settings as shared
from timekeep.core.agent.client import agent_socket
from timekeep.core.agent.launch import protect
from timekeep.core.agent.messages import DestinationStatus
from timekeep.core.api import Timekeep, init_repository, is_encrypted
from timekeep.core.crypto.kdf import TEST_PARAMS
from timekeep.gui import engine_bridge
from timekeep.gui.app import TimekeepApp
from timekeep.gui.dialogs.welcome import WelcomeDialog
from timekeep.gui.location import describe_bucket, host_of, key_of, location_of
from timekeep.gui.prompts import ScriptedPrompts
from timekeep.gui.settings import AppPaths, AppSettings, load_settings
from timekeep.gui.widgets.drive_status import missing_text
from timekeep.gui.widgets.drives_list import drive_line
from timekeep.gui.widgets.s3_form import form_refusal


def connect(qtbot, welcome: WelcomeDialog, location: str, endpoint: str) -> None:  # type: ignore[no-untyped-def]
    """Choose network storage, fill the form and press Connect (the answer comes from a worker)."""
    qtbot.mouseClick(welcome.s3_choice, Qt.MouseButton.LeftButton)
    assert welcome.where_pages.currentWidget() is welcome.s3_form and not welcome.next_button.isEnabled()
    form = welcome.s3_form
    qtbot.keyClicks(form.location_edit, location)
    qtbot.keyClicks(form.endpoint_edit, endpoint)
    qtbot.mouseClick(form.connect_button, Qt.MouseButton.LeftButton)


def test_welcome_flow_makes_a_new_location_in_a_bucket_and_backs_up_there(  # type: ignore[no-untyped-def]
        qtbot, tmp_path: Path, rclone_server: S3Server, s3_credentials: None) -> None:
    home = tmp_path / "home"
    make_tree(home, {"Documents": {"cv.txt": b"my cv\n"}})
    location = f"s3://{rclone_server.new_bucket()}/laptop"
    app, _prompts, welcome = start(qtbot, tmp_path, home)
    connect(qtbot, welcome, location, rclone_server.endpoint)
    assert not welcome.s3_form.busy.isHidden() or welcome.next_button.isEnabled()  # busy while it asks
    qtbot.waitUntil(lambda: welcome.next_button.isEnabled(), timeout=20_000)
    assert welcome.repo == location and welcome.s3_form.busy.isHidden()
    assert "nothing is stored there yet" in welcome.s3_form.status.text()
    assert "on 127.0.0.1" in welcome.target_label.text()
    assert shared.endpoint_for(shared.read(shared.default_file()), location) == rclone_server.endpoint
    qtbot.mouseClick(welcome.next_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: welcome.pages.currentWidget() is welcome.keys.new_page, timeout=20_000)
    give_new_passphrase(qtbot, welcome, None)
    qtbot.waitUntil(lambda: welcome.pages.currentIndex() == 1 and welcome.folder_list.count() == 1, timeout=20_000)
    qtbot.mouseClick(welcome.next_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: welcome.outcome != "", timeout=30_000)
    assert welcome.outcome == "done", welcome.progress_label.text()
    with qtbot.waitSignal(welcome.setup_finished, timeout=5_000):
        qtbot.mouseClick(welcome.next_button, Qt.MouseButton.LeftButton)
    window = app.window
    assert window is not None
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.history is not None and len(window.history.snapshots) == 1, timeout=20_000)
    assert window.timeline.snapshots[0].trigger == "first"  # the timeline shows the bucket's snapshot
    qtbot.waitUntil(lambda: window.tree_model.rowCount() == 1, timeout=10_000)
    assert window.tree_model.index(0, 0).data() == "cv.txt"
    assert load_settings(app.store.paths).repository == location
    app.shut_down()
    with Timekeep.open(location) as tk:  # the endpoint remembered: nothing else names the server
        assert [os.fsdecode(f.path) for f in tk.folders()] == [str(home / "Documents")]


def test_an_existing_repository_in_a_bucket_is_joined(  # type: ignore[no-untyped-def]
        qtbot, tmp_path: Path, rclone_server: S3Server, s3_credentials: None) -> None:
    location = f"s3://{rclone_server.new_bucket()}/desktop"
    docs = tmp_path / "docs"
    make_tree(docs, {"a.txt": b"a"})
    init_repository(location, endpoint=rclone_server.endpoint)
    with Timekeep.open(location, writer=True) as tk:
        tk.add_folder(os.fsencode(docs))
        tk.backup(trigger="manual")
    app, _prompts, welcome = start(qtbot, tmp_path, tmp_path / "home")
    connect(qtbot, welcome, location + "/", rclone_server.endpoint)
    qtbot.waitUntil(lambda: welcome.next_button.isEnabled(), timeout=20_000)
    assert "Timekeep backups are there" in welcome.s3_form.status.text() and welcome.repo == location
    with qtbot.waitSignal(welcome.setup_finished, timeout=20_000):  # nothing to set up: it opens
        qtbot.mouseClick(welcome.next_button, Qt.MouseButton.LeftButton)
    window = app.window
    assert window is not None
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.tree_model.rowCount() == 1, timeout=20_000)
    app.shut_down()


def failed_line(qtbot, tmp_path: Path, location: str, endpoint: str) -> str:  # type: ignore[no-untyped-def]
    app, _prompts, welcome = start(qtbot, tmp_path, tmp_path / "home")
    connect(qtbot, welcome, location, endpoint)
    form = welcome.s3_form
    qtbot.waitUntil(lambda: form.connect_button.isEnabled(), timeout=30_000)
    assert welcome.repo is None and not welcome.next_button.isEnabled() and form.busy.isHidden()
    text = form.status.text()
    app.shut_down()
    return text


def test_a_wrong_bucket_shows_its_line_in_place(  # type: ignore[no-untyped-def]
        qtbot, tmp_path: Path, rclone_server: S3Server, s3_credentials: None) -> None:
    line = failed_line(qtbot, tmp_path, "s3://no-such-bucket-here/laptop", rclone_server.endpoint)
    assert "no-such-bucket-here" in line and "\n" not in line and "Traceback" not in line


def test_missing_credentials_and_a_silent_server_each_say_so(  # type: ignore[no-untyped-def]
        qtbot, tmp_path: Path, s3_credentials: None, monkeypatch: pytest.MonkeyPatch) -> None:
    line = failed_line(qtbot, tmp_path, "s3://some-bucket/x", f"http://127.0.0.1:{free_port()}")
    assert "reach" in line and "127.0.0.1" in line
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    line = failed_line(qtbot, tmp_path / "again", "s3://some-bucket/x", "http://127.0.0.1:9")
    assert "credentials" in line and "AWS_ACCESS_KEY_ID" in line


def test_a_typed_location_that_is_no_s3_url_is_refused_before_asking(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app, _prompts, welcome = start(qtbot, tmp_path, tmp_path / "home")
    connect(qtbot, welcome, "my-bucket/laptop", "")
    assert "s3://bucket/folder" in welcome.s3_form.status.text() and welcome.s3_form.busy.isHidden()
    app.shut_down()


def test_settings_offer_a_bucket_and_the_window_opens_it(  # type: ignore[no-untyped-def]
        qtbot, tmp_path: Path, rclone_server: S3Server, s3_credentials: None) -> None:
    drive = tmp_path / "drive"
    docs = tmp_path / "docs"
    make_tree(docs, {"a.txt": b"a", "b.txt": b"b"})
    init_repository(drive)
    with Timekeep.open(drive, writer=True) as tk:
        tk.add_folder(os.fsencode(docs))
        tk.backup(trigger="manual")
    location = f"s3://{rclone_server.new_bucket()}/home"
    init_repository(location, endpoint=rclone_server.endpoint)
    (docs / "c.txt").write_bytes(b"only in the bucket's snapshot")
    with Timekeep.open(location, writer=True) as tk:
        tk.add_folder(os.fsencode(docs))
        tk.backup(trigger="manual")
    app = TimekeepApp(AppPaths(tmp_path / "config", tmp_path / "cache"), ScriptedPrompts(),
                      AppSettings(repository=str(drive)), tray=False, home=tmp_path / "home", argon2=TEST_PARAMS)
    app.start()
    window = app.window
    assert window is not None
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.history is not None, timeout=10_000)
    dialog = app.show_settings()
    qtbot.addWidget(dialog)
    qtbot.mouseClick(dialog.s3_button, Qt.MouseButton.LeftButton)
    bucket = dialog.bucket_dialog
    assert bucket is not None and bucket.isVisible() and not bucket.use_button.isEnabled()
    qtbot.keyClicks(bucket.form.location_edit, location)
    qtbot.mouseClick(bucket.form.connect_button, Qt.MouseButton.LeftButton)  # the endpoint is remembered
    qtbot.waitUntil(lambda: bucket.use_button.isEnabled(), timeout=20_000)
    qtbot.mouseClick(bucket.use_button, Qt.MouseButton.LeftButton)
    assert dialog.new_bucket is not None and location in dialog.repository_label.text()
    dialog.accept()
    qtbot.waitUntil(lambda: load_settings(app.store.paths).repository == location, timeout=10_000)
    reader = lambda: app.bridge.reader  # noqa: E731
    qtbot.waitUntil(lambda: app.bridge.state == "open" and str(getattr(reader(), "root", "")) == location,
                    timeout=20_000)
    assert app.bridge.repo == location
    qtbot.waitUntil(lambda: window.tree_model.rowCount() == 3, timeout=20_000)  # the bucket's snapshot
    app.shut_down()


def test_the_window_says_a_bucket_is_unreachable_and_shows_its_history_from_this_computer_meanwhile(  # type: ignore[no-untyped-def]
        qtbot, tmp_path: Path, s3_credentials: None, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "served").mkdir()
    server = Rclone(tmp_path / "served")
    server.start()
    try:
        location = f"s3://{S3Server('rclone', server.endpoint).new_bucket()}/laptop"
        docs = tmp_path / "docs"
        make_tree(docs, {"a.txt": b"a"})
        init_repository(location, endpoint=server.endpoint)
        with Timekeep.open(location, writer=True) as tk:
            tk.add_folder(os.fsencode(docs))
            tk.backup(trigger="manual")
        server.kill()
        monkeypatch.setattr(engine_bridge, "BUCKET_POLL_MS", 200)  # looks every 30 s otherwise
        app = TimekeepApp(AppPaths(tmp_path / "config", tmp_path / "cache"), ScriptedPrompts(),
                          AppSettings(repository=location), tray=False, home=tmp_path / "home", argon2=TEST_PARAMS)
        app.start()
        window = app.window
        assert window is not None
        qtbot.addWidget(window)
        banner = window.drive_status
        qtbot.waitUntil(lambda: not banner.isHidden(), timeout=30_000)
        text = banner.label.text()
        assert text.startswith("Backup storage unreachable") and "Cannot reach" in text, text
        assert "not connected" not in text and banner.choose_button.text() == "Choose other storage…"
        qtbot.waitUntil(lambda: window.tree_model.rowCount() == 1, timeout=30_000)  # from this computer's index
        assert not banner.isHidden()
        server.start()
        qtbot.waitUntil(lambda: banner.isHidden(), timeout=30_000)
        assert app.bridge.away_reason == "" and window.tree_model.rowCount() == 1
        app.shut_down()
    finally:
        server.kill()


@pytest.mark.usefixtures("runtime")  # a short runtime folder for the agent's socket, and no user manager
def test_a_bucket_set_up_in_the_welcome_flow_is_protected_by_the_agent(  # type: ignore[no-untyped-def]
        qtbot, tmp_path: Path, rclone_server: S3Server, s3_credentials: None) -> None:
    """Encrypted by default, the passphrase kept out of the keyring: the window hands it to the agent it starts,
    which reaches the bucket at the endpoint Connect remembered and goes on backing up after the window closes."""
    home = tmp_path / "home"
    make_tree(home, {"Documents": {"cv.txt": b"my cv\n"}})
    shared.update(config_dir() / shared.FILE_NAME, {**AGENT_SETTINGS, "remote_poll_seconds": 0.5})
    location = f"s3://{rclone_server.new_bucket()}/laptop"
    paths = AppPaths(config_dir(), tmp_path / "cache", agent_socket())
    app = TimekeepApp(paths, ScriptedPrompts(), AppSettings(), tray=False, home=home, protector=protect,
                      argon2=TEST_PARAMS)
    app.start()
    welcome = app.welcome
    assert welcome is not None
    qtbot.addWidget(welcome)
    try:
        connect(qtbot, welcome, location, rclone_server.endpoint)
        qtbot.waitUntil(lambda: welcome.next_button.isEnabled(), timeout=20_000)
        qtbot.mouseClick(welcome.next_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: welcome.pages.currentWidget() is welcome.keys.new_page, timeout=20_000)
        give_new_passphrase(qtbot, welcome, "a passphrase kept out of the keyring")
        qtbot.waitUntil(lambda: welcome.pages.currentIndex() == 1 and welcome.folder_list.count() == 1, timeout=20_000)
        qtbot.mouseClick(welcome.next_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: welcome.outcome != "", timeout=30_000)
        assert welcome.outcome == "done", welcome.progress_label.text()
        qtbot.mouseClick(welcome.next_button, Qt.MouseButton.LeftButton)
        window = app.window
        assert window is not None
        qtbot.addWidget(window)
        app.protection.timer.setInterval(100)
        said = app.protection_status.label
        qtbot.waitUntil(lambda: said.text() == "Protection is on: the background agent backs up this storage",
                        timeout=30_000)  # the agent answered, and reached the bucket
        written = shared.read(paths.settings_file)
        assert written["repository"] == location and written["destinations"] == [location]
        assert is_encrypted(location)
        app.shut_down()  # the window closes; protection goes on
        (home / "Documents" / "cv.txt").write_bytes(b"my cv, longer now\n")

        def snapshots() -> int:
            client = status_of_agent()
            assert client is not None, "the agent stopped with the window"
            with client:
                return next(d.snapshots for d in client.status().destinations if d.path == location)

        wait_for(lambda: snapshots() == 2, 60, 0.1, "the agent to back up the change into the bucket")
    finally:
        stop_agent()


@pytest.mark.parametrize(("path", "present", "line"), [
    ("s3://family-backups/laptop", False, "laptop in family-backups (unreachable)"),
    ("s3://family-backups/homes/ann", True, "ann in family-backups (connected)"),
    ("s3://family-backups", False, "family-backups (unreachable)"),
    ("/media/ann/Passport/Timekeep/laptop", False, "Passport (not connected)"),
])
def test_the_drives_list_names_a_bucket_by_its_prefix_and_says_when_it_is_out_of_reach(
        path: str, present: bool, line: str) -> None:
    dest = DestinationStatus(path, present, "" if present else "waiting for the network")
    assert drive_line(dest, False, 0).splitlines()[0] == line


def test_words_for_a_bucket_where_a_drive_would_be_spoken_of() -> None:
    assert missing_text(None, 0, remote=True) == "Backup storage unreachable — no backup yet"
    assert missing_text(None, 0) == "Backup drive not connected — no backup yet"
    assert describe_bucket("s3://family-backups/laptop", "https://nas.local:9000") == \
        "bucket family-backups, folder laptop, on nas.local"
    assert host_of(None) == "Amazon S3"
    assert key_of("s3://b-1/x") == "s3://b-1/x" and key_of(Path("rel")) == os.path.abspath("rel")
    assert location_of("s3://b-1/x/") == "s3://b-1/x" and location_of("/a/b") == Path("/a/b")
    assert form_refusal("bucket/x") is not None and form_refusal("") is not None
    assert form_refusal("s3://bucket/x") is None
