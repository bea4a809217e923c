"""The on-drive half of encrypting a repository in place: the staging folder, the commit point, and finishing.

The encrypted copy is written beside the old repository, under `encrypting/`, where no reader or writer of the
old one looks. Replacing `config.json` with the staged one is the single commit point; after it, the staged
folders are moved into place and the plaintext ones removed (FORMAT.md, "Encrypting an existing repository").
Every step of finishing can be repeated, so whoever opens the repository next finishes a killed one.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from timekeep.core.storage.atomic import atomic_write, fsync_dir

STAGING = "encrypting"
FROM_NAME = "converted-from.json"  # the old repository id: its index on this computer goes too
MOVED = ("keys", "packs", "snapshots")
INDEX_FILES = ("index.db", "index.db-wal", "index.db-shm")


def staging(root: Path) -> Path:
    return Path(root) / STAGING


def begun(root: Path) -> bool:
    return staging(root).is_dir()


def discard(root: Path) -> None:
    """Remove an uncommitted copy (the caller holds the writer lock and knows config.json is still the old)."""
    shutil.rmtree(staging(root), ignore_errors=True)
    fsync_dir(root)


def write_staged_config(root: Path, config_json: bytes, old_repository_id: str) -> None:
    """The encrypted config and the old id, durable in the staging folder, ready for the commit (with every
    folder of the copy, so no power cut after the commit can lose one)."""
    stage = staging(root)
    atomic_write(stage / FROM_NAME, json.dumps({"repository_id": old_repository_id}).encode())
    atomic_write(stage / "config.json", config_json)
    for name in MOVED:
        fsync_dir(stage / name)
    fsync_dir(stage)


def commit(root: Path) -> None:
    """The one step that makes the repository encrypted: the staged config replaces the old, atomically."""
    os.replace(staging(root) / "config.json", Path(root) / "config.json")
    fsync_dir(root)


def committed(root: Path) -> bool:
    """Whether config.json already says encrypted: then the staged copy is the repository, never to be
    discarded (a commit whose rename landed but whose folder sync failed counts)."""
    try:
        return bool(json.loads((Path(root) / "config.json").read_bytes()).get("encryption", "none") != "none")
    except (OSError, ValueError, AttributeError):
        return True  # unsure: keep everything


def old_repository_id(root: Path) -> str | None:
    try:
        return str(json.loads((staging(root) / FROM_NAME).read_bytes())["repository_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def finish(root: Path, index_home: Callable[[str], Path]) -> None:
    """After the commit: staged folders into place, plaintext out (the old index too, on the drive and in
    `index_home(old id)` on this computer), the staging folder last. Repeatable at any point; the caller holds
    the writer lock."""
    root, stage = Path(root), staging(root)
    old_id = old_repository_id(root)
    for name in MOVED:
        staged, current, old = stage / name, root / name, stage / f"plaintext-{name}"
        if not staged.is_dir():
            continue  # moved already
        if current.exists():
            os.rename(current, old)  # the plaintext, now inside the staging folder that goes last
        os.rename(staged, current)
        fsync_dir(root)
    if (stage / "folders.json").exists():
        os.replace(stage / "folders.json", root / "folders.json")
        fsync_dir(root)
    remove_drive_index(root)
    if old_id is not None:
        shutil.rmtree(index_home(old_id), ignore_errors=True)
    shutil.rmtree(stage)
    fsync_dir(root)


def remove_drive_index(root: Path) -> None:
    """The plaintext index names every file: it may not stay on the drive of an encrypted repository."""
    for entry in os.scandir(root):
        if entry.name in INDEX_FILES or entry.name.startswith(("index.db.rebuilding", "index.db.damaged-")):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
