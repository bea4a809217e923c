"""The engine calls the window makes, each a plain function that runs in a worker and returns plain data.

Writers (a backup, a thinning, a change of folders) open the repository for just their length. Opening as
writer may first rebuild the index from the drive (it was missing, damaged or behind): they pass their
progress reporter to the opening, so that rebuild shows, and return what opening found and did (`notes`)
with their result, so the window can say it once the job ends.

Opening for reading never writes: an index that is missing or damaged comes back as an `IndexTrouble`
rather than an error, so the window can tell it apart by type and offer to rebuild the index.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from timekeep.core.api import (
    RebuildReport,
    Timekeep,
    away_store,
    init_repository,
    is_remote,
    is_repository,
    missing_drive,
    open_offline,
    rebuild_index,
)
from timekeep.core.errors import IndexDamaged, IndexMissing, NothingChanged, TimekeepError
from timekeep.core.types import CheckReport, CoalesceReport, FolderInfo, Progress, Retention, SnapshotInfo
from timekeep.gui.key_jobs import is_empty, needs_unlocking
from timekeep.gui.location import Location

R = TypeVar("R")
Reporter = Callable[[Progress], None]


@dataclass(frozen=True)
class IndexTrouble:
    """The repository is there but its index cannot be read: rebuilding it from the drive mends that."""

    kind: Literal["missing", "damaged"]
    message: str  # the engine's one line (it names the file and says how to rebuild from a terminal)


@dataclass(frozen=True)
class Locked:
    """The repository is encrypted and neither the environment nor the keyring unlocks it: ask the person."""

    path: Location


@dataclass(frozen=True)
class WriterDone(Generic[R]):
    """A writer job's result, what opening the repository found and did (one sentence each), and whether the
    index was made anew (a new file: a reader opened before must open again to see it)."""

    value: R
    notes: tuple[str, ...] = ()
    rebuilt: bool = False


@dataclass(frozen=True)
class FolderChange:
    """Folders to start and stop protecting, and the exclusions every protected folder should carry."""

    add: tuple[bytes, ...] = ()
    remove: tuple[bytes, ...] = ()
    excludes: tuple[str, ...] = ()  # the person's patterns, on top of the engine's defaults
    reapply: bool = False  # the patterns changed: give every protected folder the new ones
    compression_level: int | None = None  # a new zstd level for what is stored from now on
    retention: Retention | None = None  # a new rule for thinning the repository's history


def repository_reachable(path: Location) -> bool:
    """True when the drive is there and the folder holds a repository (its config file)."""
    return is_repository(path)


def named_repository_problem(path: str) -> str | None:
    """Why a repository named on the command line cannot be opened, or None: a repository, or one whose
    drive is away (the window shows that calmly and waits). A path on a drive that is there but holds no
    repository is a mistake to say at once, never a drive to wait for. A bucket is asked nothing here: one
    out of reach is shown as such, and waited for."""
    if is_remote(path):
        return None
    if is_repository(path) or missing_drive(path) is not None:
        return None
    if not os.path.exists(path):
        return f"{path} does not exist: no Timekeep repository there (is the path spelled right?)"
    return f"{path} is not a Timekeep repository (its drive is connected, but no backup was made there)"


def open_reader(path: Location) -> Timekeep | IndexTrouble | Locked:
    """The browsing connection (an encrypted repository unlocked from the keyring first), or why it cannot be
    had: the index cannot give one, or the key is needed (the rest of the engine's errors raise)."""
    if needs_unlocking(path):
        return Locked(path)
    try:
        return Timekeep.open(path)
    except IndexMissing as err:
        return IndexTrouble("missing", str(err))
    except IndexDamaged as err:
        return IndexTrouble("damaged", str(err))


def open_away(path: Location) -> Timekeep | None:
    """While the drive is away: what the agent kept on this computer meanwhile (core/away), open for reading;
    None when it kept nothing. A bucket out of reach: its history from this computer's index (core/offline),
    where a version stored only in the bucket fails to preview in one line; None when this computer holds no
    index of it or its key is not at hand."""
    if is_remote(path):
        try:
            return open_offline(path)
        except TimekeepError:
            return None
    found = away_store(path)
    return None if found is None else Timekeep.open(found)


def open_or_create(path: Location) -> Location:
    """Open the repository at `path`, creating it when the folder (or the bucket's prefix) is missing or empty
    (welcome flow). One whose index is missing or damaged is still a repository: the window offers to rebuild
    its index."""
    if is_empty(path):
        init_repository(path)
    opened = open_reader(path)  # raises the engine's one-line error for anything but the index
    if isinstance(opened, Timekeep):
        opened.close()
    return path


def apply_folder_change(repo: Location, change: FolderChange, report: Reporter) -> WriterDone[tuple[FolderInfo, ...]]:
    """The writer lock for just this change; an exclusions change re-adds each folder."""
    with Timekeep.open(repo, writer=True, progress=report) as tk:
        for path in change.remove:
            tk.remove_folder(path)
        current = {f.path: f for f in tk.folders()}
        for path in change.add:
            if os.path.realpath(path) not in current:
                tk.add_folder(path, excludes=change.excludes)
        if change.reapply:
            for folder in tk.folders():
                tk.set_excludes(folder.path, change.excludes)
        if change.compression_level is not None:
            tk.set_compression_level(change.compression_level)
        if change.retention is not None:
            tk.set_retention(change.retention)
        return WriterDone(tuple(tk.folders()), tk.notes, tk.rebuilt)


def thin_history(repo: Location, rule: Retention, report: Reporter) -> WriterDone[CoalesceReport]:
    """Apply `rule` (the one the person sees) and thin the history by it now."""
    with Timekeep.open(repo, writer=True, progress=report) as tk:
        if tk.retention() != rule:
            tk.set_retention(rule)
        return WriterDone(tk.coalesce(progress=report), tk.notes, tk.rebuilt)


def run_backup(repo: Location, trigger: str, cancel: threading.Event, report: Reporter) -> WriterDone[SnapshotInfo]:
    """One snapshot. The notes are read at the end: a backup that meets a damaged index row rebuilds midway."""
    with Timekeep.open(repo, writer=True, progress=report) as tk:
        snapshot = tk.backup(trigger=trigger, progress=report, cancel=cancel)
        return WriterDone(snapshot, tk.notes, tk.rebuilt)


def back_up_if_changed(repo: Location, trigger: str, cancel: threading.Event, report: Reporter
                       ) -> WriterDone[SnapshotInfo | str]:
    """"Back up now": a snapshot, or the engine's sentence saying nothing changed since the latest one."""
    with Timekeep.open(repo, writer=True, progress=report) as tk:
        try:
            done: SnapshotInfo | str = tk.backup(trigger=trigger, progress=report, cancel=cancel,
                                                 skip_unchanged=True)
        except NothingChanged as unchanged:
            done = str(unchanged)
        return WriterDone(done, tk.notes, tk.rebuilt)


def rebuild(repo: Location, report: Reporter) -> RebuildReport:
    """The person's "Rebuild index": a new index from the drive, swapped in only once whole."""
    return rebuild_index(repo, progress=report)


def check_backup(repo: Location, report: Reporter) -> CheckReport:
    """The person's "Check backup…": the index against the drive, without re-reading every chunk. It opens its
    own connection, so a long check holds up neither browsing nor restores."""
    with Timekeep.open(repo) as tk:
        return tk.check(read_data=False, progress=report)
