"""Timekeep's right-click items for Nautilus, Dolphin and Nemo, installed for one user by a pip install.

The templates live in resources/file-managers/, where `places.tsv` says where each goes under a `share/`
folder and `@GUI@` stands for the command that opens the window. A package installs them under /usr/share;
`timekeep agent --install` puts them under $XDG_DATA_HOME with this install's own `timekeep-gui`, and
`--uninstall` removes exactly those files. Where a package already installed them system-wide, nothing is
added, so no menu shows its items twice.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import platformdirs

FOLDER = "file-managers"
EXECUTABLE = 0o755  # Nemo runs its condition script; Dolphin only reads a user's service menus if executable
PLAIN = 0o644
SAFE = re.compile(r"[\w/.+-]+")
RESTART_HINT = "open file manager windows show them once restarted (`nautilus -q`, `nemo -q`)"


def resource_folder() -> Path | None:
    """resources/file-managers in a PyInstaller bundle, a checkout, or an installed copy's data files."""
    roots = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        roots.append(Path(bundle) / "resources")
    roots.append(Path(__file__).resolve().parent.parent.parent / "resources")
    roots.append(Path(sys.prefix) / "share" / "timekeep" / "resources")
    return next((root / FOLDER for root in roots if (root / FOLDER / "places.tsv").is_file()), None)


def places(folder: Path) -> list[tuple[str, str]]:
    """(template file, destination under share/) for each line of places.tsv."""
    lines = (line.split("\t") for line in (folder / "places.tsv").read_text().splitlines() if line.strip())
    return [(parts[0].strip(), parts[1].strip()) for parts in lines if len(parts) == 2]


def gui_command() -> str | None:
    """The absolute `timekeep-gui` of this install: beside this Python (a venv, a bundle), else on PATH."""
    beside = Path(sys.executable).parent / "timekeep-gui"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("timekeep-gui")


def render(template: str, gui: str, destination: str) -> str:
    """The template with `@GUI@` filled in as each format quotes it: a Python string, or an Exec word."""
    if destination.endswith(".py"):
        return template.replace("@GUI@", json.dumps(gui)[1:-1])
    word = gui if SAFE.fullmatch(gui) else '"' + re.sub(r'(["`$\\])', r"\\\1", gui) + '"'
    return template.replace("@GUI@", word.replace("\\", "\\\\").replace("%", "%%"))


def data_home() -> Path:
    return Path(platformdirs.user_data_dir())


def system_copy(destination: str) -> Path | None:
    """Where a package installed this file for every user (the XDG data folders), if it did."""
    for share in (os.environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share").split(":"):
        if share and (Path(share) / destination).is_file():
            return Path(share) / destination
    return None


def install(home: Path | None = None, gui: str | None = None) -> list[str]:
    """Write the rendered files under `home` (the user's data folder); lines to show a person."""
    folder = resource_folder()
    gui = gui or gui_command()
    if folder is None or gui is None:
        missing = "its templates" if folder is None else "the timekeep-gui command"
        return [f"Right-click items in the file manager not installed: {missing} could not be found."]
    wanted = places(folder)
    if wanted and system_copy(wanted[0][1]) is not None:
        return ["Right-click items in the file manager: already installed for every user."]
    home = home or data_home()
    for name, destination in wanted:
        target = home / destination
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render((folder / name).read_text(), gui, destination))
        target.chmod(EXECUTABLE if _executable(destination) else PLAIN)
    return [f"Right-click items installed for Nautilus, Dolphin and Nemo under {home}; {RESTART_HINT}."]


def uninstall(home: Path | None = None) -> list[str]:
    """Remove exactly the files `install` writes (and what Python compiled of the Nautilus extension)."""
    folder = resource_folder()
    home = home or data_home()
    removed = 0
    for _name, destination in places(folder) if folder is not None else []:
        target = home / destination
        if target.is_file():
            target.unlink()
            removed += 1
        if destination.endswith(".py"):
            for compiled in (target.parent / "__pycache__").glob(f"{target.stem}.*.pyc"):
                compiled.unlink()
    return [f"Right-click items removed from the file managers ({removed} files)." if removed
            else "No right-click items were installed in the file managers."]


def _executable(destination: str) -> bool:
    return (destination.startswith("nemo/") and destination.endswith(".py")) or destination.startswith("kio/")
