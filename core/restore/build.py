"""Plans for stored versions: resolve a path at a snapshot, check its rows, paint its chain.

Nothing is built from rows that fail their seals (core/index/chain.py): a damaged index gives an error
naming the file, never another file's bytes or another time's.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from peewee import SqliteDatabase

from timekeep.core.collector import COLLECTOR
from timekeep.core.errors import CorruptData, NotInSnapshot, TimekeepError
from timekeep.core.index import chain, histories, queries
from timekeep.core.index.chain import Link
from timekeep.core.index.histories import IMPOSSIBLE_VALUES, StoredExtent
from timekeep.core.index.queries import ChunkLocation, VersionRow
from timekeep.core.restore.plan import paint
from timekeep.core.storage import xattrs as xattrs_codec
from timekeep.core.types import Plan


def impossible(path: bytes, err: Exception) -> CorruptData:
    """The one-line error for stored values of `path` that could not even be read as what they should be."""
    return CorruptData(f"the index holds impossible values for {os.fsdecode(path)} ({err}); nothing was "
                       "restored from them. Run `timekeep rebuild-index` to rebuild it from the drive")


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
    found, at = _in_force_of(path, chain.history(db, path), snapshot_id)
    return _with_doubt(db, path, found, at, snapshot_id, lost_between(db, found[at].snapshot_id, snapshot_id),
                       [tuple(row) for row in _extents(db, _chain_ids(found, at))])


def placed(db: SqliteDatabase, path: bytes, snapshot_id: int) -> tuple[Plan, dict[bytes, ChunkLocation]]:
    """`plan`, and where its chunks are, read in the same statement as its extents (each joined to its chunk's
    pack): restoring one big file reads its chain's rows once, where the places' own look-up read them again
    (2 GiB image: 0.08 s of the main thread before the first byte). A chunk in no known pack has no place."""
    with COLLECTOR.paused():  # every link, extent, place and piece made here is kept (core/collector.py)
        found, at = _in_force_of(path, chain.history(db, path), snapshot_id)
        extents: list[StoredExtent] = []
        places: dict[bytes, ChunkLocation] = {}
        for row in _extents(db, _chain_ids(found, at), places=True):  # split as they come: rows are never kept
            extents.append(row[:5])
            if row[5] is not None:
                places[row[3]] = ChunkLocation(*row[5:])
        made = _with_doubt(db, path, found, at, snapshot_id, lost_between(db, found[at].snapshot_id, snapshot_id),
                           extents)
    return made, places


class Planned(NamedTuple):
    """A plan, and the inode and ctime its version was backed up with (a hard link's key, links.py)."""

    plan: Plan
    inode: int
    ctime_ns: int


def plan_many(db: SqliteDatabase, paths: Sequence[bytes], snapshot_id: int, lost: Sequence[int],
              places: dict[bytes, ChunkLocation] | None = None,
              known: histories.Histories | None = None) -> dict[bytes, Planned | Exception]:
    """`plan` for each of `paths` in a few statements (core/index/histories.py); `lost` is
    `lost_between(db, 0, snapshot_id)`. A path whose rows fail their checks gets its own error, as `plan`
    would raise it (values of an impossible type raise their own kind: see IMPOSSIBLE_VALUES), and costs its
    neighbours nothing. With `places`, the places of the chunks the plans use are put there (histories.extents);
    `known` holds the version lists of `paths` when the caller read them already (histories.children)."""
    found = histories.read(db, paths) if known is None else known
    ready: dict[bytes, tuple[list[Link], int, list[int]]] = {}
    done: dict[bytes, Planned | Exception] = {}
    for path in paths:
        try:
            versions, at = _in_force_of(path, found.found.get(path), snapshot_id)
            ready[path] = (versions, at, _chain_ids(versions, at))
        except (TimekeepError, *IMPOSSIBLE_VALUES) as err:
            done[path] = err
    stored = histories.extents(db, [vid for _, _, ids in ready.values() for vid in ids], places)
    for path, (versions, at, ids) in ready.items():
        try:
            since = versions[at].snapshot_id
            made = _with_doubt(db, path, versions, at, snapshot_id, [s for s in lost if s > since],
                               [e for vid in ids for e in stored.get(vid, ())])
            done[path] = Planned(made, *found.inodes[versions[at].id])
        except (TimekeepError, *IMPOSSIBLE_VALUES) as err:
            done[path] = err
    return done


def chain_ids(db: SqliteDatabase, path: bytes, snapshot_id: int) -> list[int]:
    """The versions whose extents make the plan of `path` at the snapshot (`plan` checks them; this does not)."""
    found, at = _in_force_of(path, chain.history(db, path), snapshot_id)
    return _chain_ids(found, at)


def _in_force_of(path: bytes, found: list[Link] | Exception | None, snapshot_id: int) -> tuple[list[Link], int]:
    """`found` and the place in it of the version in force at the snapshot; raises what `plan` would."""
    if isinstance(found, Exception):
        raise found
    at = _in_force(found or [], snapshot_id)
    if found is None or at is None or found[at].state == "deleted":
        raise NotInSnapshot(f"{os.fsdecode(path)} did not exist at snapshot {snapshot_id}")
    return found, at


def _with_doubt(db: SqliteDatabase, path: bytes, found: list[Link], at: int, snapshot_id: int, lost: Sequence[int],
                extents: list[StoredExtent]) -> Plan:
    doubt = _doubt(db, path, found, at, snapshot_id, lost)
    made = _plan(path, found, at, extents)
    return dataclasses.replace(made, doubt=doubt) if doubt else made


def _chain_ids(found: list[Link], at: int) -> list[int]:
    """The versions whose extents the plan of `found[at]` is painted from (none for a folder or a link)."""
    return [link.id for link in chain.chain_of(found, at)] if found[at].kind == "file" else []


def lost_between(db: SqliteDatabase, after: int, upto: int) -> list[int]:
    """Snapshots in (after, upto] whose manifest was lost with the index (see core/index/rebuild.py)."""
    return [int(r[0]) for r in db.execute_sql(
        "SELECT id FROM snapshot WHERE state = 'lost' AND id > ? AND id <= ? ORDER BY id", (after, upto))]


def _doubt(db: SqliteDatabase, path: bytes, found: list[Link], at: int, snapshot_id: int,
           lost_since: Sequence[int]) -> str | None:
    """Whether a lost snapshot between the version in force and the one asked for may have changed the file:
    CorruptData when it surely did (a later version says its previous one was there), a doubt when nothing
    tells (no later version), None when a later version shows the file did not change there. `lost_since` are
    the lost snapshots after the version in force."""
    since = found[at].snapshot_id
    for lost in lost_since:
        if lost > snapshot_id:
            break
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


def _plan(path: bytes, found: list[Link], at: int, extents: list[StoredExtent]) -> Plan:
    """The plan of `found[at]`, painted from `extents` (its chain's, checked here against their seals)."""
    version = found[at]
    pieces = []
    if version.kind == "file":
        links = chain.chain_of(found, at)
        order = {link.id: n for n, link in enumerate(links)}  # later in the chain wins where pieces overlap
        chain.check_extents(path, links, extents)
        pieces = paint([(order[vid], o, n, d, k) for vid, o, n, d, k in extents], version.size)
    try:
        attrs = xattrs_codec.decode(version.xattrs)
    except xattrs_codec.BadXattrs as err:
        raise CorruptData(f"{os.fsdecode(path)}: {err}") from None
    return Plan(path, version.snapshot_id, version.kind, version.size, version.mode,  # type: ignore[arg-type]
                version.mtime_ns, version.link_target, tuple(pieces), version.digest, version.uid, version.gid,
                attrs)


def _extents(db: SqliteDatabase, version_ids: list[int], places: bool = False) -> Iterable[Any]:
    """The versions' stored extents (`StoredExtent`), each followed by its chunk's place when `places` is asked
    (histories.extents_statement); as the statement yields them."""
    if not version_ids:
        return []
    rows: Iterable[Any] = db.execute_sql(histories.extents_statement(version_ids, places), version_ids)
    return rows
