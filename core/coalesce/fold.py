"""Fold the versions of dropped snapshots into the next kept one, inside the index.

A dropped version whose file does not change again up to the kept snapshot moves there: it is what the
kept snapshot shows. One the file changed again by then folds into that next version: when the next
version is a delta, the two versions' changed locations are laid over each other (latest wins) and the
adjacent parts of one chunk merge into one extent, so the chain stays whole with one
version fewer. The caller runs it in one transaction.
"""

from __future__ import annotations

import bisect
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from peewee import SqliteDatabase

from timekeep.core.restore.plan import overlay

NEXT_VERSION = "(SELECT min(v2.id) FROM version v2 WHERE v2.file_id = v.file_id AND v2.id > v.id)"
EXTENT_INSERT = (
    "INSERT INTO extent (version_id, offset, length, chunk_id, skip) SELECT ?, ?, ?, id, ? FROM chunk WHERE digest = ?"
)


@dataclass
class FoldStats:
    versions_folded: int = 0
    versions_moved: int = 0
    extent_rows_saved: int = 0


def next_kept(kept: Sequence[int], sid: int) -> int | None:
    """The first kept snapshot after `sid` in the ascending list `kept`."""
    at = bisect.bisect_right(kept, sid)
    return kept[at] if at < len(kept) else None


def holds_last_copy(db: SqliteDatabase, sid: int, into: int) -> bool:
    """Whether dropping `sid` would lose the only stored copy of a file: its version there is the last
    before the file is deleted (or replaced by another kind) by the kept snapshot `into`."""
    row = db.execute_sql(
        f"SELECT 1 FROM version v JOIN version n ON n.id = {NEXT_VERSION} "
        "WHERE v.snapshot_id = ? AND v.kind != 'dir' AND v.state != 'deleted' AND n.snapshot_id <= ? "
        "AND (n.state = 'deleted' OR n.kind != v.kind) LIMIT 1",
        (sid, into),
    ).fetchone()
    return row is not None


def spare_last_copies(db: SqliteDatabase, all_ids: Collection[int], drop: Collection[int]
                      ) -> tuple[list[int], list[int]]:
    """(snapshots to drop, ascending; snapshots kept because they hold a file's only copy). Decided
    newest first, so each dropped snapshot's kept successor is final when it is judged."""
    kept = sorted(set(all_ids) - set(drop))
    dropped: list[int] = []
    spared: list[int] = []
    for sid in sorted(drop, reverse=True):
        into = next_kept(kept, sid)
        if into is None or holds_last_copy(db, sid, into):
            bisect.insort(kept, sid)
            spared.append(sid)
        else:
            dropped.append(sid)
    return sorted(dropped), sorted(spared)


def fold_snapshot(db: SqliteDatabase, sid: int, into: int, stats: FoldStats) -> None:
    """Remove snapshot `sid`, carrying what `into` needs of its versions into it."""
    rows = db.execute_sql(
        "SELECT v.id, v.full, v.origin, n.id, n.snapshot_id, n.full, n.kind, n.state, n.size "
        f"FROM version v LEFT JOIN version n ON n.id = {NEXT_VERSION} WHERE v.snapshot_id = ?",
        (sid,),
    ).fetchall()
    for vid, full, origin, nid, nsid, nfull, nkind, nstate, nsize in rows:
        if nid is None or nsid > into:
            db.execute_sql("UPDATE version SET snapshot_id = ? WHERE id = ?", (into, vid))
            stats.versions_moved += 1
            continue
        if nkind == "file" and nstate != "deleted" and not nfull:
            _merge_into(db, vid, bool(full), nid, nsize, stats)
        if origin is not None:  # a watched move's link back to the file's earlier history survives the fold
            db.execute_sql("UPDATE version SET origin = coalesce(origin, ?) WHERE id = ?", (origin, nid))
        db.execute_sql("DELETE FROM extent WHERE version_id = ?", (vid,))
        db.execute_sql("DELETE FROM version WHERE id = ?", (vid,))
        stats.versions_folded += 1
    db.execute_sql("DELETE FROM snapshot_error WHERE snapshot_id = ?", (sid,))
    db.execute_sql("DELETE FROM snapshot WHERE id = ?", (sid,))


def _merge_into(db: SqliteDatabase, vid: int, full: bool, nid: int, size: int, stats: FoldStats) -> None:
    """Version `nid` (a delta) takes over the locations of `vid` it still shows, and `vid`'s key-frame role."""
    extents = db.execute_sql(
        "SELECT e.version_id, e.offset, e.length, c.digest, e.skip FROM extent e JOIN chunk c ON c.id = e.chunk_id "
        "WHERE e.version_id IN (?, ?)",
        (vid, nid),
    ).fetchall()
    pieces = overlay(extents, size)
    db.execute_sql("DELETE FROM extent WHERE version_id = ?", (nid,))
    db.cursor().executemany(EXTENT_INSERT, [(nid, p.offset, p.length, p.chunk_offset, p.digest) for p in pieces])
    stats.extent_rows_saved += len(extents) - len(pieces)
    if full:
        db.execute_sql("UPDATE version SET full = 1, depth = 0, chain_rows = ? WHERE id = ?", (len(pieces), nid))
