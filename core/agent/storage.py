"""A storage time on one destination, and the reconciliation scan that feeds its journal.

A storage time reads only what the journal names (claims 7–9): it notes the journal's watermark, hands the
paths at or below it to `Timekeep.backup(dirty=...)`, and clears them only once the snapshot is complete,
so a failed or cancelled storage time loses nothing. Reconciliation is the metadata scan (size, mtime,
inode, ctime; no reading) that finds what the watcher could not see, journaling it for the next one.
"""

from __future__ import annotations

import functools
import os
import stat
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from peewee import SqliteDatabase

from core.api import Timekeep
from core.capture.excludes import Excludes
from core.capture.scan import FolderScan
from core.errors import BackupCancelled
from core.index import journal, queries
from core.index.journal import JournalEntry, size_on_disk
from core.types import CoalesceReport, FileError, FolderInfo, Progress, SnapshotInfo
from core.watch.debounce import needed

BATCH = 5000


@dataclass(frozen=True)
class Outcome:
    snapshot: SnapshotInfo | None
    errors: list[FileError] = field(default_factory=list)
    skipped: str = ""  # why no snapshot was taken (nothing changed)
    reconciled: int = 0  # paths a reconciliation scan journaled first


def _differing(db: SqliteDatabase, folder: FolderInfo, cancel: threading.Event) -> Iterator[bytes]:
    """Paths under `folder` whose metadata differs from the index; a folder never stored is one path,
    its root, which the next snapshot walks whole."""
    if queries.file_id(db, folder.path) is None:
        yield folder.path
        return
    scan = FolderScan(db, folder.path, Excludes(folder.excludes), lambda error: None)
    for item in scan.items():
        if cancel.is_set():
            raise BackupCancelled("reconciliation cancelled; the journal keeps what it found so far")
        yield item.path


def _record(db: SqliteDatabase, root: bytes, paths: Iterable[bytes], now_ns: int) -> int:
    count, batch = 0, []
    for path in paths:
        batch.append(JournalEntry(root, path, size_on_disk(path)))
        if len(batch) >= BATCH:
            count += len(batch)
            journal.record(db, batch, now_ns)
            batch = []
    journal.record(db, batch, now_ns)
    return count + len(batch)


def reconcile(tk: Timekeep, roots: Collection[bytes] | None = None, cancel: threading.Event | None = None) -> int:
    """Scan the protected folders (only `roots` when given) and journal whatever differs; returns how many."""
    stop = cancel or threading.Event()
    total = 0
    for folder in tk.folders():
        if roots is None or folder.path in roots:
            total += _record(tk.db, folder.path, _differing(tk.db, folder, stop), time.time_ns())
    return total


def storage_time(path: Path, trigger: str, *, explicit: bool, scan_first: Collection[bytes] | None = (),
                 progress: Callable[[Progress], None] | None = None,
                 cancel: threading.Event | None = None) -> Outcome:
    """Store what the destination's journal names. `scan_first`: folders to reconcile before (those too big
    to watch; None for all, after missed events). Without changes only an `explicit` request snapshots."""
    with Timekeep.open(path, writer=True) as tk:
        found = reconcile(tk, scan_first, cancel) if scan_first is None or scan_first else 0
        mark = journal.watermark(tk.db)
        dirty = journal.pending(tk.db, mark)
        if not dirty and not explicit:
            return Outcome(None, skipped="nothing changed", reconciled=found)
        snap = tk.backup(trigger, progress, cancel, dirty=_named(dirty))
        journal.clear(tk.db, mark)
        return Outcome(snap, tk.snapshot_errors(snap.id), reconciled=found)


def describe_outcome(outcome: Outcome) -> str:
    """A storage time's result for the agent's log."""
    snap = outcome.snapshot
    if snap is None:
        return f"no snapshot: {outcome.skipped or 'nothing stored'}"
    scanned = f", {outcome.reconciled} paths found by a scan first" if outcome.reconciled else ""
    return (f"snapshot {snap.id} stored in {snap.duration_s:.1f} s: {snap.files_read} files read, "
            f"{snap.files_changed} changed, {snap.bytes_new} bytes new, {snap.errors} errors{scanned}")


def describe_thinning(report: CoalesceReport) -> str:
    """A coalescer run's result for the agent's log."""
    if not report.snapshots_dropped:
        return f"nothing to thin ({report.duration_s:.1f} s)"
    dropped = ", ".join(str(i) for i in report.snapshots_dropped)
    problems = f"; problems: {'; '.join(report.problems)}" if report.problems else ""
    return (f"thinned snapshots {dropped} in {report.duration_s:.1f} s: {report.versions_folded} versions "
            f"folded, {report.bytes_freed} bytes freed{problems}")


def is_folder(path: bytes) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _named(dirty: dict[bytes, set[bytes]]) -> dict[bytes, set[bytes]]:
    """Each folder's journaled paths without those a storage time covers anyway (see `coalesce.needed`)."""
    lookup = functools.lru_cache(maxsize=None)(is_folder)
    return {root: needed(paths, lookup) for root, paths in dirty.items()}


def thin(path: Path, progress: Callable[[Progress], None] | None = None,
         cancel: threading.Event | None = None) -> CoalesceReport:
    """The coalescer on one destination: thin by its retention rule and give back the space."""
    with Timekeep.open(path, writer=True) as tk:
        return tk.coalesce(progress, cancel)


def reconcile_only(path: Path, cancel: threading.Event | None = None) -> int:
    """The scan at start, after an overflow, once a day: journal what differs, take no snapshot."""
    with Timekeep.open(path) as tk:
        return reconcile(tk, None, cancel)
