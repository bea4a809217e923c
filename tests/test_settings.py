"""settings.json, the one file of choices the window, the CLI and the agent share: gathered from the older
agent.json and gui.json, tolerant of hand edits, written without losing another writer's change, and what the
CLI and `timekeep agent` make of it."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tests.agent_support import agent_env, cli, paths_for
from tests.helpers import backup, make_tree, new_repo
from timekeep.core import settings
from timekeep.core.agent.config import SettingsFile, parse_config


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return agent_env(tmp_path / "runtime", tmp_path / "home")


def settings_path(env: dict[str, str]) -> Path:
    return Path(env["XDG_CONFIG_HOME"]) / "timekeep" / "settings.json"


def test_older_agent_json_and_gui_json_are_gathered_once(tmp_path: Path) -> None:
    folder = tmp_path / "timekeep"
    folder.mkdir()
    gui = {"repository": "/media/usb/Timekeep/laptop", "schedule_minutes": 30, "notifications": False,
           "extra_excludes": ["*.iso"], "window_geometry": "01d9", "last_backup_ns": 5}
    agent = {"destinations": ["/mnt/nas/Timekeep/laptop"], "interval_minutes": 120, "clock_times": ["13:00"]}
    (folder / "gui.json").write_text(json.dumps(gui))
    (folder / "agent.json").write_text(json.dumps(agent))
    found = settings.read(folder / "settings.json")
    assert found == {"repository": "/media/usb/Timekeep/laptop", "notifications": False, "extra_excludes": ["*.iso"],
                     "interval_minutes": 120,  # the agent's schedule is the one that ran
                     "clock_times": ["13:00"],
                     "destinations": ["/mnt/nas/Timekeep/laptop", "/media/usb/Timekeep/laptop"]}
    assert json.loads((folder / "settings.json").read_text()) == found  # written once...
    (folder / "agent.json").write_text(json.dumps({"interval_minutes": 15}))
    assert settings.read(folder / "settings.json")["interval_minutes"] == 120  # ...and the old files are history
    assert json.loads((folder / "gui.json").read_text()) == gui  # left as they were


def test_a_window_that_backed_up_only_by_hand_keeps_the_agents_default(tmp_path: Path) -> None:
    (tmp_path / "gui.json").write_text(json.dumps({"schedule_minutes": 0, "repository": "/r"}))
    assert settings.read(tmp_path / "settings.json") == {"repository": "/r", "destinations": ["/r"]}


def test_values_of_the_wrong_type_fall_back_to_defaults(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"destinations": "/r", "interval_minutes": "often", "notifications": 1,
                                "at_shutdown": True, "clock_times": ["13:00", 7], "compression_level": True,
                                "quiet_seconds": 0.5, "mine": [1]}))
    assert settings.read(path) == {"at_shutdown": True, "quiet_seconds": 0.5, "mine": [1]}
    assert "interval_minutes: 'often' is not a number; the default applies" in caplog.text
    config = parse_config(settings.read(path), "/r")
    assert config.policy.interval_s == 3600 and config.destinations == (Path("/r"),)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", "\"text\""])
def test_a_file_that_is_not_settings_is_one_clear_line(tmp_path: Path, text: str) -> None:
    path = tmp_path / "settings.json"
    path.write_text(text)
    with pytest.raises(settings.SettingsError, match=r"settings.json (is not valid JSON|should hold a JSON object)"):
        settings.read(path)
    assert settings.read_or_defaults(path) == {}
    settings.update(path, {"repository": "/r"})  # the window's next change keeps the broken file aside
    assert settings.read(path) == {"repository": "/r"}
    assert (tmp_path / "settings.json.broken").read_text() == text


def test_two_writers_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    settings.update(path, {"interval_minutes": 60})

    def writer(name: str) -> None:
        for i in range(25):
            settings.update(path, {f"{name}{i}": i})

    threads = [threading.Thread(target=writer, args=(name,)) for name in "abcd"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    written = settings.read(path)
    assert len(written) == 1 + 4 * 25 and written["interval_minutes"] == 60


def test_the_running_agent_follows_the_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    settings.add_destination(path, "/r")
    follower = SettingsFile(path)
    assert follower.load().policy.interval_s == 3600 and follower.changed() is None
    settings.update(path, {"interval_minutes": 30, "clock_times": ["07:30"]})
    fresh = follower.changed()
    assert fresh is not None and fresh.policy.interval_s == 1800 and len(fresh.policy.clock_times) == 1


def test_hostile_settings_give_one_line_and_exit_2(env: dict[str, str]) -> None:
    path = settings_path(env)
    path.parent.mkdir(parents=True)
    too_often = json.dumps({"destinations": ["/r"], "interval_minutes": 2})
    for text, said, commands in (("{oops", "is not valid JSON", ("snapshots", "status", "agent")),
                                 (too_often, "at least 5 minutes", ("agent",))):
        path.write_text(text)
        for args in ((c,) for c in commands):
            done = cli(env, *args)
            assert done.returncode == 2 and said in done.stderr, (args, done.stderr)
            assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_the_cli_uses_the_configured_repository(tmp_path: Path, env: dict[str, str]) -> None:
    make_tree(tmp_path / "src", {"a.txt": b"a"})
    repo = new_repo(tmp_path, tmp_path / "src")
    backup(repo)
    assert cli(env, "snapshots").returncode == 2  # nothing configured: say so
    settings_path(env).parent.mkdir(parents=True)
    settings_path(env).write_text(json.dumps({"repository": str(repo)}))
    listed = cli(env, "snapshots", "--json")
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == 1
    installed = cli(env, "agent", "--install")  # no --repo: the configured repository becomes its destination
    assert installed.returncode == 0, installed.stderr
    assert settings.read(settings_path(env))["destinations"] == [str(repo)]
    assert (Path(env["XDG_CONFIG_HOME"]) / "systemd" / "user" / "timekeep-agent.service").exists()


def test_agent_if_configured_stays_quiet_without_a_destination(env: dict[str, str]) -> None:
    done = cli(env, "agent", "--if-configured")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    logged = paths_for(env).log_file.read_text().splitlines()
    assert len(logged) == 1 and "no backup drive is set up yet" in logged[0]
