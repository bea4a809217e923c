"""Plans for stored versions: resolve a path at a snapshot, check its rows, paint its chain.

Nothing is built from rows that fail their seals (core/index/chain.py): a damaged index gives an error
naming the file, never another file's bytes or another time's.
"""

from __future__ import annotations

import dataclasses
import os

from peewee import SqliteDatabase

from timekeep.core.errors import CorruptData, NotInSnapshot
from timekeep.core.index import chain, queries
from timekeep.core.index.chain import Link
from timekeep.core.index.queries import VersionRow
from timekeep.core.restore.plan import paint
from timekeep.core.storage import xattrs as xattrs_codec
from timekeep.core.types import Plan


def version_at(db: SqliteDatabase, path: bytes, snapshot_id: int) -> VersionRow:
    """The version of `path` in force at the snapshot, unchecked (for listing and kinds); NotInSnapshot if it
    did not exist then."""
    fid = queries.file_id(db, path)
    version = queries.version_at(db, fid, snapshot_id) if fid is not None else None
    if version is None or version.state == "deleted":
        raise NotInSnapshot(f"{os.fsdecode(path)} did not exist at snapshot {snapshot_id}")
    return version


def plan(db: SqliteDatabase, path: bytes, snapshot_id: int) -> Plan:
    """The checked plan of `path` as it was at the snapshot."""
    found = chain.history(db, path)
    at = _in_force(found or [], snapshot_id)
    if found is None or at is None or found[at].state == "deleted":
        raise NotInSnapshot(f"{os.fsdecode(path)} did not exist at snapshot {snapshot_id}")
    doubt = _doubt(db, path, found, at, snapshot_id)
    return dataclasses.replace(_plan(db, path, found, at), doubt=doubt) if doubt else _plan(db, path, found, at)


def lost_between(db: SqliteDatabase, after: int, upto: int) -> list[int]:
    """Snapshots in (after, upto] whose manifest was lost with the index (see core/index/rebuild.py)."""
    return [int(r[0]) for r in db.execute_sql(
        "SELECT id FROM snapshot WHERE state = 'lost' AND id > ? AND id <= ? ORDER BY id", (after, upto))]


def _doubt(db: SqliteDatabase, path: bytes, found: list[Link], at: int, snapshot_id: int) -> str | None:
    """Whether a lost snapshot between the version in force and the one asked for may have changed the file:
    CorruptData when it surely did (a later version says its previous one was there), a doubt when nothing
    tells (no later version), None when a later version shows the file did not change there."""
    since = found[at].snapshot_id
    for lost in lost_between(db, since, snapshot_id):
        if db.execute_sql("SELECT 1 FROM loss WHERE snapshot_id = ? AND path = ?", (lost, path)).fetchone():
            raise CorruptData(f"{os.fsdecode(path)}: its version at snapshot {lost} was lost with that snapshot's "
                              f"manifest; it is stored as it was at snapshot {since} (`--at {since}`)")
        if at + 1 == len(found):
            return (f"snapshot {lost} is lost: {os.fsdecode(path)} may have changed there; this is how it was at "
                    f"snapshot {since}")
    return None


def _in_force(found: list[Link], snapshot_id: int) -> int | None:
    at = None
    for i, link in enumerate(found):
        if link.snapshot_id <= snapshot_id:
            at = i
    return at


def _plan(db: SqliteDatabase, path: bytes, found: list[Link], at: int) -> Plan:
    version = found[at]
    pieces = []
    if version.kind == "file":
        links = chain.chain_of(found, at)
        order = {link.id: n for n, link in enumerate(links)}  # later in the chain wins where pieces overlap
        extents = _extents(db, list(order))
        chain.check_extents(path, links, extents)
        pieces = paint([(order[vid], o, n, d, k) for vid, o, n, d, k in extents], version.size)
    try:
        attrs = xattrs_codec.decode(version.xattrs)
    except xattrs_codec.BadXattrs as err:
        raise CorruptData(f"{os.fsdecode(path)}: {err}") from None
    return Plan(path, version.snapshot_id, version.kind, version.size, version.mode,  # type: ignore[arg-type]
                version.mtime_ns, version.link_target, tuple(pieces), version.digest, version.uid, version.gid,
                attrs)


def _extents(db: SqliteDatabase, version_ids: list[int]) -> list[tuple[int, int, int, bytes, int]]:
    marks = ",".join("?" * len(version_ids))
    return [tuple(row) for row in db.execute_sql(
        "SELECT e.version_id, e.offset, e.length, c.digest, e.skip FROM extent e JOIN chunk c ON c.id = e.chunk_id "
        f"WHERE e.version_id IN ({marks})", version_ids)]
