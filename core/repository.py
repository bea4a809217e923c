"""Open a repository: find its config, take its lock, and make sure the index it writes through tells the
truth about the drive (README "Safety", FORMAT.md "The index is a cache").

A writer never trusts an index that is missing, that SQLite finds damaged, or that is behind the drive (a
manifest on the drive it does not know, or a newer generation of one): it rebuilds the index from the drive
first, beside the old one, and says so. What the drive lost while the index still knows it is repaired
where the index can (a lost manifest is written again from it) and recorded where it cannot (a pack gone
or cut short is marked, so a later backup stores its chunks again). Only then are a killed writer's
leftovers cleaned up and adopted: a pack is never adopted, and so never deleted, by an index that might not
know every manifest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from peewee import DatabaseError, SqliteDatabase

from core.coalesce.manifests import finish as finish_manifests
from core.errors import CorruptData, IndexDamaged, IndexMissing, RepositoryLocked, StorageError
from core.index import chain
from core.index.beside import build_beside, put_in_place, remove_leftovers
from core.index.local_copy import open_copy
from core.index.rebuild import RebuildReport
from core.index.recovery import recover
from core.index.schema import check_integrity, open_index
from core.index.survey import Drift, compare, survey
from core.index.writer import manifest_records, salvage_header
from core.storage import layout as repo_layout
from core.storage.atomic import atomic_write
from core.storage.failures import drive_errors
from core.storage.layout import FORMAT_VERSION, Layout, RepoConfig
from core.storage.lock import WriterLock
from core.storage.manifest import write_manifest
from core.storage.pack import read_footer
from core.types import Progress

ProgressCallback = Callable[[Progress], None]
log = logging.getLogger(__name__)


@dataclass
class Opened:
    """What opening found and did, for the person: one sentence each."""

    db: SqliteDatabase
    notes: list[str] = field(default_factory=list)
    index_copy: Path | None = None  # a local copy read instead of the drive's index (full or read-only drive)
    rebuilt: bool = False  # the index was made anew from the drive on the way


def open_writer(root: Path, lock: WriterLock, progress: ProgressCallback | None = None) -> Opened:
    """The index, verified against the drive (rebuilt first if it must be), with the drive made whole after
    a killed writer. The caller holds `lock`."""
    layout = Layout(root)
    notes: list[str] = []
    db, rebuilt = _trusted_index(layout, progress, notes)
    try:
        recover(db, layout)
        finish_manifests(db, layout)
        sync_folders(db, layout, notes)
        _upgrade_format(layout)
    except BaseException:
        db.close()
        raise
    return Opened(db, notes, rebuilt=rebuilt)


def _trusted_index(layout: Layout, progress: ProgressCallback | None, notes: list[str]
                   ) -> tuple[SqliteDatabase, bool]:
    """The index to write through, and whether it had to be rebuilt from the drive first."""
    remove_leftovers(layout)
    try:
        db = open_index(layout.index)
        check_integrity(db)
    except IndexMissing:
        return _rebuild(layout, progress, notes, "the index (index.db) was missing", None), True
    except IndexDamaged as err:
        return _rebuild(layout, progress, notes, str(err), None), True
    drift = compare(db, survey(layout))
    if drift.behind:
        reason = f"the index was behind the drive ({drift.behind[0]})"
        return _rebuild(layout, progress, notes, reason, db), True
    try:
        _repair(db, layout, drift, notes)
    except BaseException:
        db.close()
        raise
    return db, False


def _rebuild(layout: Layout, progress: ProgressCallback | None, notes: list[str], reason: str,
             old: SqliteDatabase | None) -> SqliteDatabase:
    """Rebuild beside, swap, and open the new index; the old one (if it still opened) lends what it knows."""
    log.warning("%s: %s; rebuilding the index from the drive", layout.root, reason)
    try:
        built, report = build_beside(layout, progress, salvage=old)
    finally:
        if old is not None:
            old.close()
    aside = put_in_place(layout, built, old_healthy=old is not None)
    notes.append(f"{reason}; rebuilt it from the drive ({_counted(report)})")
    if aside is not None:
        notes.append(f"the damaged index was kept as {aside.name}")
    notes.extend(report.problems)
    return open_index(layout.index)


def rebuild_live(layout: Layout, db: SqliteDatabase, progress: ProgressCallback | None, notes: list[str],
                 reason: str) -> None:
    """Rebuild under a writer that found a damaged row midway; its open connection sees the new index."""
    log.warning("%s: %s; rebuilding the index from the drive", layout.root, reason)
    built, report = build_beside(layout, progress, salvage=db)
    db.close()  # this thread's connection: whatever it still had open must not pin the old index
    put_in_place(layout, built, old_healthy=True)
    db.connect()
    notes.append(f"{reason.split('; run')[0]}; rebuilt it from the drive ({_counted(report)})")
    notes.extend(report.problems)


def _counted(report: RebuildReport) -> str:
    n = report.snapshots
    return f"{n} snapshot{'s' if n != 1 else ''}"


def _repair(db: SqliteDatabase, layout: Layout, drift: Drift, notes: list[str]) -> None:
    """What the drive lost that the index knows: manifests written again, packs marked."""
    for name in drift.missing_packs:
        db.execute_sql("UPDATE pack SET state = 'missing' WHERE name = ?", (name,))
        notes.append(f"pack {name} is missing from the drive; what only it held is lost "
                     "(`timekeep check` lists it); the next backups store again what is still on this computer")
    for name in drift.resized_packs:
        if _footer_damaged(layout, name):
            db.execute_sql("UPDATE pack SET state = 'damaged' WHERE name = ?", (name,))
            notes.append(f"pack {name} is damaged (cut short); what only it held is lost (`timekeep check` "
                         "lists it); the next backups store again what is still on this computer")
    for sid in drift.missing_manifests:
        if chain.snapshot_intact(db, sid):
            (gen,) = db.execute_sql("SELECT gen FROM snapshot WHERE id = ?", (sid,)).fetchone()
            write_manifest(layout, sid, salvage_header(db, sid), manifest_records(db, sid), int(gen) + 1)
            db.execute_sql("UPDATE snapshot SET gen = ? WHERE id = ?", (int(gen) + 1, sid))
            notes.append(f"the manifest of snapshot {sid} was missing from the drive; written again from the index")
        else:
            notes.append(f"the manifest of snapshot {sid} is missing from the drive and the index cannot "
                         "restore it; run `timekeep check`")


def record_damage(layout: Layout, db: SqliteDatabase, packs: set[str], locked: bool) -> list[str]:
    """Note in the index packs that `check --read-data` found damaged, so the next backup stores their chunks
    again (what is still on this computer comes back whole); only while no writer runs."""
    lock = None if locked else WriterLock(layout.lock)
    try:
        if lock is not None:
            lock.acquire()
    except RepositoryLocked:
        return ["a backup is running, so the damaged packs were not noted in the index; check again later"]
    try:
        with db.atomic():
            for name in sorted(packs):
                db.execute_sql("UPDATE pack SET state = 'damaged' WHERE name = ? AND state = 'ok'", (name,))
    finally:
        if lock is not None:
            lock.release()
    return [f"pack {name} is noted as damaged: the next backup stores again what of it is still on this computer"
            for name in sorted(packs)]


def _footer_damaged(layout: Layout, name: str) -> bool:
    try:
        read_footer(layout.pack_path(name))
    except (CorruptData, OSError):
        return True
    return False


def sync_folders(db: SqliteDatabase, layout: Layout, notes: list[str]) -> None:
    """Bring the folder table in line with folders.json, the drive's record of what is protected; a damaged
    folders.json is written again from the index."""
    try:
        entries = repo_layout.read_folders(layout)
    except (ValueError, TypeError, OSError) as err:
        entries = [{"path": os.fsdecode(path), "excludes": json.loads(ex)} for path, ex in db.execute_sql(
            "SELECT path, excludes FROM folder WHERE active = 1 ORDER BY path")]
        repo_layout.write_folders(layout, entries)
        notes.append(f"folders.json was damaged ({err}); written again from the index")
    wanted = {os.fsencode(str(e["path"])): json.dumps(list(e.get("excludes", []))) for e in entries}
    with db.atomic():
        db.execute_sql("UPDATE folder SET active = 0")
        for path, excludes in wanted.items():
            db.execute_sql(
                "INSERT INTO folder (path, excludes, active) VALUES (?, ?, 1) "
                "ON CONFLICT(path) DO UPDATE SET excludes = excluded.excludes, active = 1", (path, excludes))


def _upgrade_format(layout: Layout) -> None:
    """A format-1 repository becomes format 2 the first time this Timekeep writes to it: older readers
    would not know its manifests' generations."""
    config = repo_layout.load_config(layout.root)
    if config.format < FORMAT_VERSION:
        atomic_write(layout.config, dataclasses.replace(config, format=FORMAT_VERSION).to_json())


def open_reader(root: Path) -> Opened:
    """The index for reading, as it is; when the drive cannot open it in place (full: SQLite cannot create its
    -shm file there), a consistent local copy, so files can still be got back."""
    layout = Layout(root)
    try:
        with drive_errors(root):
            db = open_index(layout.index)
            return Opened(db, _behind_notes(db, layout))
    except IndexMissing:
        raise IndexMissing(f"{root} has no index (index.db); run `timekeep rebuild-index`, which rebuilds it "
                           "from the drive") from None
    except IndexDamaged as err:
        raise IndexDamaged(f"{err}; run `timekeep rebuild-index`, which rebuilds it from the drive") from None
    except StorageError as err:
        failure = err
    try:
        with drive_errors(root):
            db, scratch = open_copy(layout.index, layout.lock)
    except RepositoryLocked as busy:
        raise StorageError(f"{failure} ({busy})") from failure
    except (OSError, StorageError) as copy_err:
        raise failure from copy_err
    log.info("%s: %s; reading a local copy of the index", root, failure)
    return Opened(db, [], scratch)


def _behind_notes(db: SqliteDatabase, layout: Layout) -> list[str]:
    """A reader goes on with an index that is behind the drive (what it shows is still true), but says so."""
    try:
        behind = compare(db, survey(layout)).behind
    except (OSError, DatabaseError):
        return []
    if not behind:
        return []
    more = f" and {len(behind) - 1} more" if len(behind) > 1 else ""
    return [f"the index is behind the drive ({behind[0]}{more}); the next backup rebuilds it, or run "
            "`timekeep rebuild-index`"]


def rebuild_index(root: Path, progress: ProgressCallback | None = None) -> RebuildReport:
    """`timekeep rebuild-index`: a new index from the drive, built beside the old one, which lends what it
    still knows (a damaged manifest is written again from it) and is replaced only once the new is whole."""
    layout = Layout(root)
    repo_layout.load_config(root)
    lock = WriterLock(layout.lock)
    lock.acquire()
    try:
        with drive_errors(root):
            old = _old_index(layout)
            try:
                built, report = build_beside(layout, progress, salvage=old)
            finally:
                if old is not None:
                    old.close()
            put_in_place(layout, built, old_healthy=old is not None)
            db = open_index(layout.index)
            try:
                recover(db, layout)
                finish_manifests(db, layout)
            finally:
                db.close()
    finally:
        lock.release()
    return report


def _old_index(layout: Layout) -> SqliteDatabase | None:
    with contextlib.suppress(IndexMissing, IndexDamaged):
        db = open_index(layout.index)
        try:
            check_integrity(db)
            return db
        except IndexDamaged:
            db.close()
    return None


def config_of(root: Path) -> RepoConfig:
    return repo_layout.load_config(root)


def discard_scratch(path: Path | None) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)
