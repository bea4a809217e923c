"""`timekeep gui --repo PATH` (or $TIMEKEEP_REPO) opens that repository in the desktop app and remembers it,
so a repository made on the command line needs no welcome flow."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gui.app import repository_argument
from tests.helpers import backup, make_tree, new_repo

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
    args = [sys.executable, "-m", "core.cli.main", "gui"]
    if how == "--repo":
        args += ["--repo", str(repo)]
    else:
        env["TIMEKEEP_REPO"] = str(repo)
    proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    settings = tmp_path / "config" / "timekeep" / "gui.json"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not settings.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
            time.sleep(0.1)
        assert json.loads(settings.read_text())["repository"] == str(repo)
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
