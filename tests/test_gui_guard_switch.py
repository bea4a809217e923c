"""The guard's switch in the window's Settings: saved into settings.json's "guard" object (thresholds set by hand
stay), and followed by a running agent without a restart."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtWidgets import QLabel

from tests.agent_support import InProcess, agent_config
from tests.helpers import backup, make_tree, new_repo
from timekeep.core import settings
from timekeep.core.agent.config import SettingsFile
from timekeep.gui.app import TimekeepApp
from timekeep.gui.prompts import ScriptedPrompts
from timekeep.gui.settings import AppPaths, load_settings


def test_the_guard_switch_is_saved_and_the_agent_follows_it(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "src"
    make_tree(src, {"notes.txt": b"notes\n"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    paths = AppPaths(tmp_path / "config", tmp_path / "cache")
    paths.settings_file.parent.mkdir(parents=True)
    paths.settings_file.write_text(json.dumps({"repository": str(repo), "destinations": [str(repo)],
                                               "interval_minutes": 24 * 60, "guard": {"extension_files": 50}}))
    follower = SettingsFile(paths.settings_file)  # as the running agent follows it
    config = follower.load()
    with InProcess(agent_config(*config.destinations, policy=config.policy, raw=config.raw), settings=follower) as run:
        assert run.agent.guard.status().enabled
        app = TimekeepApp(paths, ScriptedPrompts(), load_settings(paths), tray=False)
        app.start()
        assert app.window is not None
        qtbot.addWidget(app.window)
        dialog = app.show_settings()
        assert dialog.guard_box.isChecked() and dialog.guard_box.text() == "Watch for mass damage (ransomware)"
        assert any("history from before" in label.text() for label in dialog.findChildren(QLabel))
        dialog.guard_box.setChecked(False)
        dialog.accept()
        qtbot.waitUntil(lambda: settings.read(paths.settings_file).get("guard") == {
            "extension_files": 50, "enabled": False}, timeout=10_000)  # the hand-set threshold stays
        run.clock.advance(seconds=run.agent.config.folders_poll_s)  # the agent looks at the file every 5 s
        run.until(lambda: not run.agent.guard.status().enabled, what="the agent to turn its guard off")
        assert run.agent.guard.thresholds.extension_files == 50
        again = app.show_settings()
        assert not again.guard_box.isChecked()
        again.guard_box.setChecked(True)
        again.accept()
        qtbot.waitUntil(lambda: settings.read(paths.settings_file).get("guard", {}).get("enabled") is True,
                        timeout=10_000)
        run.clock.advance(seconds=run.agent.config.folders_poll_s)
        run.until(lambda: run.agent.guard.status().enabled, what="the agent to turn its guard on again")
        app.shut_down()
