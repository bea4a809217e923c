"""A storage time on one destination, and the reconciliation scan that feeds its journal.

A storage time reads only what the journal names: it notes the journal's watermark, hands the
paths at or below it to `Timekeep.backup(dirty=...)`, and clears them only once the snapshot is complete,
so a failed or cancelled storage time loses nothing. Reconciliation is the metadata scan (size, mtime,
inode, ctime; no reading) that finds what the watcher could not see, journaling it for the next one.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from timekeep.core.agent.where import Where
from timekeep.core.api import Timekeep
from timekeep.core.errors import NothingChanged
from timekeep.core.index.journal import JournalStats
from timekeep.core.paths import is_inside
from timekeep.core.types import CoalesceReport, FileError, Progress, SnapshotInfo
from timekeep.core.watch.debounce import needed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Standing:
    """Where a destination stands as a storage time leaves it: read through the writer before it lets go, so the
    agent knows its new snapshot count and journal without opening the repository again (a reader's open
    surveys the drive: a few ms of CPU on every storage time, before its client heard it had ended)."""

    snapshots: int
    last_ns: int | None  # its latest snapshot's time
    journal: JournalStats


@dataclass(frozen=True)
class Outcome:
    snapshot: SnapshotInfo | None
    errors: list[FileError] = field(default_factory=list)
    skipped: str = ""  # why no snapshot was taken (nothing changed)
    reconciled: int = 0  # paths a reconciliation scan journaled first
    standing: Standing | None = None


def reconcile(tk: Timekeep, roots: Collection[bytes] | None = None, cancel: threading.Event | None = None) -> int:
    """Scan the protected folders (only `roots` when given: protected folders, scanned whole, or folders inside
    them, scanned at and below) and journal whatever differs; returns how many."""
    folders = tk.folders()
    if roots is None:
        return tk.journal.reconcile(folders, cancel, time.time_ns())
    parts = {f.path: [p for p in roots if is_inside(p, f.path) and p != f.path] for f in folders}
    chosen = [f for f in folders if f.path in roots or parts[f.path]]
    return tk.journal.reconcile(chosen, cancel, time.time_ns(),
                                {path: within for path, within in parts.items() if path not in roots and within})


def storage_time(path: Where, trigger: str, *, explicit: bool, scan_first: Collection[bytes] | None = (),
                 progress: Callable[[Progress], None] | None = None,
                 cancel: threading.Event | None = None) -> Outcome:
    """Store what the destination's journal names. `scan_first`: folders to reconcile before (those too big
    to watch; None for all, after missed events). Without changes only an `explicit` request snapshots."""
    with Timekeep.open(path, writer=True, progress=progress) as tk:
        outcome = _store(tk, path, trigger, explicit, scan_first, progress, cancel)
        return dataclasses.replace(outcome, standing=standing_of(tk))


def standing_of(tk: Timekeep) -> Standing:
    snaps = tk.snapshots()
    return Standing(len(snaps), snaps[-1].time_ns if snaps else None, tk.journal.stats())


def _store(tk: Timekeep, path: Where, trigger: str, explicit: bool, scan_first: Collection[bytes] | None,
           progress: Callable[[Progress], None] | None, cancel: threading.Event | None) -> Outcome:
    """`storage_time` through the writer it opened."""
    _log_notes(path, tk)
    if tk.rebuilt:  # the index was made anew from the drive: its journal is gone, so look at everything
        scan_first = None
    found = reconcile(tk, scan_first, cancel) if scan_first is None or scan_first else 0
    mark = tk.journal.watermark()
    dirty = tk.journal.pending(mark)
    if not dirty and explicit and scan_first is not None:
        # A person asked, and the journal names nothing: an edit made a moment ago may not have reached the
        # watcher yet. Look at the folders before saying nothing changed.
        found += reconcile(tk, None, cancel)
        mark = tk.journal.watermark()
        dirty = tk.journal.pending(mark)
    if not dirty and not explicit:
        return Outcome(None, skipped="nothing changed", reconciled=found)
    try:  # the rule every "back up now" follows: a run that finds nothing new adds no snapshot
        snap = tk.backup(trigger, progress, cancel, dirty=named_paths(dirty), skip_unchanged=True, reread_racy=True)
    except NothingChanged as unchanged:
        tk.journal.clear(mark)
        return Outcome(None, skipped=str(unchanged), reconciled=found)
    tk.journal.clear(mark)
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


def named_paths(dirty: dict[bytes, set[bytes]]) -> dict[bytes, set[bytes]]:
    """Each folder's journaled paths without those a storage time covers anyway (see `coalesce.needed`)."""
    lookup = functools.lru_cache(maxsize=None)(is_folder)
    return {root: needed(paths, lookup) for root, paths in dirty.items()}


def thin(path: Where, progress: Callable[[Progress], None] | None = None,
         cancel: threading.Event | None = None) -> CoalesceReport:
    """The coalescer on one destination: thin by its retention rule and give back the space."""
    with Timekeep.open(path, writer=True, progress=progress) as tk:
        _log_notes(path, tk)
        return tk.coalesce(progress, cancel)


def _log_notes(path: Where, tk: Timekeep) -> None:
    """What opening found and did (an index rebuilt, a lost manifest written again) goes to the agent's log."""
    for note in tk.notes:
        log.warning("%s: %s", path, note)


def reconcile_only(path: Where, cancel: threading.Event | None = None) -> int:
    """The scan at start, after an overflow, once a day: journal what differs, take no snapshot."""
    with Timekeep.open(path) as tk:
        return reconcile(tk, None, cancel)
