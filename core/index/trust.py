"""Whether an index may be written through: the checks every writer makes before it trusts index.db, the
rebuild when it may not, and the repairs of what the drive lost while the index still knows it (FORMAT.md,
"The index is a cache").

A writer never trusts an index that is missing, that SQLite finds damaged, or that is behind the drive (a
manifest on the drive it does not know, or a newer generation of one): it rebuilds the index from the drive
first, beside the old one, and says so. What the drive lost while the index still knows it is repaired where
the index can (a lost manifest is written again from it) and recorded where it cannot (a pack gone or cut
short is marked, so a later backup stores its chunks again).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from peewee import DatabaseError, SqliteDatabase

from timekeep.core.errors import (
    CorruptData,
    DriveWentBack,
    IndexDamaged,
    IndexMissing,
    RepositoryLocked,
    StorageError,
)
from timekeep.core.index import chain, checked
from timekeep.core.index.beside import build_beside, put_in_place, remove_leftovers
from timekeep.core.index.schema import check_integrity, open_index
from timekeep.core.index.survey import Drift, DriveView, compare, survey
from timekeep.core.index.writer import manifest_records, salvage_header
from timekeep.core.storage.layout import Layout
from timekeep.core.storage.manifest import write_manifest
from timekeep.core.storage.pack import read_footer
from timekeep.core.types import Progress

if TYPE_CHECKING:
    from timekeep.core.index.rebuild import RebuildReport

ProgressCallback = Callable[[Progress], None]
log = logging.getLogger(__name__)


class Trusted(NamedTuple):
    db: SqliteDatabase
    rebuilt: bool  # it had to be rebuilt from the drive first
    packs: dict[str, int] | None = None  # the packs on the drive as the survey found them (None: not surveyed)


def trusted_index(layout: Layout, progress: ProgressCallback | None, notes: list[str], repository_id: str
                  ) -> Trusted:
    """The index to write through, whether it had to be rebuilt from the drive first, and the packs the
    drive holds when a survey found the index trustworthy as it was (the caller holds the writer lock, so
    they stay so: the orphan packs are adopted from this look, not from a second listing). SQLite's integrity
    check runs when core/index/checked.py says it is due (the file is not as this computer left it, or a day
    has passed)."""
    remove_leftovers(layout)
    try:
        db = open_index(layout.index)
    except IndexMissing:
        return Trusted(_rebuild(layout, progress, notes, "the index (index.db) was missing", None, repository_id), True)
    except IndexDamaged as err:
        return Trusted(_rebuild(layout, progress, notes, str(err), None, repository_id), True)
    try:
        if checked.due(layout, repository_id):
            check_integrity(db)
            checked.passed(layout, repository_id)
    except IndexDamaged as err:
        db.close()
        return Trusted(_rebuild(layout, progress, notes, str(err), None, repository_id), True)
    view = survey(layout)
    drift = compare(db, view)
    if layout.index_local:  # what other computers did to the drive: loaded only for an index kept here
        from timekeep.core.index import catchup

        if (back := catchup.went_back(db, view, drift)) is not None:
            db.close()
            raise DriveWentBack(f"{back} Nothing was written; to accept the drive as it is now, run "
                                "`timekeep rebuild-index`")
        if (reason := _local_doubt(db, layout, view, drift)) is not None:
            if _caught_up(db, layout, view, drift, progress, notes):
                return Trusted(db, False)
            return Trusted(_rebuild(layout, progress, notes, reason, db, repository_id), True)
    if drift.behind:
        reason = f"the index was behind the drive ({drift.behind[0]})"
        return Trusted(_rebuild(layout, progress, notes, reason, db, repository_id), True)
    try:
        _repair(db, layout, drift, notes)
    except BaseException:
        db.close()
        raise
    return Trusted(db, False, view.packs)


def _local_doubt(db: SqliteDatabase, layout: Layout, view: DriveView, drift: Drift) -> str | None:
    """Why an index kept on this computer cannot be written through as it is. Besides being behind: packs
    gone or resized (another computer's thinning reclaims packs, and only the drive can tell that from a
    loss), and a snapshot left running here whose id another computer's manifest now holds."""
    from timekeep.core.index import catchup

    if drift.behind:
        return f"the index was behind the drive ({drift.behind[0]})"
    if drift.missing_packs or drift.resized_packs:
        return "the drive's packs changed since this computer's index saw them"
    if foreign := catchup.foreign_running(db, view, layout):
        return f"snapshot {foreign[0]}, left running here, was taken since by another computer"
    return None


def _caught_up(db: SqliteDatabase, layout: Layout, view: DriveView, drift: Drift,
               progress: ProgressCallback | None, notes: list[str]) -> bool:
    """Load only what other computers added, when that is all that changed (see core/index/catchup.py)."""
    from timekeep.core.index import catchup

    new = catchup.only_added(db, view, drift)
    if new is None or catchup.foreign_running(db, view, layout):
        return False
    try:
        report = catchup.load_added(db, layout, view, new, progress)
    except (CorruptData, DatabaseError, OSError) as err:
        log.warning("%s: catching the index up failed (%s); rebuilding it", layout.store.where, err)
        return False
    if report is None:
        return False
    notes.append(f"the index was behind the drive (another computer backed up since); caught up from the drive "
                 f"({_counted(report)})")
    return True


def _rebuild(layout: Layout, progress: ProgressCallback | None, notes: list[str], reason: str,
             old: SqliteDatabase | None, repository_id: str) -> SqliteDatabase:
    """Rebuild beside, swap, and open the new index; the old one (if it still opened) lends what it knows."""
    log.warning("%s: %s; rebuilding the index from the drive", layout.store.where, reason)
    checked.forget(repository_id)
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
    db = open_index(layout.index)
    checked.passed(layout, repository_id)  # made just now from the drive
    return db


def rebuild_live(layout: Layout, db: SqliteDatabase, progress: ProgressCallback | None, notes: list[str],
                 reason: str, repository_id: str) -> None:
    """Rebuild under a writer that found a damaged row midway; its open connection sees the new index."""
    log.warning("%s: %s; rebuilding the index from the drive", layout.store.where, reason)
    checked.forget(repository_id)
    built, report = build_beside(layout, progress, salvage=db)
    db.close()  # this thread's connection: whatever it still had open must not pin the old index
    put_in_place(layout, built, old_healthy=True)
    db.connect()
    checked.passed(layout, repository_id)
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
    lock = None if locked else layout.store.writer_lock()
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
        read_footer(layout.store, name, layout.sealing)
    except (CorruptData, StorageError):
        return True
    return False


def behind_notes(db: SqliteDatabase, layout: Layout) -> list[str]:
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


def old_index(layout: Layout) -> SqliteDatabase | None:
    with contextlib.suppress(IndexMissing, IndexDamaged):
        db = open_index(layout.index)
        try:
            check_integrity(db)
            return db
        except IndexDamaged:
            db.close()
    return None
