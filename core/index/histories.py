"""Many files' sealed version lists and their extents, read in a few statements rather than a few per file.

A folder restore plans its files a batch at a time (core/restore/folder_plans.py): one statement for the
batch's file rows, one for their versions, one per few hundred versions for the extents. Each file is
checked exactly as `chain.history` checks it, on its own: a file whose rows fail their seals gets its own
CorruptData, and its neighbours in the batch are planned as if it were not there.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import NamedTuple

from peewee import SqliteDatabase

from timekeep.core.errors import CorruptData
from timekeep.core.index.batches import batches
from timekeep.core.index.chain import LINK_COLUMNS, Link, check_record, verified
from timekeep.core.index.listing import Damaged, live_held
from timekeep.core.index.queries import LOCATION_COLUMNS, ChunkLocation
from timekeep.core.types import Entry

# what stored values of the wrong type raise where they are compared or packed (as chain.history lets them)
IMPOSSIBLE_VALUES = (ValueError, OverflowError, TypeError, struct.error)
StoredExtent = tuple[int, int, int, bytes, int]  # version id, offset, length, chunk digest, skip


class Histories(NamedTuple):
    """What `read` found: each path's verified versions (oldest first) or why they cannot be used (CorruptData,
    or the error values of an impossible type raised; a path the index never heard of is absent), and each
    version's inode and ctime (a hard link's key, not sealed)."""

    found: dict[bytes, list[Link] | Exception]
    inodes: dict[int, tuple[int, int]]


def read(db: SqliteDatabase, paths: Sequence[bytes]) -> Histories:
    """The version lists of `paths`, each checked as `chain.history` checks one."""
    files: dict[int, tuple[bytes, object, object]] = {}
    for batch in batches(list(paths)):
        for fid, path, head, file_seal in db.execute_sql(
                f"SELECT id, path, head, seal FROM file WHERE path IN ({_marks(batch)})", batch):
            files.setdefault(fid, (bytes(path), head, file_seal))
    versions: dict[int, list[Link]] = {fid: [] for fid in files}
    inodes: dict[int, tuple[int, int]] = {}
    for ids in batches(list(files)):
        for fid, inode, ctime_ns, *values in db.execute_sql(
                f"SELECT file_id, inode, ctime_ns, {LINK_COLUMNS} FROM version WHERE file_id IN ({_marks(ids)}) "
                "ORDER BY file_id, snapshot_id, id", ids):
            link = Link._make(values)
            versions[fid].append(link)
            inodes[link.id] = (inode, ctime_ns)
    found: dict[bytes, list[Link] | Exception] = {}
    for fid, (path, head, file_seal) in files.items():
        try:
            check_record(path, head, file_seal)
            assert isinstance(head, int)  # check_record refuses any other
            found[path] = verified(path, head, versions[fid])
        except (CorruptData, *IMPOSSIBLE_VALUES) as err:
            found[path] = err
    return Histories(found, inodes)


Owns = Callable[[object, object, object], bool]
_V_LINK = ", ".join("v." + c for c in LINK_COLUMNS.split(", "))
_CHILD = (f"SELECT f.id, f.path, f.head, f.seal, v.inode, v.ctime_ns, {_V_LINK} FROM file f "
          "JOIN version v ON v.file_id = f.id WHERE f.parent_id = ? AND ")
# a folder's children that may have existed at a snapshot (as listing.py reads them), with every version of each
_CHILDREN = f"{_CHILD}f.live = 1 UNION ALL {_CHILD}f.live = 0 AND f.head > ?"


def children(db: SqliteDatabase, parent_id: int, snapshot_id: int, damaged: Damaged,
             owns: Owns | None = None) -> tuple[list[Entry], Histories]:
    """A folder restore's listing and its entries' version lists, from one read of each row: what
    `listing.children_at` with `damaged` lists (the version in force of each child, checked against its seal;
    a row that fails it handed to `damaged` and left out), and for each entry its history as `read` finds it.
    The listing read every row of the folder whole and checked it, then `read` read and checked the same
    rows again (bench/README.md, "Fifth pass: the tree"). With `owns` (kind, mtime, size of the version in
    force), only the folders and the entries it owns: the others, and their checks, are another process's
    (core/restore/shares.py)."""
    conn = db.connection()
    live_held(conn, parent_id, damaged)
    files: dict[int, tuple[bytes, object, object]] = {}
    versions: dict[int, list[Link]] = {}
    inodes: dict[int, tuple[int, int]] = {}
    for fid, path, head, file_seal, inode, ctime_ns, *values in conn.execute(_CHILDREN, (parent_id, parent_id,
                                                                                          snapshot_id)):
        if fid not in files:
            files[fid] = (bytes(path), head, file_seal)
            versions[fid] = []
        link = Link._make(values)
        versions[fid].append(link)
        inodes[link.id] = (inode, ctime_ns)
    entries: list[Entry] = []
    found: dict[bytes, list[Link] | Exception] = {}
    for fid, (path, head, file_seal) in files.items():
        listed = versions[fid]
        listed.sort(key=_in_order)
        at = _in_force(listed, snapshot_id)
        if at is None or (owns is not None and not owns(at.kind, at.mtime_ns, at.size)):
            continue
        history = _history(path, head, file_seal, listed)
        # a history that holds has had every seal checked, the in-force row's among them; else that row alone
        if isinstance(history, Exception) and at.seal != at.expected_seal(path):
            damaged(path)
            continue
        if at.state == "deleted":
            continue
        entries.append(Entry(path, at.kind, at.size, at.mode, at.mtime_ns, at.snapshot_id,  # type: ignore[arg-type]
                             at.snapshot_id == snapshot_id, at.link_target, at.state))  # type: ignore[arg-type]
        found[path] = history
    entries.sort(key=_by_path)
    return entries, Histories(found, inodes)


def _history(path: bytes, head: object, file_seal: object, listed: list[Link]) -> list[Link] | Exception:
    """The file's versions once `read`'s checks hold (`verified`: every seal and link), else what failed."""
    try:
        check_record(path, head, file_seal)
        assert isinstance(head, int)  # check_record refuses any other
        return verified(path, head, listed)
    except (CorruptData, *IMPOSSIBLE_VALUES) as err:
        return err


def _in_order(link: Link) -> tuple[object, object]:
    return link.snapshot_id, link.id  # as `read` orders them (ORDER BY snapshot_id, id)


def _by_path(entry: Entry) -> bytes:
    return entry.path


def _in_force(listed: list[Link], snapshot_id: int) -> Link | None:
    """The version in force at the snapshot: the newest at or before it (ties by id, as the listing's
    LATEST_AT), None when there is none."""
    at = None
    for link in listed:
        if link.snapshot_id <= snapshot_id:
            at = link
    return at


def extents(db: SqliteDatabase, version_ids: Sequence[int],
            places: dict[bytes, ChunkLocation] | None = None) -> dict[int, list[StoredExtent]]:
    """The extents of these versions, by version id (each still to be checked against its version's seal).
    With `places`, the place of each extent's chunk is put there by its digest, read along the same rows (what
    `queries.chunk_locations` finds by digest: the chunk row is the one the extent names, and the pack's by its
    id; a lookup of each digest through the digest index cost a folder restore more than the extents did)."""
    by_version: dict[int, list[StoredExtent]] = {}
    for batch in batches(list(dict.fromkeys(version_ids))):
        if places is None:
            for row in db.execute_sql(_EXTENTS.format("", "", _marks(batch)), batch):
                by_version.setdefault(row[0], []).append(tuple(row))
            continue
        for vid, offset, length, digest, skip, *where in db.execute_sql(
                _EXTENTS.format(PLACE_COLUMNS, PLACE_JOIN, _marks(batch)), batch):
            by_version.setdefault(vid, []).append((vid, offset, length, digest, skip))
            if where[0] is not None:
                places[digest] = ChunkLocation(*where)
    return by_version


def extents_statement(version_ids: Sequence[int], places: bool = False) -> str:
    """The statement of `extents` for these ids, unbatched; with `places`, each row followed by its chunk's
    place (NULLs where the chunk's pack is not known: the extent is read all the same)."""
    if places:
        return _EXTENTS.format(PLACE_COLUMNS, PLACE_JOIN, _marks(version_ids))
    return _EXTENTS.format("", "", _marks(version_ids))


_EXTENTS = ("SELECT e.version_id, e.offset, e.length, c.digest, e.skip{} FROM extent e "
            "JOIN chunk c ON c.id = e.chunk_id{} WHERE e.version_id IN ({})")
# an extent's chunk place (a ChunkLocation) after it; a chunk whose pack is not known keeps its extent, with no
# place, so the same extents are read with places or without
PLACE_COLUMNS = ", " + LOCATION_COLUMNS
PLACE_JOIN = " LEFT JOIN pack p ON p.id = c.pack_id"


def _marks(batch: Sequence[object]) -> str:
    return ",".join("?" * len(batch))
