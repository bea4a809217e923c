"""A storage time while the destination is away, into its away store on this computer, and the thinning that
keeps the store under its cap.

The store's journal names what changed since the drive went; a storage time stores those paths (never a
whole scan: the drive's history already holds the rest) and clears them only once the snapshot is complete.
Before storing it checks the disk's free space and the cap: too little room refuses cleanly (NoRoomHere),
the changes stay journaled, and the drive gets them when it returns. Past the cap, the oldest snapshots are
thinned first with the engine's coalescer (folded into the next one: the newest state of every file stays).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from timekeep.core.agent.storage import Outcome
from timekeep.core.api import Timekeep
from timekeep.core.away import store
from timekeep.core.capture.excludes import Excludes
from timekeep.core.errors import NothingChanged
from timekeep.core.index.journal import JournalEntry
from timekeep.core.types import Progress

log = logging.getLogger(__name__)


def sync_folders(tk: Timekeep, folders: Mapping[bytes, Excludes]) -> None:
    """The store protects what the destination protects (as the agent last read it from the drive)."""
    mine = {f.path: f for f in tk.folders()}
    for path, excludes in folders.items():
        if path not in mine:
            tk.add_folder(path, tuple(excludes.patterns), default_excludes=False)
        elif tuple(mine[path].excludes) != tuple(excludes.patterns):
            tk.set_excludes(path, tuple(excludes.patterns), default_excludes=False)
    for path in mine.keys() - folders.keys():
        tk.remove_folder(path)


def record(path: Path, entries: Iterable[JournalEntry], now_ns: int) -> int:
    """Journal changed paths in the store (it exists: see `store.create`)."""
    with Timekeep.open(path) as tk:
        return tk.journal.record(list(entries), now_ns)


def folders_of(path: Path) -> dict[bytes, Excludes]:
    """The folders the store protects: what the agent follows while it has not read the drive's list."""
    with Timekeep.open(path) as tk:
        return {f.path: Excludes(list(f.excludes)) for f in tk.folders()}


def storage_time(path: Path, cap: int, trigger: str = "away", progress: Callable[[Progress], None] | None = None,
                 cancel: threading.Event | None = None) -> Outcome:
    """Store what the store's journal names, within the cap and the disk's room (NoRoomHere otherwise)."""
    with Timekeep.open(path, writer=True, progress=progress) as tk:
        mark = tk.journal.watermark()
        dirty = tk.journal.pending(mark)
        if not dirty:
            return Outcome(None, skipped="nothing changed")
        need = tk.journal.stats().bytes
        store.check_room(path, need, cap)
        thin_to(tk, path, cap - need)
        try:  # every journaled path as it is: an exact storage time walks no folder to find a folder's children
            snap = tk.backup(trigger, progress, cancel, dirty=dirty, make_room=False, skip_unchanged=True, exact=True)
        except NothingChanged as unchanged:
            tk.journal.clear(mark)
            return Outcome(None, skipped=str(unchanged))
        tk.journal.clear(mark)
        thin_to(tk, path, cap)
        return Outcome(snap, tk.snapshot_errors(snap.id))


def thin_to(tk: Timekeep, path: Path, limit: int) -> list[int]:
    """Drop the oldest snapshots, one at a time, until the store takes at most `limit` bytes (the newest one
    and a file's only copy always stay); the ids dropped."""
    dropped: list[int] = []
    while store.size_on_disk(path) > limit:
        snaps = tk.snapshots()
        if len(snaps) < 2:
            break
        report = tk.coalesce(drop=[snaps[0].id])
        if not report.snapshots_dropped:
            break
        dropped += report.snapshots_dropped
    if dropped:
        log.info("%s: thinned away snapshots %s to stay under its cap", path, dropped)
    return dropped
