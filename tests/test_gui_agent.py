"""The window with a real agent in a subprocess: "Back up now" asks the agent, a storage time the agent starts
by itself shows its progress in the status bar, and without an agent the window backs up directly."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QLabel

from tests.agent_support import agent_env, agent_process, short_runtime_dir
from tests.helpers import backup, make_tree, new_repo
from tests.test_agent_process import write_settings
from timekeep.core.agent.client import AgentClient
from timekeep.core.types import Progress
from timekeep.gui.app import TimekeepApp
from timekeep.gui.prompts import ScriptedPrompts
from timekeep.gui.settings import AppPaths, AppSettings


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    runtime = short_runtime_dir()
    yield agent_env(runtime, tmp_path / "home")
    shutil.rmtree(runtime, ignore_errors=True)


@pytest.fixture
def repo(tmp_path: Path, env: dict[str, str]) -> Path:
    make_tree(tmp_path / "src", {"notes.txt": b"notes\n", "big.bin": os.urandom(600_000)})
    repo = new_repo(tmp_path, tmp_path / "src")
    backup(repo)
    write_settings(env)  # the agent stores only when asked
    return repo


def start(qtbot, tmp_path: Path, repo: Path, socket: Path) -> TimekeepApp:  # type: ignore[no-untyped-def]
    app = TimekeepApp(AppPaths(tmp_path / "config", tmp_path / "cache", socket), ScriptedPrompts(),
                      AppSettings(repository=str(repo)), tray=False)
    app.start()
    assert app.window is not None
    qtbot.addWidget(app.window)
    qtbot.waitUntil(lambda: app.window.history is not None, timeout=10_000)
    return app


def test_back_up_now_asks_the_agent_and_shows_its_progress(qtbot, tmp_path: Path, env, repo: Path) -> None:  # type: ignore[no-untyped-def]
    with agent_process(env, repo) as (_proc, paths):
        app = start(qtbot, tmp_path, repo, paths.socket)
        window = app.window
        qtbot.waitUntil(lambda: app.bridge.agent_serving, timeout=10_000)
        (tmp_path / "src" / "later.txt").write_bytes(b"later\n")
        with qtbot.waitSignal(app.bridge.backup_finished, timeout=30_000) as finished:
            window.backup_action.trigger()
            assert window.status_text().startswith("Backing up")
        assert finished.args[0].trigger == "backup-now"  # stored by the agent, not by the window
        shown = window.backup_status.shown
        assert isinstance(shown, Progress) and shown.files_done >= 1  # the agent's progress reached the status bar
        qtbot.waitUntil(lambda: window.timeline.now_position == 2, timeout=10_000)
        assert window.snapshots.snapshots[-1].id == finished.args[0].id
        # the one schedule is the agent's: its next backup (a day away here) shows, with protection on
        # (a day after the agent's backup: "23 h 59 min", or "1 day" when the window rounds what is left up)
        label = window.backup_status.label
        qtbot.waitUntil(lambda: bool(re.search(r"· next in (23 h( \d+ min)?|1 day)$", label.text())), timeout=10_000)
        assert app.protection_status.label.text() == "Protection is on: the background agent backs up this drive"
        settings = app.show_settings()
        notes = [label.text() for label in settings.findChildren(QLabel)]
        assert any("The background agent keeps this schedule" in note and "it is running" in note for note in notes)
        settings.reject()
        app.shut_down()


def test_a_backup_the_agent_starts_by_itself_shows_in_the_window(qtbot, tmp_path: Path, env, repo: Path) -> None:  # type: ignore[no-untyped-def]
    with agent_process(env, repo) as (_proc, paths):
        app = start(qtbot, tmp_path, repo, paths.socket)
        window = app.window
        qtbot.waitUntil(lambda: app.bridge.agent_serving, timeout=10_000)
        (tmp_path / "src" / "big.bin").write_bytes(os.urandom(600_000))
        phases: list[str] = []
        app.bridge.backup_progressed.connect(lambda p: phases.append(p.phase))
        with qtbot.waitSignal(app.bridge.backup_started, timeout=10_000):
            client = AgentClient.connect(paths.socket)
            assert client is not None
            with client:  # as `timekeep backup` or the agent's own schedule would
                client.backup_now(repo)
        assert app.bridge.backing_up and not window.backup_action.isEnabled()
        with qtbot.waitSignal(app.bridge.backup_finished, timeout=30_000):
            pass
        assert "commit" in phases and window.backup_status.shown is not None
        qtbot.waitUntil(lambda: window.timeline.now_position == 2, timeout=10_000)
        assert window.backup_action.isEnabled() and not app.bridge.backing_up
        app.shut_down()


def test_without_an_agent_the_window_backs_up_itself(qtbot, tmp_path: Path, repo: Path) -> None:  # type: ignore[no-untyped-def]
    app = start(qtbot, tmp_path, repo, tmp_path / "no-agent.sock")
    qtbot.waitUntil(lambda: app.protection_status.turn_on_button.isVisible(), timeout=10_000)
    assert "next" not in app.window.backup_status.label.text()  # no agent: no schedule (the window keeps none)
    assert app.protection_status.label.text() == "Protection is off: the background agent is not running"
    (tmp_path / "src" / "notes.txt").write_bytes(b"changed since")  # else the backup would find nothing new
    with qtbot.waitSignal(app.bridge.backup_finished, timeout=30_000) as finished:
        app.window.backup_action.trigger()
    assert finished.args[0].trigger == "manual"
    app.shut_down()


def test_the_sidebar_lists_the_agents_drives_and_opens_another(qtbot, tmp_path: Path, env, repo: Path) -> None:  # type: ignore[no-untyped-def]
    """Each destination keeps its own history: the window says which drive holds how many snapshots, which is
    shown and which is not connected, and double-clicking another connected drive shows its history."""
    second = new_repo(tmp_path / "b", tmp_path / "src")
    for _ in range(2):
        (tmp_path / "src" / "notes.txt").write_bytes(os.urandom(64))
        backup(second)
    unplugged = tmp_path / "c" / "Stick" / "Timekeep" / "laptop"
    write_settings(env, destinations=[str(second), str(unplugged)])
    with agent_process(env, repo) as (_proc, paths):
        app = start(qtbot, tmp_path, repo, paths.socket)
        window = app.window
        drives = window.drives_list
        qtbot.waitUntil(lambda: drives.list.count() == 3, timeout=10_000)
        lines = drives.lines()
        assert lines[0].startswith("drive (shown here)\n1 snapshot · ")
        assert lines[1].startswith("drive (connected)\n2 snapshots · ")
        assert lines[2] == "Stick (not connected)\n0 snapshots"
        assert drives.isVisibleTo(window)
        with qtbot.waitSignal(app.bridge.repository_opened, timeout=10_000):
            drives.list.itemActivated.emit(drives.list.item(1))
        assert app.bridge.repo == second and app.settings.repository == str(second)
        qtbot.waitUntil(lambda: window.timeline.now_position == 2, timeout=10_000)
        qtbot.waitUntil(lambda: drives.lines()[1].startswith("drive (shown here)"), timeout=10_000)
        qtbot.waitUntil(lambda: app.bridge.agent_serving, timeout=10_000)  # the link follows the drive shown
    qtbot.waitUntil(lambda: not drives.isVisibleTo(window), timeout=10_000)  # the agent stopped: no list
    app.shut_down()
