"""`timekeep agent --install/--uninstall`: the templates match installer/, and what is written under
$XDG_CONFIG_HOME really starts the agent at the next session, with or without a systemd user manager."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.agent_support import ROOT, agent_env, cli
from timekeep.core.agent import install


def test_install_templates_match_the_installer_folder() -> None:
    assert (ROOT / "installer" / install.UNIT_NAME).read_text() == install.UNIT_TEMPLATE
    assert (ROOT / "installer" / install.DESKTOP_NAME).read_text() == install.DESKTOP_TEMPLATE


def test_without_a_user_manager_the_unit_is_enabled_by_hand(tmp_path: Path) -> None:
    env = agent_env(tmp_path / "runtime", tmp_path / "home")  # TIMEKEEP_NO_SYSTEMCTL: no manager answers
    repo = tmp_path / "repo"
    refused = cli(env, "agent", "--install")
    assert refused.returncode == 2 and "no destination" in refused.stderr
    done = cli(env, "agent", "--install", "--repo", str(repo))
    assert done.returncode == 0, done.stderr
    config_home = Path(env["XDG_CONFIG_HOME"])
    units = config_home / "systemd" / "user"
    unit, desktop = units / install.UNIT_NAME, config_home / "autostart" / install.DESKTOP_NAME
    wants = units / "default.target.wants" / install.UNIT_NAME
    assert "ExecStart=" in unit.read_text() and " agent" in unit.read_text()
    # what `systemctl --user enable` would have made: the user manager starts it at the next log-in...
    assert wants.is_symlink() and os.readlink(wants) == str(unit) and wants.resolve() == unit.resolve()
    # ...and sessions without systemd start it from the autostart entry, which systemd's generator skips
    assert "X-systemd-skip=true" in desktop.read_text() and " agent" in desktop.read_text()
    assert json.loads((config_home / "timekeep" / "settings.json").read_text())["destinations"] == [str(repo)]
    said = done.stdout
    assert "default.target.wants" in said and "not running yet" in said and "next log in" in said
    assert "starts with your next desktop session" not in said
    again = cli(env, "agent", "--install")  # installing twice is fine
    assert again.returncode == 0, again.stderr
    assert wants.is_symlink()
    removed = cli(env, "agent", "--uninstall")
    assert removed.returncode == 0, removed.stderr
    assert not unit.exists() and not desktop.exists() and not wants.is_symlink()
    assert "Nothing to remove" in cli(env, "agent", "--uninstall").stdout


def test_with_a_user_manager_systemctl_enables_and_starts_it(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "etc-xdg"))  # no package's entry for every session
    calls: list[list[str]] = []
    where = install.places(tmp_path)
    done = install.install(where, "/usr/bin/timekeep", lambda args: calls.append(args) or True)
    assert calls == [["daemon-reload"], ["enable", "--now", install.UNIT_NAME]]
    assert "ExecStart=/usr/bin/timekeep agent" in where.unit.read_text()
    assert not where.wants.is_symlink()  # systemctl makes its own link
    assert "Enabled and started" in done[-1]
    install.uninstall(where, lambda args: calls.append(args) or True)
    assert ["disable", "--now", install.UNIT_NAME] in calls
    assert not where.desktop.exists() and not where.unit.exists()


def test_when_systemctl_cannot_enable_it_the_link_is_made_by_hand(tmp_path: Path) -> None:
    where = install.places(tmp_path)
    done = install.install(where, "/usr/bin/timekeep", lambda args: args == ["daemon-reload"])
    assert where.wants.is_symlink() and where.wants.resolve() == where.unit.resolve()
    assert any("systemctl could not enable it" in line for line in done)


def test_a_unit_whose_program_is_gone_does_nothing(tmp_path: Path) -> None:
    """The package removed without `--uninstall` first: the unit's condition fails quietly instead of the
    agent failing and restarting every ten seconds."""
    where = install.places(tmp_path)
    install.install(where, "/opt/venv/bin/python -m timekeep.core.cli.main", None)
    text = where.unit.read_text()
    assert "ConditionPathExists=/opt/venv/bin/python\n" in text
    assert "ExecStart=/opt/venv/bin/python -m timekeep.core.cli.main agent\n" in text


def test_uninstall_hides_the_packages_autostart_entry_for_this_person(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The package starts the agent in every session from /etc/xdg/autostart; a person who uninstalls their
    agent gets an entry of the same name, Hidden, which the desktop lets win over the shared one."""
    shared = tmp_path / "etc-xdg" / "autostart" / install.DESKTOP_NAME
    monkeypatch.setenv("XDG_CONFIG_DIRS", f"{tmp_path / 'nowhere'}:{tmp_path / 'etc-xdg'}")
    where = install.places(tmp_path / "config")
    install.install(where, "/usr/bin/timekeep", None)
    install.uninstall(where, None)
    assert not where.desktop.exists()  # no shared entry: nothing to hide
    shared.parent.mkdir(parents=True)
    shared.write_text(install.DESKTOP_TEMPLATE.replace("@EXEC@ agent", "/usr/bin/timekeep agent --if-configured"))
    install.install(where, "/usr/bin/timekeep", None)
    said = install.uninstall(where, None)
    assert "Hidden=true" in where.desktop.read_text() and "Exec" not in where.desktop.read_text()
    assert not where.unit.exists() and any(str(shared) in line for line in said)
    install.install(where, "/usr/bin/timekeep", None)  # installing again replaces the hiding entry
    assert "Hidden" not in where.desktop.read_text()


def test_uninstall_stops_an_agent_that_was_started_detached(tmp_path: Path) -> None:
    """Without a user manager the window starts the agent in a session of its own; `--uninstall` must end
    it too, not leave protection running that the person asked to end."""
    from tests.agent_support import agent_process
    from tests.helpers import new_repo

    env = agent_env(tmp_path / "runtime", tmp_path / "home")
    (tmp_path / "src").mkdir()
    repo = new_repo(tmp_path, tmp_path / "src")
    with agent_process(env, repo) as (proc, _paths):
        removed = cli(env, "agent", "--uninstall")
        assert removed.returncode == 0, removed.stderr
        assert f"Asked the running agent (process {proc.pid}) to stop" in removed.stdout
        assert proc.wait(timeout=30) == 0  # a clean stop
    assert "Asked the running agent" not in cli(env, "agent", "--uninstall").stdout  # none left to ask
