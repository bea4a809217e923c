"""The agent's log tells what it did: each storage time's start and end (snapshot, files read and changed,
bytes new, duration), a failure with its error, coalescer runs, and the settings read again."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from pathlib import Path

import pytest

from tests.agent_support import InProcess, agent_config
from tests.helpers import backup, make_tree, new_repo
from timekeep.core.agent.config import SettingsFile
from timekeep.core.agent.logs import setup_logging
from timekeep.core.api import Timekeep


@pytest.fixture(autouse=True)
def no_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    import timekeep.core.capture.read as read

    monkeypatch.setattr(read, "RACY_NS", 1)


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    path = tmp_path / "log" / "agent.log"
    root = logging.getLogger()
    level = root.level
    handler = setup_logging(path)
    yield path
    root.removeHandler(handler)
    handler.close()
    root.setLevel(level)


def test_storage_times_failures_and_thinning_are_logged(tmp_path: Path, log_file: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"a", "b.txt": b"b"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    settings_file = tmp_path / "agent.json"
    settings_file.write_text(json.dumps({"destinations": [str(repo)]}))
    settings = SettingsFile(settings_file)
    settings.load()
    with InProcess(agent_config(repo), settings=settings) as run:
        (src / "a.txt").write_bytes(b"a, edited")
        run.sees(repo, {os.fsencode(src / "a.txt")})
        run.backup()
        with Timekeep.open(repo, writer=True):  # another writer holds the repository: the next one fails
            job = run.agent.request_backup("backup-now", str(repo), explicit=True)
            assert job.done.wait(60) and not job.result.ok
        jobs = run.agent.coalesce_all("requested")
        assert all(j.done.wait(60) for j in jobs)
        settings_file.write_text(json.dumps({"destinations": [str(repo)], "interval_minutes": 30}))
        os.utime(settings_file, ns=(time.time_ns() + 10**9,) * 2)
        run.until(lambda: run.agent.policy.interval_s == 1800, what="the settings to be read again")
    text = log_file.read_text()
    started = re.search(r"job (\d+) \(backup, backup-now\) on (\S+) started", text)
    assert started and started.group(2) == str(repo), text
    done = re.search(r"job \d+ \(backup, backup-now\) on \S+ done: snapshot 2 stored in [\d.]+ s: "
                     r"1 files read, 1 changed, \d+ bytes new, 0 errors", text)
    assert done, text
    failed = re.search(r"WARNING .*job \d+ \(backup, backup-now\) on \S+ failed after [\d.]+ s: (.+)", text)
    assert failed and "in use by process" in failed.group(1), text
    assert re.search(r"job \d+ \(coalesce, requested\) on \S+ started", text), text
    assert re.search(r"job \d+ \(coalesce, requested\) on \S+ done: nothing to thin", text), text
    assert "settings read again" in text and "every 30 minutes" in text
