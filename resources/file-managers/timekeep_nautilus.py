"""Timekeep's items in Nautilus's right-click menu (nautilus-python, API 4.0).

Runs inside Nautilus's own Python: it never imports Timekeep and never opens a backup. Whether a path is
protected comes from protected-folders.json, which Timekeep keeps current in the user's state folder; the
items open the Timekeep window at that place. `@GUI@` is filled in when the file is installed.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Sequence

import gi

gi.require_version("Nautilus", "4.0")
from gi.repository import GObject, Nautilus  # noqa: E402

GUI = "@GUI@"
LIST_NAME = "protected-folders.json"
FILE_ITEMS = (("versions", "Show versions…", ("--file",)),
              ("previous", "Restore previous version…", ("--file", "--previous")))
FOLDER_ITEMS = (("folder", "Show this folder in Timekeep", ("--folder",)),
                ("deleted", "Restore deleted files here…", ("--folder",)),
                ("browse", "Browse this folder's history…", ("--browse",)))


def protected_folders() -> list[str]:
    """The folders Timekeep protects, as it last wrote them; none when it has not yet (or cannot be read)."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    try:
        with open(os.path.join(state, "timekeep", LIST_NAME), encoding="utf-8") as fh:
            folders = json.load(fh)["folders"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [f for f in folders if isinstance(f, str)]


def is_protected(path: str) -> bool:
    real = os.path.realpath(path)
    return any(real == f or real.startswith(f.rstrip("/") + "/") for f in protected_folders())


def spawn(argv: Sequence[str]) -> None:
    """Start the window on its own, so Nautilus never waits for it."""
    subprocess.Popen(list(argv), start_new_session=True, stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class TimekeepMenu(GObject.GObject, Nautilus.MenuProvider):
    """One "Timekeep" submenu on a single protected file or folder, and on a protected folder's background."""

    launch: Callable[[Sequence[str]], None] = staticmethod(spawn)

    def get_file_items(self, files: list[Nautilus.FileInfo]) -> list[Nautilus.MenuItem]:
        if len(files) != 1:
            return []
        return self._items(files[0], "File")

    def get_background_items(self, current_folder: Nautilus.FileInfo) -> list[Nautilus.MenuItem]:
        return self._items(current_folder, "Background")

    def _items(self, info: Nautilus.FileInfo, where: str) -> list[Nautilus.MenuItem]:
        location = info.get_location()
        path = location.get_path() if location is not None else None
        if not path or not is_protected(path):
            return []
        top = Nautilus.MenuItem(name=f"Timekeep::{where}", label="Timekeep", tip="Earlier versions, kept by Timekeep")
        submenu = Nautilus.Menu()
        top.set_submenu(submenu)
        for key, label, flags in FOLDER_ITEMS if info.is_directory() else FILE_ITEMS:
            item = Nautilus.MenuItem(name=f"Timekeep::{where}::{key}", label=label, tip="")
            argv = [GUI, flags[0], path, *flags[1:]]
            item.connect("activate", self._activated, argv)
            submenu.append_item(item)
        return [top]

    def _activated(self, _item: Nautilus.MenuItem, argv: list[str]) -> None:
        self.launch(argv)
