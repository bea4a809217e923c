"""`timekeep agent --install/--uninstall`: the systemd user unit and the XDG autostart entry.

The templates are the files in `installer/` (kept identical by a test: an installed package cannot read
that folder). Places come from $XDG_CONFIG_HOME through platformdirs, so tests install into a tmp folder;
systemctl is called only where a user manager answers.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from timekeep.core.own_command import timekeep_argv
from timekeep.core.storage.atomic import atomic_write

UNIT_NAME = "timekeep-agent.service"
DESKTOP_NAME = "timekeep-agent.desktop"
UNIT_TEMPLATE = """\
[Unit]
Description=Timekeep agent: watches your protected folders and backs them up
# A program since removed (the package uninstalled) leaves a unit that does nothing rather than one that fails.
ConditionPathExists=@PROGRAM@

[Service]
Type=simple
ExecStart=@EXEC@ agent
Restart=on-failure
RestartSec=10
# A clean stop journals every pending change and may take a last backup.
KillSignal=SIGTERM
TimeoutStopSec=60
Nice=10

[Install]
WantedBy=default.target
"""
DESKTOP_TEMPLATE = """\
[Desktop Entry]
Type=Application
Name=Timekeep agent
Comment=Keeps your protected folders backed up in the background
Exec=@EXEC@ agent
Terminal=false
NoDisplay=true
X-GNOME-Autostart-enabled=true
X-systemd-skip=true
"""
HIDDEN_ENTRY = """\
[Desktop Entry]
Type=Application
Name=Timekeep agent
Hidden=true
"""
Systemctl = Callable[[list[str]], bool]
Spawn = Callable[[list[str]], object]  # starts a command detached from the caller


@dataclass(frozen=True)
class Places:
    unit: Path
    desktop: Path

    @property
    def wants(self) -> Path:
        """The link `systemctl --user enable` makes: the user manager starts the unit with default.target."""
        return self.unit.parent / "default.target.wants" / UNIT_NAME


def places(config_home: Path | None = None) -> Places:
    home = config_home or Path(platformdirs.user_config_dir())
    return Places(home / "systemd" / "user" / UNIT_NAME, home / "autostart" / DESKTOP_NAME)


def system_autostart() -> Path | None:
    """The autostart entry a package installed for every session ($XDG_CONFIG_DIRS, /etc/xdg by default)."""
    for folder in (os.environ.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(":"):
        candidate = Path(folder) / "autostart" / DESKTOP_NAME
        if folder and candidate.exists():
            return candidate
    return None


def enable_by_hand(where: Places) -> None:
    """What `systemctl --user enable` does, for when no user manager answers: link the unit from
    default.target.wants, so the user manager starts it when the next session begins."""
    where.wants.parent.mkdir(parents=True, exist_ok=True)
    if where.wants.is_symlink() or where.wants.exists():
        where.wants.unlink()
    where.wants.symlink_to(where.unit)


def command() -> str:
    """How the session should start Timekeep: the `timekeep` script beside this Python, else `python -m`."""
    return shlex.join(timekeep_argv())


def spawn_detached(argv: list[str]) -> object:
    """Start `argv` in a session of its own, its input and output away from ours: closing the window (or
    the terminal) that started it leaves it running."""
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, close_fds=True)


def agent_argv(exec_command: str) -> list[str]:
    return [*shlex.split(exec_command), "agent"]


def render(template: str, exec_command: str) -> str:
    """A template with @EXEC@ the command that runs `timekeep`, and @PROGRAM@ the program it starts."""
    return template.replace("@EXEC@", exec_command).replace("@PROGRAM@", shlex.split(exec_command)[0])


def systemctl() -> Systemctl | None:
    """A `systemctl --user` runner, or None where no user manager answers (containers, CI, tests)."""
    if os.environ.get("TIMEKEEP_NO_SYSTEMCTL") or shutil.which("systemctl") is None:
        return None
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if not runtime or not Path(runtime, "systemd", "private").exists():
        return None

    def run(args: list[str]) -> bool:
        done = subprocess.run(["systemctl", "--user", *args], capture_output=True, timeout=30, check=False)
        return done.returncode == 0

    return run


def write_entries(where: Places, exec_command: str) -> list[str]:
    """Write the systemd user unit and the autostart entry; what was written, in words."""
    for path, template in ((where.unit, UNIT_TEMPLATE), (where.desktop, DESKTOP_TEMPLATE)):
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, render(template, exec_command).encode())
    return [f"Installed the systemd user unit {where.unit}",
            f"Installed the autostart entry {where.desktop} (used by desktop sessions without systemd)"]


def install(where: Places, exec_command: str, manager: Systemctl | None) -> list[str]:
    """Write both entries and enable the unit: through the user manager when one runs (which also starts
    it now), else by linking it by hand. Returns what was done, in words."""
    done = write_entries(where, exec_command)
    if manager is not None and manager(["daemon-reload"]) and manager(["enable", "--now", UNIT_NAME]):
        return [*done, f"Enabled and started {UNIT_NAME}: the agent runs now, and with every session."]
    enable_by_hand(where)
    why = "no systemd user manager answers here" if manager is None else "systemctl could not enable it"
    return [*done, f"Enabled {UNIT_NAME} by linking it from {where.wants.parent} ({why}).",
            "The agent is not running yet: it starts when you next log in. To start it now, run "
            "`timekeep agent &`."]


def uninstall(where: Places, manager: Systemctl | None) -> list[str]:
    """Stop and disable the unit where a user manager runs, then remove both entries."""
    done: list[str] = []
    if manager is not None and where.unit.exists():
        manager(["disable", "--now", UNIT_NAME])
        done.append(f"Stopped and disabled {UNIT_NAME}.")
    for path in (where.wants, where.unit, where.desktop):
        if path.is_symlink() or path.exists():
            path.unlink()
            done.append(f"Removed {path}")
    shared = system_autostart()
    if shared is not None:  # the package's entry for every session would start the agent again: hide it for you
        atomic_write(where.desktop, HIDDEN_ENTRY.encode())
        done.append(f"Wrote {where.desktop}, which keeps {shared} from starting the agent in your sessions.")
    if manager is not None:
        manager(["daemon-reload"])
    return done or ["Nothing to remove: the agent was not installed."]
