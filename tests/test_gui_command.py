"""`timekeep gui --repo PATH` (or $TIMEKEEP_REPO) becomes the desktop app's process, opens that repository and
remembers it, so a repository made on the command line needs no welcome flow."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.agent_support import wait_for
from tests.helpers import backup, make_tree, new_repo
from timekeep.core.api import Timekeep
from timekeep.gui.app import repository_argument

ROOT = Path(__file__).resolve().parent.parent


def test_repository_argument() -> None:
    assert repository_argument(["--repo", "/media/usb/Timekeep/laptop"]) == "/media/usb/Timekeep/laptop"
    assert repository_argument(["--repo=/r"]) == "/r"
    assert repository_argument(["-platform", "offscreen"]) is None
    assert repository_argument(["--repo"]) is None


@pytest.mark.parametrize("how", ["--repo", "TIMEKEEP_REPO"])
def test_timekeep_gui_opens_the_named_repository(tmp_path: Path, how: str) -> None:
    make_tree(tmp_path / "src", {"a.txt": b"a"})
    repo = new_repo(tmp_path, tmp_path / "src")
    backup(repo)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path / "home"),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    args = [sys.executable, "-m", "timekeep.core.cli.main", "gui"]
    if how == "--repo":
        args += ["--repo", str(repo)]
    else:
        env["TIMEKEEP_REPO"] = str(repo)
    proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    settings = tmp_path / "config" / "timekeep" / "settings.json"
    window = Path(env["XDG_STATE_HOME"]) / "timekeep" / "window.json"
    with Timekeep.open(repo) as tk:
        latest = tk.snapshots()[-1].time_ns

    def remembered() -> bool:
        """window.json once the app, in its event loop, opened the repository and noted its latest snapshot."""
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
        data = json.loads(window.read_text()) if window.exists() else {}
        return data.get("last_backup_ns") == latest

    try:
        wait_for(remembered, what="the app to open the repository")
        assert json.loads(settings.read_text())["repository"] == str(repo)
        # `timekeep` became the app
        assert b"timekeep.gui.app" in Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
