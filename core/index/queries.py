"""The index's read queries: the tree at a snapshot, a file's versions and chains, chunk locations.

Raw SQL through peewee's connection: these run per slider move and per file in a backup, so they avoid
building model objects. Only complete snapshots are ever visible to a reader.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, NamedTuple

from peewee import SqliteDatabase

# the folder at T lives in listing.py; the names other modules import from here stay here
from timekeep.core.index.batches import batches
from timekeep.core.index.listing import LATEST_AT as LATEST_AT
from timekeep.core.index.listing import children_at as children_at
from timekeep.core.index.listing import damaged_at as damaged_at
from timekeep.core.index.listing import live_held
from timekeep.core.index.seal import version_holds
from timekeep.core.types import Entry, SnapshotInfo, VersionInfo

SNAPSHOT_COLUMNS = (
    "id, time_ns, trigger, files_scanned, files_read, files_changed, bytes_read, bytes_new, errors, duration_s"
)
VERSION_COLUMNS = (
    "v.id, v.file_id, v.snapshot_id, v.state, v.kind, v.size, v.mode, v.mtime_ns, v.inode, v.ctime_ns, "
    "v.full, v.depth, v.chain_rows, v.content_id, v.link_target, v.racy, v.digest, v.prev, v.uid, v.gid, "
    "v.xattrs, v.xhash, v.seal"
)


class VersionRow(NamedTuple):
    """One stored version as the engine needs it (not exposed beyond core). A named tuple: a scan
    builds one per file it compares, and a frozen dataclass costs five times as much to make."""

    id: int
    file_id: int
    snapshot_id: int
    state: str
    kind: str
    size: int
    mode: int
    mtime_ns: int
    inode: int
    ctime_ns: int
    full: int
    depth: int
    chain_rows: int
    content_id: bytes | None
    link_target: bytes | None
    racy: int
    digest: bytes | None  # BLAKE3-256 of the whole content, where recorded (schema 4)
    prev: int  # the snapshot of the file's previous version, 0 for its first
    uid: int | None
    gid: int | None
    xattrs: bytes | None
    xhash: bytes | None
    seal: bytes | None

    def sealed(self, path: bytes) -> bool:
        """Whether the row is what was written for `path` (see core/index/seal.py)."""
        return version_holds(self.seal, path, self.snapshot_id, self.prev, self.state, self.kind, self.size,
                             self.mode, self.mtime_ns, self.uid, self.gid, self.full, self.digest, self.link_target,
                             self.xattrs, self.xhash)


# (seal, path, then what version_holds takes) picked out of a (path, *VERSION_COLUMNS) row in one call
_SEALED_VALUES = itemgetter(1 + VersionRow._fields.index("seal"), 0, *(1 + VersionRow._fields.index(name) for name in (
    "snapshot_id", "prev", "state", "kind", "size", "mode", "mtime_ns", "uid", "gid", "full", "digest", "link_target",
    "xattrs", "xhash")))


# a ChunkLocation's values, in its order, from a chunk row `c` and its pack `p`
LOCATION_COLUMNS = "p.name, c.offset, c.length, c.inner, c.raw_length, p.state"


@dataclass(frozen=True)
class ChunkLocation:
    """Where a chunk's bytes are: a slice of the frame at `offset` in `pack`, once decompressed."""

    pack: str
    offset: int
    length: int
    inner: int
    raw_length: int
    state: str = "ok"  # of its pack: 'missing' or 'damaged' once the drive is known to have lost it

    @property
    def frame(self) -> tuple[str, int, int]:
        return self.pack, self.offset, self.length


def _version(row: tuple[Any, ...]) -> VersionRow:
    return VersionRow._make(row)


def snapshots(db: SqliteDatabase) -> list[SnapshotInfo]:
    rows = db.execute_sql(f"SELECT {SNAPSHOT_COLUMNS} FROM snapshot WHERE state = 'complete' ORDER BY id")
    return [SnapshotInfo(*row) for row in rows]


def snapshot(db: SqliteDatabase, snapshot_id: int) -> SnapshotInfo | None:
    row = db.execute_sql(
        f"SELECT {SNAPSHOT_COLUMNS} FROM snapshot WHERE state = 'complete' AND id = ?", (snapshot_id,)
    ).fetchone()
    return SnapshotInfo(*row) if row else None


def snapshot_at_time(db: SqliteDatabase, time_ns: int) -> SnapshotInfo | None:
    row = db.execute_sql(
        f"SELECT {SNAPSHOT_COLUMNS} FROM snapshot WHERE state = 'complete' AND time_ns <= ? "
        "ORDER BY time_ns DESC, id DESC LIMIT 1",
        (time_ns,),
    ).fetchone()
    return SnapshotInfo(*row) if row else None


def file_id(db: SqliteDatabase, path: bytes) -> int | None:
    row = db.execute_sql("SELECT id FROM file WHERE path = ?", (path,)).fetchone()
    return int(row[0]) if row else None


def version_at(db: SqliteDatabase, fid: int, snapshot_id: int) -> VersionRow | None:
    """The version in force at the snapshot (possibly a deletion), or None if never stored by then."""
    row = db.execute_sql(
        f"SELECT {VERSION_COLUMNS} FROM version v WHERE v.file_id = ? AND v.snapshot_id <= ? "
        "ORDER BY v.snapshot_id DESC LIMIT 1",
        (fid, snapshot_id),
    ).fetchone()
    return _version(row) if row else None


ENTRY_COLUMNS = ("f.path, v.kind, v.size, v.mode, v.mtime_ns, v.snapshot_id, v.state, v.link_target, v.prev, "
                 "v.uid, v.gid, v.full, v.digest, v.xattrs, v.xhash, v.seal")


def _entries(rows: Iterable[tuple[Any, ...]], snapshot_id: int,
             damaged: Callable[[bytes], None] | None = None) -> list[Entry]:
    """Entries of the rows that are not deletions, each row checked against its seal first: a listing never
    shows what a damaged index made of a name, a size or a time. A damaged row raises IndexDamaged, or is
    handed to `damaged` and left out (a folder restore goes on with the rest)."""
    entries: list[Entry] = []
    append, holds = entries.append, version_holds
    for path, kind, size, mode, mtime_ns, snap, state, target, prev, uid, gid, full, digest, x, xhash, sealed in rows:
        if not holds(sealed, path, snap, prev, state, kind, size, mode, mtime_ns, uid, gid, full, digest, target, x,
                     xhash):
            if damaged is None:
                raise damaged_at(path)
            damaged(path)
            continue
        if state != "deleted":
            append(Entry(path, kind, size, mode, mtime_ns, snap, snap == snapshot_id, target, state))
    return entries


def roots_at(db: SqliteDatabase, snapshot_id: int) -> list[Entry]:
    rows = db.execute_sql(
        f"SELECT {ENTRY_COLUMNS} FROM file f JOIN version v ON v.id = {LATEST_AT} WHERE f.parent_id IS NULL "
        "ORDER BY f.path", (snapshot_id,)).fetchall()
    return _entries(rows, snapshot_id)


def latest_children(db: SqliteDatabase, parent_id: int) -> dict[bytes, VersionRow]:
    """Each live child's newest version, keyed by path: what a scan compares the disk with. A name whose newest
    version is a deletion is left out (to a scan it is the same as a name never seen), so a folder's dead names
    cost nothing (core/index/live.py). Each row is checked against its seal: a backup never records a change a
    damaged index made up (IndexDamaged)."""
    rows = db.execute_sql(
        f"SELECT f.path, {VERSION_COLUMNS} FROM file f JOIN version v ON v.id = "
        "(SELECT max(v2.id) FROM version v2 WHERE v2.file_id = f.id) WHERE f.parent_id = ? AND f.live = 1",
        (parent_id,),
    ).fetchall()  # read whole: a statement left open by the raise below would pin an old view of the index
    live_held(db.connection(), parent_id)
    return {row[0]: row_version(row) for row in _checked(rows)}


def rows_by_id(db: SqliteDatabase, version_ids: list[int]) -> dict[bytes, tuple[Any, ...]]:
    """These versions as rows, (path, *VERSION_COLUMNS) keyed by path, each checked against its seal
    (IndexDamaged when one fails): the rows a scan's compact records (core/index/scanned.py) did not vouch for,
    and the children that changed."""
    found: dict[bytes, tuple[Any, ...]] = {}
    for batch in batches(version_ids):
        rows = db.execute_sql(f"SELECT f.path, {VERSION_COLUMNS} FROM version v JOIN file f ON f.id = v.file_id "
                              f"WHERE v.id IN ({','.join('?' * len(batch))})", batch).fetchall()
        found.update((row[0], row) for row in _checked(rows))
    return found


# the racy versions by snapshot (schema 12): `racy_files` reads a snapshot's few, not all its versions (after a
# first backup of a million files, about a second for every one of them); rows leave it as they are settled
RACY_INDEX = "CREATE INDEX IF NOT EXISTS version_racy ON version (snapshot_id) WHERE racy = 1"
RACY_OF_SNAPSHOT = "SELECT id FROM version WHERE snapshot_id = ? AND racy = 1 AND kind = 'file' AND state != 'deleted'"


def racy_files(db: SqliteDatabase, snapshot_id: int) -> set[bytes]:
    """The files a snapshot stored racy (touched as they were read: core/capture/read.py), whose unchanged stat
    proves nothing until one is read again. A storage time from the journal reads the last snapshot's again,
    which settles them; otherwise each would wait for the next full scan, as the journal never names a file
    nobody touched since. Each row is checked against its seal, as what a scan reads is."""
    ids = [int(i) for (i,) in db.execute_sql(RACY_OF_SNAPSHOT, (snapshot_id,))]
    return set(rows_by_id(db, ids))


def _checked(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """(path, *VERSION_COLUMNS) rows as read, each checked against its seal before anything is made of it."""
    holds, sealed_values = version_holds, _SEALED_VALUES
    for row in rows:
        if not holds(*sealed_values(row)):
            raise damaged_at(row[0])
    return rows


def row_version(row: tuple[Any, ...]) -> VersionRow:
    """The VersionRow of a (path, *VERSION_COLUMNS) row."""
    return VersionRow._make(row[1:])


def latest_version(db: SqliteDatabase, fid: int) -> VersionRow | None:
    row = db.execute_sql(
        f"SELECT {VERSION_COLUMNS} FROM version v WHERE v.file_id = ? ORDER BY v.id DESC LIMIT 1", (fid,)
    ).fetchone()
    return _version(row) if row else None


def versions_of(db: SqliteDatabase, fid: int) -> list[VersionInfo]:
    """Every version of a file, oldest first, going back past renames a watcher saw: before
    its latest version that arrived by a rename come the versions its origin had until then (and so on
    back), not whatever this path held in an earlier, unrelated life. A version that arrived by a rename
    names the path it came from (`origin`)."""
    parts: list[list[VersionInfo]] = []
    before: int | None = None
    while True:
        rows = list(db.execute_sql(
            "SELECT v.snapshot_id, s.time_ns, v.state, v.kind, v.size, v.mode, v.mtime_ns, v.content_id, "
            "v.link_target, o.path, v.origin FROM version v JOIN snapshot s ON s.id = v.snapshot_id "
            "LEFT JOIN file o ON o.id = v.origin "
            "WHERE v.file_id = ? AND s.state = 'complete' AND v.snapshot_id < ? ORDER BY v.snapshot_id",
            (fid, 2**63 - 1 if before is None else before)))
        arrived = max((i for i, row in enumerate(rows) if row[-1] is not None), default=None)
        parts.append([VersionInfo(*row[:-1]) for row in rows[arrived or 0:]])
        if arrived is None:  # each step looks strictly earlier, so a file renamed back and forth ends too
            return [v for part in reversed(parts) for v in part]
        fid, before = rows[arrived][-1], rows[arrived][0]


def chain_extents(db: SqliteDatabase, version: VersionRow) -> list[tuple[int, int, int, bytes, int]]:
    """(version id, offset, length, digest, skip) of every extent from the last full version up to `version`."""
    rows = db.execute_sql(
        "SELECT e.version_id, e.offset, e.length, c.digest, e.skip FROM extent e "
        "JOIN chunk c ON c.id = e.chunk_id JOIN version v ON v.id = e.version_id "
        "WHERE v.file_id = ? AND v.id <= ? AND v.id >= "
        "(SELECT max(id) FROM version WHERE file_id = ? AND id <= ? AND full = 1)",
        (version.file_id, version.id, version.file_id, version.id),
    )
    return list(rows)


def holds_chunks(db: SqliteDatabase) -> bool:
    """Whether the index knows any chunk at all: a first backup's store then skips every lookup."""
    return db.connection().execute("SELECT 1 FROM chunk LIMIT 1").fetchone() is not None


def known_digests(db: SqliteDatabase, digests: Iterable[bytes]) -> set[bytes]:
    """Which of these digests the index holds in a pack the drive still has (a chunk of a lost pack is stored
    again, which heals every version that needed it); asked once per block of every file read, so it goes
    straight to this thread's connection."""
    conn = db.connection()
    found: set[bytes] = set()
    for batch in batches(list(digests)):
        marks = ",".join("?" * len(batch))
        found.update(row[0] for row in conn.execute(
            f"SELECT digest FROM chunk WHERE digest IN ({marks}) AND pack_id IS NOT NULL "
            # correlated: one look at each found chunk's pack, where `NOT IN (SELECT ...)` read the whole pack
            # table on every call (0.1 ms at a few thousand packs, once per small file a backup reads)
            "AND NOT EXISTS (SELECT 1 FROM pack p WHERE p.id = chunk.pack_id AND p.state != 'ok')", batch))
    return found


def chunk_places(db: SqliteDatabase, digests: list[bytes]) -> list[tuple[Any, ...]]:
    """(digest, pack name, pack size, offset, length, inner, raw length) of each of these chunks the index has."""
    found: list[tuple[Any, ...]] = []
    for batch in batches(digests):
        marks = ",".join("?" * len(batch))
        found.extend(tuple(row) for row in db.execute_sql(
            "SELECT c.digest, p.name, p.size, c.offset, c.length, c.inner, c.raw_length FROM chunk c "
            f"JOIN pack p ON p.id = c.pack_id WHERE c.digest IN ({marks})", batch))
    return found


def chunk_locations_of_versions(db: SqliteDatabase, version_ids: list[int]) -> dict[bytes, ChunkLocation]:
    """`chunk_locations` of every chunk these versions' extents use: read along the extents, in the order the
    chunks were stored, which for a big file is several times quicker than looking each digest up."""
    found: dict[bytes, ChunkLocation] = {}
    for batch in batches(version_ids):
        rows = db.execute_sql(
            f"SELECT c.digest, {LOCATION_COLUMNS} FROM extent e "
            f"JOIN chunk c ON c.id = e.chunk_id JOIN pack p ON p.id = c.pack_id WHERE e.version_id IN "
            f"({','.join('?' * len(batch))})", batch)
        found.update((row[0], ChunkLocation(*row[1:])) for row in rows)
    return found


def chunk_locations(db: SqliteDatabase, digests: Iterable[bytes]) -> dict[bytes, ChunkLocation]:
    found: dict[bytes, ChunkLocation] = {}
    for batch in batches(list(set(digests))):
        marks = ",".join("?" * len(batch))
        rows = db.execute_sql(
            f"SELECT c.digest, {LOCATION_COLUMNS} FROM chunk c "
            f"JOIN pack p ON p.id = c.pack_id WHERE c.digest IN ({marks})",
            batch,
        )
        found.update((row[0], ChunkLocation(*row[1:])) for row in rows)
    return found
