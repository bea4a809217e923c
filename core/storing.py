"""Taking a snapshot through an open repository: the folders it protects, an id never used before, a
full drive answered by thinning, and a damaged index met midway answered by rebuilding it and going again."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peewee import DatabaseError

from timekeep.core.errors import CorruptData, DriveFull, IndexDamaged, NothingChanged, StorageError, UsageError
from timekeep.core.folders import folders
from timekeep.core.index import losses, queries
from timekeep.core.index.recovery import discard_snapshot
from timekeep.core.repository import Repository
from timekeep.core.storage.failures import drive_errors
from timekeep.core.storage.manifest import current_manifest, manifest_ids, read_manifest
from timekeep.core.types import Progress, SnapshotInfo
from timekeep.core.units import size

ProgressCallback = Callable[[Progress], None]
Dirty = Mapping[bytes, Collection[bytes]]
ROOM_MARGIN = 16 << 20
log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from timekeep.core.capture.backup import FolderSpec


def backup(repo: Repository, trigger: str = "manual", progress: ProgressCallback | None = None,
           cancel: threading.Event | None = None, dirty: Dirty | None = None, make_room: bool = True,
           skip_unchanged: bool = False, exact: bool = False, reread_racy: bool = False) -> SnapshotInfo:
    """Take a snapshot. `dirty` (folder root -> changed paths, as a watcher journaled them) limits the scan
    to those paths; folders not in it are not scanned. None scans everything. With `exact`, only the journaled
    paths and the folders above them are looked at: no folder is walked, even one the index does not know. With
    `skip_unchanged`, a run that finds nothing to record raises NothingChanged instead of adding an empty
    snapshot (see `unchanged`). With `reread_racy` (the agent's storage times), a run from the journal also reads
    the latest snapshot's racy files again (`queries.racy_files`); the guard's run leaves them, as it must not
    read what a burst may have touched since.

    When the drive fills up, old snapshots are thinned to make room (the oldest outside the retention rule's
    keep-all window first, never a file's only copy) and the backup runs again. When a row of the index fails
    its seal midway, the snapshot is dropped, the index rebuilt from the drive, and the backup runs again."""
    repo.need_writer()
    try:
        return _with_room(repo, trigger, progress, cancel, dirty, make_room, skip_unchanged, exact, reread_racy)
    except IndexDamaged as err:
        repo.rebuild_live(str(err), progress)
    except (sqlite3.DatabaseError, DatabaseError) as err:
        if not damaged_index(err):
            raise
        repo.rebuild_live(f"the index is damaged: {err}", progress)
    return _with_room(repo, trigger, progress, cancel, dirty, make_room, skip_unchanged, exact, reread_racy)


def damaged_index(err: BaseException) -> bool:
    """Whether SQLite says the index's pages are damaged (what its own check would have found)."""
    text = str(err).lower()
    return "malformed" in text or "not a database" in text or "corrupt" in text


def _with_room(repo: Repository, trigger: str, progress: ProgressCallback | None, cancel: threading.Event | None,
               dirty: Dirty | None, make_room: bool, skip_unchanged: bool, exact: bool = False,
               reread_racy: bool = False) -> SnapshotInfo:
    free_before = _free_bytes(repo.layout.store.local_folder)
    try:
        return _once(repo, trigger, progress, cancel, dirty, skip_unchanged, exact, reread_racy)
    except DriveFull as err:
        if not make_room:
            raise
        from timekeep.core.coalesce import run as thinning  # loaded when thinning is needed: commands start quicker

        with drive_errors(repo.root):
            room = thinning.make_room(repo.db, repo.layout, repo.config.compression_level, repo.config.retention,
                                      2 * free_before + ROOM_MARGIN)
        if not room.snapshots_dropped:
            raise DriveFull(full_message(repo.root, free_before, len(queries.snapshots(repo.db)),
                                         repo.config.retention.keep_all_hours)) from err
        log.warning("drive full: thinned snapshots %s (%d bytes) to make room", room.snapshots_dropped,
                    room.bytes_freed)
        return _once(repo, trigger, progress, cancel, dirty, skip_unchanged, exact, reread_racy)


def _once(repo: Repository, trigger: str, progress: ProgressCallback | None, cancel: threading.Event | None,
          dirty: Dirty | None, skip_unchanged: bool, exact: bool = False, reread_racy: bool = False) -> SnapshotInfo:
    from timekeep.core.capture.backup import Backup, FolderSpec  # the CLI's other commands need not load it

    specs = [FolderSpec(f.id, f.path, f.excludes) for f in folders(repo)]
    if not specs:
        raise UsageError("no folder is protected yet; add one with `timekeep add FOLDER`")
    taken = set(manifest_ids(repo.layout))  # ids are never reused, whatever the index says
    latest = latest_snapshot(repo) if skip_unchanged or reread_racy else None
    reread = losses.to_store_again(repo.db)
    if reread_racy and dirty is not None and latest is not None:  # from the journal: the last snapshot's racy too
        reread |= queries.racy_files(repo.db, latest.id)
    job = Backup(repo.db, repo.layout, repo.config, specs, progress, cancel, dirty=dirty, taken=taken,
                 reread=reread, exact=exact)
    if skip_unchanged:
        job.before_finish = functools.partial(refuse_unchanged, repo, latest, folder_records(specs))
    try:
        with drive_errors(repo.root):
            return job.run(trigger)
    except BaseException:
        if job.writer.snapshot_id:
            with contextlib.suppress(Exception):  # the next writer's recovery drops it if this cannot (drive gone)
                discard_snapshot(repo.db, job.writer.snapshot_id)
        raise


def latest_snapshot(repo: Repository) -> SnapshotInfo | None:
    (sid,) = repo.db.execute_sql("SELECT max(id) FROM snapshot WHERE state = 'complete'").fetchone()
    return None if sid is None else queries.snapshot(repo.db, int(sid))


def folder_records(specs: Sequence[FolderSpec]) -> list[dict[str, Any]]:
    """The folders as a snapshot's manifest records them."""
    return [{"path": os.fsdecode(f.path), "excludes": list(f.excludes)} for f in specs]


def refuse_unchanged(repo: Repository, latest: SnapshotInfo | None, folders: list[dict[str, Any]],
                     info: SnapshotInfo) -> None:
    """NothingChanged when the snapshot about to be finished would add nothing to `latest`."""
    if latest is not None and unchanged(repo, info, latest, folders):
        raise NothingChanged(latest.id, latest.time_ns)


def unchanged(repo: Repository, info: SnapshotInfo, latest: SnapshotInfo, folders: list[dict[str, Any]]) -> bool:
    """The one rule for an empty snapshot, whoever asked (the agent, the command line, the window): it records
    no version, stored no byte, met no file it could not read, and protects the same folders with the same
    exclusions as the latest snapshot. The first snapshot, even of empty folders, is always kept."""
    if info.errors or info.bytes_new:
        return False
    if repo.db.execute_sql("SELECT 1 FROM version WHERE snapshot_id = ? LIMIT 1", (info.id,)).fetchone():
        return False
    return _folders_of(repo, latest.id) == folders


def _folders_of(repo: Repository, snapshot_id: int) -> list[dict[str, Any]] | None:
    """The folders a snapshot's manifest records; None when it cannot be read (the snapshot is kept)."""
    path = current_manifest(repo.layout, snapshot_id)
    if path is None:
        return None
    try:
        # the header comes first: the rest is never read
        found = next(read_manifest(repo.layout.store, path, repo.layout.sealing)).get("folders")
    except (StorageError, CorruptData, StopIteration):
        return None
    return found if isinstance(found, list) else None


def _free_bytes(root: Path | None) -> int:
    if root is None:
        return 0  # a bucket: its room is the server's to say (a quota's refusal names it)
    try:
        return shutil.disk_usage(root).free
    except OSError:
        return 0


def full_message(root: Path, free_before: int, snapshots: int, keep_all_hours: int) -> str:
    """Why a backup stopped on a full drive that thinning could not help: how much room there was, why
    nothing was thinned, and what to do."""
    try:
        of = f" of {size(shutil.disk_usage(root).total)}"
    except OSError:
        of = ""
    head = (f"the backup drive is full: this {'first ' if not snapshots else ''}backup needed more than the "
            f"{size(free_before)} that was free{of}")
    if not snapshots:
        return f"{head}. Free some space on the drive, or use a larger one, and back up again"
    hours = "hour" if keep_all_hours == 1 else f"{keep_all_hours} hours"
    return (f"{head}, and no snapshot could be thinned to make room: every snapshot is within the last {hours} "
            "or holds a file's only copy. Free some space on the drive, thin older history by hand, or use a "
            "larger drive, and back up again")
