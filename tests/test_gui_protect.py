"""Protection from the first window: finishing the welcome flow installs and starts a real agent that goes on
backing up after the window closes; the protection line says each state and "Turn on protection" fixes it;
a snapshot the CLI makes appears in an open window; the Settings' schedule is the one the agent reads."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from tests.agent_support import agent_env, cli, short_runtime_dir, wait_for
from tests.helpers import backup, make_tree, new_repo
from tests.test_gui_welcome import choose_folder_as_drive
from timekeep.core import settings
from timekeep.core.agent import install
from timekeep.core.agent.client import AgentClient, agent_socket
from timekeep.core.agent.config import SettingsFile
from timekeep.core.agent.launch import Protection, Starter, protect
from timekeep.core.api import is_encrypted
from timekeep.core.crypto.kdf import TEST_PARAMS
from timekeep.gui.app import TimekeepApp
from timekeep.gui.prompts import ScriptedPrompts
from timekeep.gui.protection import ProtectionState, protection_line
from timekeep.gui.settings import AppPaths, AppSettings
from timekeep.gui.volumes import repository_path
from timekeep.gui.widgets.protection_status import ProtectionStatus

# fast ticks; a storage time as soon as one changed path waits; none at shutdown
AGENT_SETTINGS = {"quiet_seconds": 0, "tick_seconds": 0.05, "journal_max_paths": 1, "at_shutdown": False}


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A short runtime folder (for the socket), and no user manager: the detached start is the one taken."""
    folder = short_runtime_dir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    monkeypatch.setenv("TIMEKEEP_NO_SYSTEMCTL", "1")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def config_dir() -> Path:
    return Path(os.environ["XDG_CONFIG_HOME"]) / "timekeep"


def status_of_agent() -> AgentClient | None:
    return AgentClient.connect(agent_socket(), timeout=5)


def stop_agent() -> None:
    """Stop the agent the window started (detached: not our child to wait for), by its own pid."""
    client = status_of_agent()
    if client is None:
        return
    with client:
        pid = client.status().pid
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: status_of_agent() is None, 30, what="the agent to stop")


@pytest.mark.parametrize("passphrase", [None, "a passphrase kept out of the keyring"], ids=["plain", "encrypted"])
def test_finishing_the_welcome_flow_leaves_an_agent_protecting_the_drive(  # type: ignore[no-untyped-def]
        qtbot, tmp_path: Path, runtime: Path, passphrase: str | None) -> None:
    """Encrypted, with the passphrase kept out of the keyring, the agent cannot unlock the drive by itself:
    the window hands it the passphrase typed, and the agent goes on backing up after the window closes."""
    home = tmp_path / "home"
    make_tree(home, {"Documents": {"cv.txt": b"my cv\n"}})
    settings.update(config_dir() / settings.FILE_NAME, AGENT_SETTINGS)
    prompts = ScriptedPrompts()
    paths = AppPaths(config_dir(), tmp_path / "cache", agent_socket())
    app = TimekeepApp(paths, prompts, AppSettings(), tray=False, home=home, protector=protect, argon2=TEST_PARAMS)
    app.start()
    welcome = app.welcome
    assert welcome is not None
    qtbot.addWidget(welcome)
    try:
        choose_folder_as_drive(qtbot, prompts, welcome, tmp_path / "drive", passphrase)
        qtbot.waitUntil(lambda: welcome.pages.currentIndex() == 1 and welcome.folder_list.count() == 1, timeout=10_000)
        qtbot.mouseClick(welcome.next_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: welcome.outcome == "done", timeout=20_000)
        qtbot.mouseClick(welcome.next_button, Qt.MouseButton.LeftButton)
        repo = repository_path(tmp_path / "drive")
        window = app.window
        assert window is not None
        qtbot.addWidget(window)
        app.protection.timer.setInterval(100)
        said = app.protection_status.label
        qtbot.waitUntil(lambda: said.text() == "Protection is on: the background agent backs up this drive",
                        timeout=20_000)
        assert window.statusBar().currentMessage().startswith(f"Protection is on: the background agent backs up "
                                                              f"to {repo} on its schedule")
        assert is_encrypted(repo) == (passphrase is not None)
        written = settings.read(paths.settings_file)
        assert written["repository"] == str(repo) and written["destinations"] == [str(repo)]
        where = install.places()
        assert " agent" in where.unit.read_text() and " agent" in where.desktop.read_text()
        assert where.wants.is_symlink()  # no user manager here: linked by hand for the next log-in
        app.shut_down()  # the window closes; protection goes on
        (home / "Documents" / "cv.txt").write_bytes(b"my cv, longer now\n")

        def snapshots() -> int:
            client = status_of_agent()
            assert client is not None, "the agent stopped with the window"
            with client:
                return next(d.snapshots for d in client.status().destinations if d.path == str(repo))

        wait_for(lambda: snapshots() == 2, 30, 0.1, "the agent to back up the change")
    finally:
        stop_agent()


def test_with_a_user_manager_the_agent_is_enabled_and_started_through_it(tmp_path: Path) -> None:
    calls: list[list[str]] = []
    spawned: list[list[str]] = []
    starter = Starter(lambda args: calls.append(args) is None, spawned.append, lambda: False)
    done = protect(str(tmp_path / "repo"), starter)
    assert calls == [["daemon-reload"], ["enable", "--now", install.UNIT_NAME]] and spawned == []
    assert done.started and done.sentence.startswith("Protection is on")
    assert settings.read(config_dir() / settings.FILE_NAME)["destinations"] == [str(tmp_path / "repo")]
    refused = Starter(lambda args: args == ["daemon-reload"], spawned.append, lambda: False)
    assert protect(str(tmp_path / "repo"), refused).started  # systemctl refused: started by hand instead
    assert spawned == [install.agent_argv(install.command())] and spawned[0][-1] == "agent"
    assert protect(str(tmp_path / "repo"), Starter(None, spawned.append, lambda: True)).started
    assert len(spawned) == 1  # an agent already runs: it reads the new settings, no second one


def broken_spawn(argv: list[str]) -> object:
    raise OSError(2, "No such file or directory")


@pytest.mark.parametrize(("state", "text", "offered"), [
    (None, "Checking protection…", False),
    (ProtectionState(False), "Protection is off: the background agent is not running", True),
    (ProtectionState(True), "Protection is off: the background agent does not back up this drive", True),
    (ProtectionState(True, True), "Protection is on: backups resume when the backup drive is connected", False),
    (ProtectionState(True, True, True, 10**18), "Protection is on: the background agent backs up this drive", False),
    (ProtectionState(True, True, True, None, locked=True),
     "Protection is paused: the background agent waits for this drive's passphrase", False),
])
def test_the_protection_line_says_each_state(qtbot, state: ProtectionState | None, text: str, offered: bool) -> None:  # type: ignore[no-untyped-def]
    assert protection_line(state) == (text, offered)
    widget = ProtectionStatus()
    qtbot.addWidget(widget)
    widget.show()
    widget.show_state(state)
    assert widget.label.text() == text and widget.turn_on_button.isVisible() == offered


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    make_tree(tmp_path / "src", {"a.txt": b"a\n"})
    repo = new_repo(tmp_path, tmp_path / "src")
    backup(repo)
    return repo


def open_window(qtbot, tmp_path: Path, repo: Path, protector=None, socket: Path | None = None) -> TimekeepApp:  # type: ignore[no-untyped-def]
    app = TimekeepApp(AppPaths(config_dir(), tmp_path / "cache", socket), ScriptedPrompts(),
                      AppSettings(repository=str(repo)), tray=False, protector=protector)
    app.start()
    assert app.window is not None
    qtbot.addWidget(app.window)
    qtbot.waitUntil(lambda: app.window.history is not None, timeout=10_000)
    return app


def test_turn_on_protection_says_what_it_did(qtbot, tmp_path: Path, repo: Path, runtime: Path) -> None:  # type: ignore[no-untyped-def]
    calls: list[list[str]] = []

    def protector(where: str) -> Protection:
        return protect(where, Starter(lambda args: calls.append(args) is None, broken_spawn, lambda: False))

    app = open_window(qtbot, tmp_path, repo, protector, agent_socket())
    status = app.protection_status
    qtbot.waitUntil(lambda: status.turn_on_button.isVisible(), timeout=10_000)  # no agent: protection is off
    assert calls == []  # opening a remembered drive installs nothing by itself
    qtbot.mouseClick(status.turn_on_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: status.label.text().startswith("Protection is on"), timeout=10_000)
    assert calls[-1] == ["enable", "--now", install.UNIT_NAME]
    assert settings.read(app.paths.settings_file)["destinations"] == [str(repo)]
    app.protection.protector = lambda where: protect(where, Starter(None, broken_spawn, lambda: False))
    qtbot.mouseClick(status.turn_on_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: status.label.text().startswith("Protection is off: the agent could not be started"),
                    timeout=10_000)
    assert "No such file or directory" in app.window.statusBar().currentMessage()
    app.shut_down()


def test_a_snapshot_made_by_the_cli_appears_in_the_open_window(qtbot, tmp_path: Path, repo: Path) -> None:  # type: ignore[no-untyped-def]
    app = open_window(qtbot, tmp_path, repo)
    window = app.window
    assert window.timeline.now_position == 1
    (tmp_path / "src" / "b.txt").write_bytes(b"b\n")
    env = agent_env(short_runtime_dir(), tmp_path / "cli-home")  # no agent answers there: the CLI writes itself
    done = cli(env, "backup", "--repo", str(repo))
    assert done.returncode == 0, done.stderr
    qtbot.waitUntil(lambda: window.timeline.now_position == 2, timeout=10_000)
    assert window.backup_status.label.text().startswith("Last backup") and "just now" in window.status_text()
    app.shut_down()


def test_settings_change_the_schedule_the_agent_reads(qtbot, tmp_path: Path, repo: Path) -> None:  # type: ignore[no-untyped-def]
    app = open_window(qtbot, tmp_path, repo)
    follower = SettingsFile(app.paths.settings_file, str(repo))  # as the running agent follows it
    assert follower.load().policy.interval_s == 3600
    dialog = app.show_settings()
    dialog.schedule_box.setCurrentIndex(dialog.schedule_box.findData(30))
    dialog.clock_edit.setText("7:30, 25:00, 18:05")
    dialog.accept()
    qtbot.waitUntil(lambda: settings.read(app.paths.settings_file).get("interval_minutes") == 30, timeout=10_000)
    fresh = follower.changed()
    assert fresh is not None and fresh.policy.interval_s == 1800
    assert [t.strftime("%H:%M") for t in fresh.policy.clock_times] == ["07:30", "18:05"]
    app.shut_down()
