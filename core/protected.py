"""The list of protected folders the file managers read (protected-folders.json in the user's state folder).

A file manager's right-click items show only for paths inside a protected folder, and the extension that
decides runs in the file manager's own Python: it cannot import Timekeep or open an index, so the engine keeps
this small file current instead. It maps each repository to its folders, so a drive that is away still counts,
and lists their union under "folders". Writing is skipped when nothing changed, so calling it is cheap.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

import platformdirs

from timekeep.core.storage.atomic import atomic_write
from timekeep.core.storage.location import is_remote

FILE_NAME = "protected-folders.json"
log = logging.getLogger(__name__)


def list_path() -> Path:
    """Where the list lives: platformdirs' user_state_dir("timekeep"), which honours XDG_STATE_HOME."""
    return Path(platformdirs.user_state_dir("timekeep", appauthor=False)) / FILE_NAME


def read_list(path: Path | None = None) -> dict[str, list[str]]:
    """Repository → its protected folders, as last published; empty when the file is missing or unreadable."""
    return _tidied(_read_raw(path or list_path()))


def _read_raw(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _tidied(found: object) -> dict[str, list[str]]:
    repositories = found.get("repositories") if isinstance(found, dict) else None
    if not isinstance(repositories, dict):
        return {}
    try:
        return {str(repo): [str(f) for f in folders] for repo, folders in repositories.items()}
    except TypeError:
        return {}


def _listed(found: object, key: str) -> object:
    """The folders published for `key` as read, without tidying every other repository's entry first: the
    file lists every repository this account ever backed up to, and every backup asks."""
    repositories = found.get("repositories") if isinstance(found, dict) else None
    return repositories.get(key) if isinstance(repositories, dict) else None


def publish(repository: str | Path, folders: Iterable[bytes | str], path: Path | None = None) -> bool:
    """Record `repository`'s protected folders; True when the file was written (it changed)."""
    target = path or list_path()
    found = _read_raw(target)
    mine = sorted(os.fsdecode(f) for f in folders)
    key = str(repository) if is_remote(repository) else os.fsdecode(os.path.abspath(repository))
    if _listed(found, key) == mine:
        return False
    known = _tidied(found)
    known[key] = mine
    every = sorted({folder for listed in known.values() for folder in listed})
    body = {"version": 1, "folders": every, "repositories": dict(sorted(known.items()))}
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, (json.dumps(body, indent=1) + "\n").encode())
    return True


def quietly_publish(repository: str | Path, folders: Iterable[bytes | str]) -> None:
    """`publish`, for callers whose own work must not fail because the state folder cannot be written."""
    try:
        publish(repository, folders)
    except OSError as err:
        log.warning("cannot update %s: %s", list_path(), err)
