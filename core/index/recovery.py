"""Make a repository whole again after a writer was killed, before the next writer starts.

Temporaries a killed writer left (unsealed packs, unpublished manifests and root files) are removed;
sealed packs the index does not know are adopted (their chunks dedup the next backup); a snapshot left
running is completed if its manifest made it to the drive, and otherwise discarded, so it is never shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from peewee import SqliteDatabase

from timekeep.core.errors import CorruptData
from timekeep.core.index.chain import set_head
from timekeep.core.index.writer import add_packs, mark_complete
from timekeep.core.storage.layout import Layout
from timekeep.core.storage.manifest import current_manifest, read_manifest
from timekeep.core.storage.pack import SealedPack, read_footer, stored_packs
from timekeep.core.types import SnapshotInfo


def remove_temporaries(layout: Layout) -> int:
    """Unpublished temporaries of a killed writer: packs and manifests, and the repository's own whole
    files (config.json, folders.json, coalescing.json), which are written beside themselves in the root of a
    drive's repository folder. Only a writer writes any of them, and the caller holds the writer lock."""
    removed = 0
    local = layout.store.local_folder
    folders = {layout.scratch("packs"), layout.scratch("snapshots"), *([local] if local is not None else [])}
    for directory in sorted(folders):
        for tmp in directory.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


def adopt_orphan_packs(db: SqliteDatabase, layout: Layout, on_drive: Mapping[str, int] | None = None) -> int:
    """Index the sealed packs a killed writer left; `on_drive`: the drive's packs as the caller just listed
    them under the writer lock (else listed here)."""
    known = {row[0] for row in db.execute_sql("SELECT name FROM pack")}
    adopted = []
    for name, size in sorted((stored_packs(layout.store) if on_drive is None else on_drive).items()):
        if name in known:
            continue
        try:
            entries = read_footer(layout.store, name, layout.sealing)
        except CorruptData:
            continue  # `check` reports it; never index a pack we cannot read
        adopted.append(SealedPack(name, size, entries))
    with db.atomic():
        add_packs(db, adopted)
    return len(adopted)


def settle_running_snapshots(db: SqliteDatabase, layout: Layout) -> None:
    for (sid,) in list(db.execute_sql("SELECT id FROM snapshot WHERE state = 'running'")):
        header = _manifest_header(layout, sid)
        if header is not None:
            fields = SnapshotInfo.__dataclass_fields__
            mark_complete(db, SnapshotInfo(**{k: header[k] for k in fields if k in header}))
        else:
            discard_snapshot(db, sid)


def _manifest_header(layout: Layout, sid: int) -> dict[str, Any] | None:
    """The header of the snapshot's manifest when the whole manifest reads back; a damaged one is left on
    the drive (it may be all that is left of the snapshot), where the next writer's look at the drive finds
    it and rebuilds the index, which reports it."""
    path = current_manifest(layout, sid)
    if path is None:
        return None
    try:
        records = list(read_manifest(layout.store, path, layout.sealing))
    except CorruptData:
        return None
    return records[0]


def discard_snapshot(db: SqliteDatabase, sid: int) -> None:
    """Forget an unfinished snapshot; each file it touched gets back the newest version it had before."""
    with db.atomic():
        touched = [int(r[0]) for r in db.execute_sql("SELECT file_id FROM version WHERE snapshot_id = ?", (sid,))]
        db.execute_sql("DELETE FROM extent WHERE version_id IN (SELECT id FROM version WHERE snapshot_id = ?)",
                       (sid,))
        db.execute_sql("DELETE FROM version WHERE snapshot_id = ?", (sid,))
        db.execute_sql("DELETE FROM snapshot_error WHERE snapshot_id = ?", (sid,))
        db.execute_sql("DELETE FROM snapshot WHERE id = ?", (sid,))
        for fid in touched:
            set_head(db, fid)


def recover(db: SqliteDatabase, layout: Layout, on_drive: Mapping[str, int] | None = None) -> None:
    remove_temporaries(layout)
    adopt_orphan_packs(db, layout, on_drive)
    settle_running_snapshots(db, layout)
