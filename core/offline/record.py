"""What this computer remembers of a bucket it reached: the bucket's config.json, beside its index in the
cache folder, so that while the bucket is out of reach its repository is still known by its location (its
id names its index and its away store; its config says whether it is encrypted).

Written whenever an open reaches the bucket and the remembered copy differs, whole and renamed into place;
a missing or unreadable record is no record (the bucket was never reached from here, or the cache was
cleared), never an error.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from timekeep.core.storage.atomic import atomic_write
from timekeep.core.storage.layout import RepoConfig, local_index_home
from timekeep.core.storage.location import is_remote

RECORD = "reached.json"


@dataclass(frozen=True)
class Reached:
    """A bucket as last reached from this computer."""

    location: str  # s3://bucket/prefix, as `str(root)` names it
    config: RepoConfig


def remember(root: Path, config: RepoConfig) -> None:
    """Keep the config of the repository in a bucket at `root` (a folder's needs nothing: the drive is it)."""
    if not is_remote(root):
        return
    data = json.dumps({"location": str(root), "config": json.loads(config.to_json())}, sort_keys=True).encode()
    target = local_index_home(config.repository_id) / RECORD
    try:
        if target.read_bytes() == data:
            os.utime(target)  # when it was last reached, which offline browsing tells
            return
    except OSError:
        pass
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(target, data)
    except OSError:
        return  # a cache that cannot be written costs offline browsing only
    if config.encrypted:
        _copy_slots(root, config.repository_id)


def _copy_slots(root: Path, repository_id: str) -> None:
    """An encrypted bucket's key slots, copied once (the agent keeps the copy up to date each time it reaches
    the bucket), so its passphrase opens this computer's index of it while it is out of reach."""
    from timekeep.core.away.store import mirror_slots, slots_home
    from timekeep.core.errors import TimekeepError

    if (slots_home(repository_id) / "keys").is_dir():
        return
    try:
        mirror_slots(root, repository_id)
    except (OSError, TimekeepError):
        return


def recall(location: str) -> Reached | None:
    """The repository last reached at `location`, if this computer remembers one."""
    try:
        homes = sorted(local_index_home("x").parent.iterdir())
    except OSError:
        return None
    found = [(_mtime(home / RECORD), reached) for home in homes
             if (reached := _read(home / RECORD)) is not None and reached.location == location]
    return max(found, key=lambda pair: pair[0])[1] if found else None  # the one reached last


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def _read(path: Path) -> Reached | None:
    try:
        data = json.loads(path.read_bytes())
        config = RepoConfig.from_json(json.dumps(data["config"]).encode())
        return Reached(str(data["location"]), config)
    except (OSError, ValueError, KeyError, TypeError):
        return None
