"""Many files' sealed version lists and their extents, read in a few statements rather than a few per file.

A folder restore plans its files a batch at a time (core/restore/folder_plans.py): one statement for the
batch's file rows, one for their versions, one per few hundred versions for the extents. Each file is
checked exactly as `chain.history` checks it, on its own: a file whose rows fail their seals gets its own
CorruptData, and its neighbours in the batch are planned as if it were not there.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from typing import NamedTuple, TypeVar

from peewee import SqliteDatabase

from timekeep.core.errors import CorruptData
from timekeep.core.index.chain import LINK_COLUMNS, Link, check_record, verified
from timekeep.core.index.queries import ChunkLocation

# what stored values of the wrong type raise where they are compared or packed (as chain.history lets them)
IMPOSSIBLE_VALUES = (ValueError, OverflowError, TypeError, struct.error)
SQL_BATCH = 500  # values bound in one statement: under SQLite's oldest limit (999)
StoredExtent = tuple[int, int, int, bytes, int]  # version id, offset, length, chunk digest, skip
T = TypeVar("T")


class Histories(NamedTuple):
    """What `read` found: each path's verified versions (oldest first) or why they cannot be used (CorruptData,
    or the error values of an impossible type raised; a path the index never heard of is absent), and each
    version's inode and ctime (a hard link's key, not sealed)."""

    found: dict[bytes, list[Link] | Exception]
    inodes: dict[int, tuple[int, int]]


def read(db: SqliteDatabase, paths: Sequence[bytes]) -> Histories:
    """The version lists of `paths`, each checked as `chain.history` checks one."""
    files: dict[int, tuple[bytes, object, object]] = {}
    for batch in _batches(list(paths)):
        for fid, path, head, file_seal in db.execute_sql(
                f"SELECT id, path, head, seal FROM file WHERE path IN ({_marks(batch)})", batch):
            files.setdefault(fid, (bytes(path), head, file_seal))
    versions: dict[int, list[Link]] = {fid: [] for fid in files}
    inodes: dict[int, tuple[int, int]] = {}
    for ids in _batches(list(files)):
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


def extents(db: SqliteDatabase, version_ids: Sequence[int],
            places: dict[bytes, ChunkLocation] | None = None) -> dict[int, list[StoredExtent]]:
    """The extents of these versions, by version id (each still to be checked against its version's seal).
    With `places`, the place of each extent's chunk is put there by its digest, read along the same rows (what
    `queries.chunk_locations` finds by digest: the chunk row is the one the extent names, and the pack's by its
    id; a lookup of each digest through the digest index cost a folder restore more than the extents did)."""
    by_version: dict[int, list[StoredExtent]] = {}
    for batch in _batches(list(dict.fromkeys(version_ids))):
        if places is None:
            for row in db.execute_sql(_EXTENTS.format("", "", _marks(batch)), batch):
                by_version.setdefault(row[0], []).append(tuple(row))
            continue
        for vid, offset, length, digest, skip, *where in db.execute_sql(
                _EXTENTS.format(_PLACE, _PACK, _marks(batch)), batch):
            by_version.setdefault(vid, []).append((vid, offset, length, digest, skip))
            places[digest] = ChunkLocation(*where)
    return by_version


_EXTENTS = ("SELECT e.version_id, e.offset, e.length, c.digest, e.skip{} FROM extent e "
            "JOIN chunk c ON c.id = e.chunk_id{} WHERE e.version_id IN ({})")
_PLACE = ", p.name, c.offset, c.length, c.inner, c.raw_length, p.state"
_PACK = " JOIN pack p ON p.id = c.pack_id"


def _marks(batch: Sequence[object]) -> str:
    return ",".join("?" * len(batch))


def _batches(items: list[T]) -> Iterator[list[T]]:
    for start in range(0, len(items), SQL_BATCH):
        yield items[start : start + SQL_BATCH]
