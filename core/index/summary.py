"""What one snapshot changed, read from the index: the timeline's tooltip and the deleted rows of the tree.

Asked per snapshot (a tooltip) or per folder (a listing), so both are single indexed queries on the versions
of that snapshot, never a walk of the history.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from peewee import SqliteDatabase

from timekeep.core.errors import UsageError
from timekeep.core.types import Entry

if TYPE_CHECKING:
    from timekeep.core.types import SnapshotSummary

TOP_FOLDERS = 3
# The version in force just before `?` (a snapshot id): what a deleted item was until it went.
BEFORE = (
    "(SELECT v2.id FROM version v2 WHERE v2.file_id = f.id AND v2.snapshot_id < ? "
    "ORDER BY v2.snapshot_id DESC LIMIT 1)"
)
DELETED = (
    "SELECT f.path, p.kind, p.size, p.mode, p.mtime_ns, p.snapshot_id, p.link_target "
    "FROM file f JOIN version v ON v.file_id = f.id AND v.snapshot_id = ? AND v.state = 'deleted' "
    f"JOIN version p ON p.id = {BEFORE} "
)


def snapshot_summary(db: SqliteDatabase, snapshot_id: int) -> SnapshotSummary:
    """Files (anything but folders, whose versions only echo their children) stored or deleted at the
    snapshot, its new bytes, and the parent folders holding most of those changes."""
    row = db.execute_sql(
        "SELECT bytes_new FROM snapshot WHERE id = ? AND state = 'complete'", (snapshot_id,)).fetchone()
    if row is None:
        raise UsageError(f"there is no snapshot {snapshot_id}")
    changed, deleted = db.execute_sql(
        "SELECT coalesce(sum(state != 'deleted'), 0), coalesce(sum(state = 'deleted'), 0) FROM version "
        "WHERE snapshot_id = ? AND kind != 'dir'", (snapshot_id,)).fetchone()
    top = db.execute_sql(
        "SELECT p.path, count(*) AS n FROM version v JOIN file f ON f.id = v.file_id "
        "JOIN file p ON p.id = f.parent_id WHERE v.snapshot_id = ? AND v.kind != 'dir' "
        "GROUP BY p.id ORDER BY n DESC, p.path LIMIT ?", (snapshot_id, TOP_FOLDERS))
    from timekeep.core.types import SnapshotSummary  # made on first use (core/report_types.py)

    return SnapshotSummary(snapshot_id, int(changed), int(deleted), int(row[0]),
                           tuple((bytes(path), int(n)) for path, n in top))


def changed_folders(db: SqliteDatabase, snapshot_id: int) -> frozenset[bytes]:
    """Every folder holding, at any depth, a file stored or deleted at the snapshot: one query for the
    changed files' parents, their ancestors by name."""
    rows = db.execute_sql(
        "SELECT DISTINCT p.path FROM version v JOIN file f ON f.id = v.file_id JOIN file p ON p.id = f.parent_id "
        "WHERE v.snapshot_id = ? AND v.kind != 'dir'", (snapshot_id,))
    found: set[bytes] = set()
    for (path,) in rows:
        folder = bytes(path)
        while folder not in found and len(folder) > 1:
            found.add(folder)
            folder = folder.rsplit(b"/", 1)[0] or b"/"
    return frozenset(found)


def deleted_children(db: SqliteDatabase, parent_id: int, snapshot_id: int) -> list[Entry]:
    """Children of a folder deleted at the snapshot, each as it was just before (to show and restore it)."""
    rows = db.execute_sql(DELETED + "WHERE f.parent_id = ? AND p.state != 'deleted' ORDER BY f.path",
                          (snapshot_id, snapshot_id, parent_id))
    return _entries(rows)


def deleted_roots(db: SqliteDatabase, snapshot_id: int) -> list[Entry]:
    """Protected folders that were gone from the disk at the snapshot."""
    rows = db.execute_sql(DELETED + "WHERE f.parent_id IS NULL AND p.state != 'deleted' ORDER BY f.path",
                          (snapshot_id, snapshot_id))
    return _entries(rows)


def _entries(rows: Iterable[tuple[Any, ...]]) -> list[Entry]:
    """`snapshot_id` of each Entry is that of the version shown (the last one stored before the deletion)."""
    return [Entry(bytes(path), kind, size, mode, mtime_ns, before, True, target, "deleted")
            for path, kind, size, mode, mtime_ns, before, target in rows]
