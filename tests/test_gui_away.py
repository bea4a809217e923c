"""The window while the backup drive is away: the timeline shows the snapshots the agent kept on this computer
meanwhile (the away store), their files browse and preview as any snapshot's, the banner still says the drive is
away; with the drive back, the drive's history takes their place. With the agent running, "Back up now" stays
offered while the drive is away, says the snapshot is kept on this computer, and the timeline shows it."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tests.agent_support import agent_env, agent_process, short_runtime_dir, wait_for
from tests.helpers import backup, make_tree, new_repo
from tests.test_agent_process import write_settings
from tests.test_gui_window import select, shown_tree, start_app, wait_tree
from timekeep.core.agent.client import AgentClient
from timekeep.core.api import Timekeep, repository_id
from timekeep.core.away import keeping, store
from timekeep.core.capture.excludes import Excludes
from timekeep.core.index.journal import JournalEntry
from timekeep.gui.app import TimekeepApp
from timekeep.gui.backup_command import KEPT_HERE, NOT_CONNECTED
from timekeep.gui.prompts import ScriptedPrompts
from timekeep.gui.settings import AppPaths, AppSettings


def test_the_timeline_shows_what_was_kept_on_this_computer_while_the_drive_is_away(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    docs = tmp_path / "home" / "Documents"
    make_tree(docs, {"report.txt": b"draft one\n", "other.txt": b"untouched\n"})
    repo = new_repo(tmp_path, docs)
    backup(repo)
    away = store.path_for(repository_id(repo))
    store.create(away, away.name, None, str(repo))
    with Timekeep.open(away, writer=True) as tk:
        keeping.sync_folders(tk, {os.fsencode(docs): Excludes([])})
    (docs / "report.txt").write_bytes(b"written on the train\n")
    keeping.record(away, [JournalEntry(os.fsencode(docs), os.fsencode(docs / "report.txt"), 21, None)],
                   time.time_ns())
    assert keeping.storage_time(away, 1 << 30).snapshot is not None
    repo.rename(repo.with_name("unplugged"))
    app, prompts = start_app(qtbot, tmp_path, repo)
    window = app.window
    app.bridge._poll.setInterval(50)
    qtbot.waitUntil(lambda: window.history is not None and window.tree_model.rowCount() > 0, timeout=10_000)
    assert [s.trigger for s in window.history.snapshots] == ["away"]
    assert not window.drive_status.isHidden() and "not connected" in window.drive_status.label.text()
    assert not window.backup_action.isEnabled()
    wait_tree(qtbot, window, lambda: window.timeline.set_position(0))  # the away snapshot, not the live folder
    assert shown_tree(qtbot, window, docs) == {b"report.txt": ("file", 21)}  # only what changed was kept here
    select(qtbot, window, docs / "report.txt")
    assert window.preview.shown_text() == "written on the train\n"
    away_snapshot = window.history.snapshots[0]
    back = tmp_path / "back"
    back.mkdir()
    with qtbot.waitSignal(window.actions_.restored, timeout=10_000):  # restored from this computer's disk
        window.actions_.start_restore(os.fsencode(docs / "report.txt"), away_snapshot.id, away_snapshot.time_ns,
                                      os.fsencode(back))
    assert (back / "report.txt").read_bytes() == b"written on the train\n"
    repo.with_name("unplugged").rename(repo)  # the drive is back: its own history replaces the away store's
    qtbot.waitUntil(lambda: window.history is not None and window.backup_action.isEnabled(), timeout=10_000)
    assert [s.trigger for s in window.history.snapshots] == ["manual"]
    assert [said[0] for said in prompts.said] == ["inform"]
    app.shut_down()


def test_back_up_now_while_the_drive_is_away_is_kept_on_this_computer(qtbot, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    make_tree(src, {"notes.txt": b"before\n"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    runtime = short_runtime_dir()
    env = agent_env(runtime, tmp_path / "home")
    monkeypatch.setenv("XDG_DATA_HOME", env["XDG_DATA_HOME"])  # where the agent keeps the away store
    write_settings(env)  # the agent stores only when asked
    away = store.path_for(repository_id(repo))
    try:
        with agent_process(env, repo) as (_proc, paths):
            app = TimekeepApp(AppPaths(tmp_path / "config", tmp_path / "cache", paths.socket), ScriptedPrompts(),
                              AppSettings(repository=str(repo)), tray=False)
            app.start()
            window = app.window
            qtbot.addWidget(window)
            app.bridge._poll.setInterval(50)
            qtbot.waitUntil(lambda: app.bridge.agent_serving and window.backup_action.isEnabled(), timeout=20_000)
            client = AgentClient.connect(paths.socket, timeout=30)
            assert client is not None
            os.rename(repo, repo.with_name("unplugged"))
            qtbot.waitUntil(lambda: app.bridge.state == "missing", timeout=10_000)
            assert not window.backup_action.isEnabled()  # until the agent says it keeps the history here
            assert window.backup_action.toolTip() == NOT_CONNECTED
            with client:
                wait_for(lambda: not client.status().destinations[0].present, 60, what="the agent to see it gone")
            (src / "notes.txt").write_bytes(b"written on the train\n")
            wait_for(lambda: store.exists(away), 60, what="the agent to journal the change in its away store")
            qtbot.waitUntil(window.backup_action.isEnabled, timeout=20_000)
            assert window.backup_action.toolTip() == KEPT_HERE and "until the drive returns" in KEPT_HERE
            with qtbot.waitSignal(app.bridge.backup_finished, timeout=60_000) as finished:
                window.backup_action.trigger()
            assert finished.args[0].trigger == "away"
            qtbot.waitUntil(lambda: window.history is not None and
                            [s.id for s in window.history.snapshots] == [finished.args[0].id], timeout=10_000)
            assert window.timeline.now_position == 1  # the away snapshot, then Now
            assert "kept on this computer until the drive returns" in window.status_text()
            client = AgentClient.connect(paths.socket, timeout=30)
            assert client is not None
            with client:
                assert client.status().destinations[0].keeps_here
            app.shut_down()
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
