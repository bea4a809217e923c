"""The drive is back: move the away store's snapshots onto it, oldest first, each keeping its time, then remove
the store.

Each away snapshot becomes a drive snapshot with trigger "away" through `Timekeep.store_copy`, every byte
verified as it is read back; its manifest names the away snapshot it came from, so a move killed at any
point and run again skips what the drive already sealed (nothing twice) and copies the rest (nothing lost).
The store is removed only once every one of its snapshots is sealed on the drive. A file the store can no
longer read back whole (damage on this computer's disk) costs that file's version alone: it is recorded as
the drive snapshot's error, and the next storage time stores the file as it is now.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from timekeep.core.agent.where import Where
from timekeep.core.api import Timekeep
from timekeep.core.away import store
from timekeep.core.types import FileError, Progress, SnapshotInfo

log = logging.getLogger(__name__)


@dataclass
class Moved:
    """What a move did: the drive snapshots (in time order), the files the store could not give back."""

    snapshots: list[SnapshotInfo] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    removed: bool = False


def pending(path: Path) -> bool:
    """Whether the store holds snapshots waiting for the drive (read from its files, not its index)."""
    if not store.exists(path):
        return False
    try:
        return any(name.endswith(".manifest") for name in (p.name for p in (path / "snapshots").iterdir()))
    except OSError:
        return False


def move(path: Path, destination: Where, cancel: threading.Event | None = None,
         progress: Callable[[Progress], None] | None = None) -> Moved:
    """Move every snapshot of the store at `path` onto the repository `destination`, then remove the store."""
    done = Moved()
    store.clear_leftovers()  # a removal a kill interrupted
    if not store.exists(path):
        return done
    if not store.unlock(path):
        raise_locked(path)
    with Timekeep.open(path, writer=True) as source, Timekeep.open(destination, writer=True) as dest:
        for snap in sorted(source.snapshots(), key=lambda s: (s.time_ns, s.id)):
            copied = dest.store_copy(source, snap.id, "away", cancel, progress)
            done.snapshots.append(copied)
            done.errors += dest.snapshot_errors(copied.id)
            log.info("%s: away snapshot %d is snapshot %d on the drive", destination, snap.id, copied.id)
    store.remove(path)
    done.removed = True
    return done


def raise_locked(path: Path) -> None:
    from timekeep.core.errors import KeyNeeded

    raise KeyNeeded(f"{path} is encrypted with the backup drive's key, which is not unlocked yet")
