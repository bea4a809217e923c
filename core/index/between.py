"""The index's side of a diff: the files with a version stored after one snapshot up to another, each with the
version in force at either end. Files without such a version are the same at both ends, so the cost follows
what changed between the two, not the size of the tree."""

from __future__ import annotations

from peewee import SqliteDatabase

from timekeep.core.index.queries import LATEST_AT, VERSION_COLUMNS, VersionRow, damaged_at

BATCH = 500
Ends = dict[bytes, tuple[VersionRow | None, VersionRow | None]]


def changed_between(db: SqliteDatabase, before: int, after: int) -> Ends:
    """path -> (version in force at `before`, at `after`), each None where the file had none yet, for every
    file with a version stored in between (either order); each row checked against its seal."""
    low, high = sorted((before, after))
    fids = [int(r[0]) for r in db.execute_sql(
        "SELECT DISTINCT file_id FROM version WHERE snapshot_id > ? AND snapshot_id <= ?", (low, high))]
    ends: Ends = {}
    for start in range(0, len(fids), BATCH):
        batch = fids[start : start + BATCH]
        at_before = in_force(db, batch, before)
        at_after = in_force(db, batch, after)
        for path in at_before.keys() | at_after.keys():
            ends[path] = (at_before.get(path), at_after.get(path))
    return ends


def in_force(db: SqliteDatabase, fids: list[int], snapshot_id: int) -> dict[bytes, VersionRow]:
    """path -> the version in force at the snapshot (a deletion too), for those of `fids` that had one."""
    marks = ",".join("?" * len(fids))
    rows = db.execute_sql(
        f"SELECT f.path, {VERSION_COLUMNS} FROM file f JOIN version v ON v.id = {LATEST_AT} "
        f"WHERE f.id IN ({marks})", (snapshot_id, *fids)).fetchall()
    found: dict[bytes, VersionRow] = {}
    for row in rows:
        path, version = bytes(row[0]), VersionRow._make(row[1:])
        if not version.sealed(path):
            raise damaged_at(path)
        found[path] = version
    return found


def paths_in_force(db: SqliteDatabase, paths: list[bytes], snapshot_id: int) -> dict[bytes, VersionRow]:
    """The same as `in_force`, by path."""
    found: dict[bytes, VersionRow] = {}
    for start in range(0, len(paths), BATCH):
        batch = paths[start : start + BATCH]
        marks = ",".join("?" * len(batch))
        fids = [int(r[0]) for r in db.execute_sql(f"SELECT id FROM file WHERE path IN ({marks})", batch)]
        if fids:
            found.update(in_force(db, fids, snapshot_id))
    return found
