"""A destination holding no snapshot gets its first one soon after it is seen (at start or plugged in later),
unless paused or on battery; and agent.json is followed while the agent runs, without a restart."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.agent_support import InProcess, agent_config
from tests.helpers import backup, make_tree, new_repo
from timekeep.core.agent.config import SettingsFile
from timekeep.core.api import Timekeep, init_repository


@pytest.fixture(autouse=True)
def no_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    import timekeep.core.capture.read as read

    monkeypatch.setattr(read, "RACY_NS", 1)


def empty_repo(tmp_path: Path, src: Path, name: str = "usb") -> Path:
    """A new drive: a repository protecting `src` that holds no snapshot yet."""
    repo = tmp_path / name / "Timekeep" / "laptop"
    init_repository(repo)
    with Timekeep.open(repo, writer=True) as tk:
        tk.add_folder(os.fsencode(src))
    return repo


def triggers(repo: Path) -> list[str]:
    with Timekeep.open(repo) as tk:
        return [s.trigger for s in tk.snapshots()]


def with_history(tmp_path: Path) -> tuple[Path, Path]:
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"a", "sub": {"b.txt": b"b"}})
    first = new_repo(tmp_path, src)
    backup(first)
    return src, first


def test_an_empty_drive_connected_at_start_gets_its_first_snapshot_soon(tmp_path: Path) -> None:
    src, first = with_history(tmp_path)
    usb = empty_repo(tmp_path, src)
    with InProcess(agent_config(first, usb)) as run:  # hourly (daily, here) schedule: the other drive is recent
        run.until(lambda: triggers(usb) == ["first"], what="the new drive's first snapshot")
        assert run.settled().held is None
        assert run.agent.destinations[str(usb)].snapshot_count == 1
    assert triggers(first) == ["manual"]  # the drive with a history waits for the schedule


def test_an_empty_drive_plugged_in_later_waits_while_paused(tmp_path: Path) -> None:
    src, first = with_history(tmp_path)
    usb = empty_repo(tmp_path, src)
    away = usb.parent.parent.with_name("unplugged")
    usb.parent.parent.rename(away)
    with InProcess(agent_config(first, usb)) as run:
        run.agent.paused = True
        away.rename(usb.parent.parent)
        dest = run.agent.destinations[str(usb)]
        run.until(lambda: dest.present, what="the drive to be seen")
        assert run.settled().held == "paused"  # the schedule looked, after the drive's scan, and held back
        assert triggers(usb) == []  # paused: nothing starts on its own
        status = run.agent.next_plan()
        assert status[1:] == (str(usb), "first")
        run.agent.paused = False
        run.until(lambda: triggers(usb) == ["first"], what="the first snapshot once resumed")
        run.idle()


def test_on_battery_the_first_snapshot_waits(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"a"})
    usb = empty_repo(tmp_path, src)
    with InProcess(agent_config(usb), battery=lambda: True) as run:
        assert run.settled().held == "on battery"
        assert triggers(usb) == []
        assert run.agent.destinations[str(usb)].owed == "first"


def test_a_folder_added_to_an_empty_drive_is_stored_soon(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"a"})
    usb = tmp_path / "usb" / "Timekeep" / "laptop"
    init_repository(usb)  # no folder yet: nothing to store
    with InProcess(agent_config(usb)) as run:
        run.idle()
        with Timekeep.open(usb, writer=True) as tk:
            tk.add_folder(os.fsencode(src))  # `timekeep add` while the agent runs
        run.until(lambda: triggers(usb)[-1:] == ["first"], what="the first snapshot of the added folder")
        run.idle()
    with Timekeep.open(usb) as tk:
        assert tk.snapshots()[-1].files_changed >= 1


def write_settings(path: Path, **settings: object) -> None:
    path.write_text(json.dumps(settings))
    stamp = time.time_ns() + 10**9  # a distinct mtime, whatever the file system's granularity
    os.utime(path, ns=(stamp, stamp))


def test_agent_json_is_followed_without_a_restart(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src, first = with_history(tmp_path)
    usb = empty_repo(tmp_path, src)
    file = tmp_path / "agent.json"
    write_settings(file, destinations=[str(first)], interval_minutes=24 * 60)
    settings = SettingsFile(file)
    config = settings.load()
    quick = agent_config(*config.destinations, policy=config.policy)
    with InProcess(quick, settings=settings) as run:
        assert list(run.agent.destinations) == [str(first)]
        write_settings(file, destinations=[str(first), str(usb)], interval_minutes=30)
        run.until(lambda: triggers(usb) == ["first"], what="the added drive's first snapshot")
        assert run.agent.policy.interval_s == 30 * 60
        file.write_text("{ not json")  # a half-saved edit: the settings in force stay
        os.utime(file, ns=(time.time_ns() + 2 * 10**9,) * 2)
        run.clock.advance(seconds=run.agent.config.folders_poll_s)  # the file's settings look every 5 s
        run.until(lambda: "changed but cannot be used" in caplog.text, what="the agent to read the broken file")
        assert list(run.agent.destinations) == [str(first), str(usb)]
        write_settings(file, destinations=[str(usb)], interval_minutes=30)
        run.clock.advance(seconds=run.agent.config.folders_poll_s)
        run.until(lambda: list(run.agent.destinations) == [str(usb)], what="the removed drive to be let go")
        run.idle()
