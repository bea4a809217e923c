"""A file's stored versions as one sealed list: checked before any version is built from it, and sealed
again after thinning has moved or merged versions (see core/index/seal.py and FORMAT.md, "Seals").

In the index, each version's `prev` is the snapshot of the version before it, and the file's `head` is
the snapshot of its newest; both are under seals. So the list a reader loads must run unbroken from
`head` back to a first version with `prev` 0: a row that moved to another file or snapshot, a row that
vanished, or an extent that changed, breaks a seal or the list, and the version is refused.
"""

from __future__ import annotations

import os
import sqlite3
import struct
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from peewee import DatabaseError, SqliteDatabase

from timekeep.core.errors import CorruptData
from timekeep.core.index import live, scanned, seal, shown

LINK_COLUMNS = ("id, snapshot_id, prev, state, kind, size, mode, mtime_ns, uid, gid, full, digest, link_target, "
                "xattrs, xhash, seal")


class Link(NamedTuple):
    """One version row with everything its seal covers."""

    id: int
    snapshot_id: int
    prev: int
    state: str
    kind: str
    size: int
    mode: int
    mtime_ns: int
    uid: int | None
    gid: int | None
    full: int
    digest: bytes | None
    link_target: bytes | None
    xattrs: bytes | None
    xhash: bytes | None
    seal: bytes | None

    def expected_seal(self, path: bytes) -> bytes:
        """The seal its values call for; b"" for values of a type they can never have (a damaged index)."""
        try:
            return seal.version_seal(path, self.snapshot_id, self.prev, self.state, self.kind, self.size, self.mode,
                                     self.mtime_ns, self.uid, self.gid, bool(self.full), self.digest,
                                     self.link_target, self.xattrs, self.xhash)
        except (struct.error, TypeError, ValueError, OverflowError, AttributeError):
            return b""


def damaged(path: bytes, what: str) -> CorruptData:
    return CorruptData(f"the index is damaged at {os.fsdecode(path)} ({what}); nothing was restored from it. "
                       "Run `timekeep rebuild-index` to rebuild it from the drive")


def links(db: SqliteDatabase, fid: int) -> list[Link]:
    rows = db.execute_sql(f"SELECT {LINK_COLUMNS} FROM version WHERE file_id = ? ORDER BY snapshot_id, id", (fid,))
    return [Link._make(row) for row in rows]


def history(db: SqliteDatabase, path: bytes) -> list[Link] | None:
    """Every version of `path`, oldest first, after checking every seal and the list's links; None if the
    index has never heard of the path. CorruptData if anything in it is not what was written."""
    row = db.execute_sql("SELECT id, head, seal FROM file WHERE path = ?", (path,)).fetchone()
    if row is None:
        return None
    fid, head, file_seal = row
    check_record(path, head, file_seal)
    return verified(path, head, links(db, fid))


def history_of(db: SqliteDatabase, fid: int) -> tuple[bytes, list[Link]]:
    """The path of file row `fid` and every version of it, checked as `history` checks them, but found by the
    row rather than by its path: a path damaged in the row itself is then caught by its seal, where a lookup by
    path (through the path index, which still holds the path as written) would find nothing to check."""
    row = db.execute_sql("SELECT path, head, seal FROM file WHERE id = ?", (fid,)).fetchone()
    if row is None:
        raise CorruptData(f"the index lost the record of file {fid} while it was read")
    path, head, file_seal = row
    path = bytes(path) if isinstance(path, (bytes, memoryview)) else str(path).encode()
    check_record(path, head, file_seal)
    return path, verified(path, head, links(db, fid))


def check_record(path: bytes, head: object, file_seal: object) -> None:
    """A file row's own seal, over its path and `head`: CorruptData naming `path` unless it matches."""
    if not isinstance(head, int) or file_seal != seal.file_seal(path, head):
        raise damaged(path, "its file record")


def verified(path: bytes, head: int, found: list[Link]) -> list[Link]:
    """`found` (a file's versions, oldest first) once every seal and link in it is checked: CorruptData else.
    The file record's own seal (over `head`) is the caller's to check first."""
    before = 0
    for link in found:
        if link.prev != before or link.snapshot_id <= before:
            raise damaged(path, f"its version at snapshot {link.snapshot_id} is out of place")
        if link.seal != link.expected_seal(path):
            raise damaged(path, f"its version at snapshot {link.snapshot_id}")
        before = link.snapshot_id
    if before != head:
        raise damaged(path, "its newest version is missing")
    return found


def damaged_histories(db: SqliteDatabase) -> Iterator[CorruptData]:
    """What `history` finds wrong, for every file that has had a version, read in one pass over the index
    rather than two queries per file (`check`)."""
    files = db.execute_sql("SELECT id, path, head, seal, live FROM file WHERE head != 0 OR live != 0 ORDER BY id")
    # only rows whose file_id is a number can belong to a file (`history` asks by number), and only numbers
    # compare with one another below
    rows = db.execute_sql(f"SELECT file_id, {LINK_COLUMNS}, inode, ctime_ns, scan, scan_seal, shown, shown_seal "
                          "FROM version WHERE typeof(file_id) = 'integer' ORDER BY file_id, snapshot_id, id")
    pending = next(rows, None)
    for fid, path, head, file_seal, alive in files:
        found: list[Link] = []
        records: list[tuple[object, object]] = []
        scans: list[tuple[Any, ...]] = []
        while pending is not None and pending[0] < fid:  # versions of a file that has none by its head
            pending = next(rows, None)
        while pending is not None and pending[0] == fid:
            found.append(Link._make(pending[1:-6]))
            scans.append(pending[-6:-2])
            records.append(pending[-2:])
            pending = next(rows, None)
        path = bytes(path)
        try:
            check_record(path, head, file_seal)
            verified(path, head, found)
            check_live(path, alive, found)
            check_shown(path, found, records)
            check_scan(path, found, scans)
        except CorruptData as err:
            yield err


def check_shown(path: bytes, found: list[Link], records: list[tuple[object, object]]) -> None:
    """Each verified version's listing record (schema 9, core/index/shown.py) against what its writer makes of
    the version's columns. A listing shows a record whose seal holds as it stands, so one that holds yet tells
    another size, time or state (a writer's mistake, or a forged pair) would be shown unchallenged; a record
    that does not hold is read past by a listing (the whole row is checked instead), and is damage all the
    same. A version without a record (written before schema 9) is normal."""
    for link, (record, record_seal) in zip(found, records, strict=True):
        if (record is None and record_seal is None) or link.seal is None:  # no record; a seal the caller checked
            continue
        made = shown.made(path, link.snapshot_id, link.kind, link.size, link.mode, link.mtime_ns, link.state,
                          link.link_target, link.seal)
        if made != (record, record_seal):
            raise damaged(path, f"what a listing shows of its version in snapshot {link.snapshot_id}")


def check_scan(path: bytes, found: list[Link], scans: list[tuple[Any, ...]]) -> None:
    """Each verified version's scan record (schema 10, core/index/scanned.py) against what its writer makes of
    the version's columns: a scan trusts a record whose seal holds, so one that holds yet tells another size,
    time or inode would let a changed file pass unread. A version without a record is normal."""
    for link, (inode, ctime_ns, scan, scan_seal) in zip(found, scans, strict=True):
        if (scan is None and scan_seal is None) or link.seal is None:
            continue
        made = scanned.made(path, link.kind, link.state, link.size, link.mode, link.mtime_ns, inode, ctime_ns,
                            link.seal)
        if made != (scan, scan_seal):
            raise damaged(path, f"what a scan compares of its version in snapshot {link.snapshot_id}")


def check_live(path: bytes, live: object, found: list[Link]) -> None:
    """The file row's `live` flag (core/index/live.py) against its verified newest version: a wrong flag would
    hide a name from scans and listings, or show a deleted one."""
    if live != int(bool(found) and found[-1].state != "deleted"):
        raise damaged(path, "whether it exists now")


def chain_of(found: list[Link], at: int) -> list[Link]:
    """The versions a file version is built from: back from `found[at]` to the last full one."""
    start = at
    while not found[start].full:
        if start == 0 or found[start].kind != "file":
            raise CorruptData("a stored version has no full version to build from")
        start -= 1
    return found[start : at + 1]


def check_extents(path: bytes, chain: Iterable[Link], extents: list[tuple[int, int, int, bytes, int]]) -> None:
    """Each chain version's extents must hash to the `xhash` its seal covers."""
    mine: dict[int, list[seal.ExtentKey]] = {}
    for vid, offset, length, digest, skip in extents:
        mine.setdefault(vid, []).append((offset, length, digest, skip))
    for link in chain:
        if seal.extents_hash(mine.get(link.id, [])) != link.xhash:
            raise damaged(path, f"the pieces of its version at snapshot {link.snapshot_id}")


def reseal_file(db: SqliteDatabase, fid: int, flag: bool = True) -> None:
    """Give every version of the file its `prev` and seal again, and the file its `head` (and `live` and its
    head version, and each version its listing record, unless `flag` is False: the upgrade to schema 4, which
    has none of those columns yet): after thinning moved or merged versions (whose rows were checked before),
    and when an index is upgraded."""
    (path,) = db.execute_sql("SELECT path FROM file WHERE id = ?", (fid,)).fetchone()
    before, newest = 0, None
    for link in links(db, fid):
        xhash = seal.extents_hash(extents_of(db, link.id))
        moved = link._replace(prev=before, xhash=xhash)
        sealed = moved.expected_seal(path)
        db.execute_sql("UPDATE version SET prev = ?, xhash = ?, seal = ? WHERE id = ?",
                       (before, xhash, sealed, link.id))
        if flag:  # its record of what a listing shows, bound to the new seal (schema 9, core/index/shown.py)
            db.execute_sql("UPDATE version SET shown = ?, shown_seal = ? WHERE id = ?",
                           (*shown.made(path, link.snapshot_id, link.kind, link.size, link.mode, link.mtime_ns,
                                        link.state, link.link_target, sealed), link.id))
            reseal_scan(db, path, link, sealed)
        before, newest = link.snapshot_id, link.id
    if not flag:
        db.execute_sql("UPDATE file SET head = ?, seal = ? WHERE id = ?", (before, seal.file_seal(path, before), fid))
        return
    db.execute_sql("UPDATE file SET head = ?, seal = ?, head_version = ? WHERE id = ?",
                   (before, seal.file_seal(path, before), newest, fid))
    live.refresh(db, fid)


def reseal_scan(db: SqliteDatabase, path: bytes, link: Link, sealed: bytes) -> None:
    """The version's scan record, bound to its new seal (schema 10, core/index/scanned.py)."""
    inode, ctime_ns = db.execute_sql("SELECT inode, ctime_ns FROM version WHERE id = ?", (link.id,)).fetchone()
    db.execute_sql("UPDATE version SET scan = ?, scan_seal = ? WHERE id = ?",
                   (*scanned.made(path, link.kind, link.state, link.size, link.mode, link.mtime_ns, inode, ctime_ns,
                                  sealed), link.id))


def set_head(db: SqliteDatabase, fid: int) -> None:
    """Point the file at its newest remaining version, sealed (its versions' own seals are unchanged)."""
    path, head = db.execute_sql(
        "SELECT path, coalesce((SELECT max(snapshot_id) FROM version WHERE file_id = ?), 0) FROM file WHERE id = ?",
        (fid, fid)).fetchone()
    db.execute_sql("UPDATE file SET head = ?, seal = ?, head_version = (SELECT id FROM version WHERE file_id = ? "
                   "AND snapshot_id = ?) WHERE id = ?", (head, seal.file_seal(path, head), fid, head, fid))
    live.refresh(db, fid)


def extents_of(db: SqliteDatabase, version_id: int) -> list[seal.ExtentKey]:
    return [(o, n, d, k) for o, n, d, k in db.execute_sql(
        "SELECT e.offset, e.length, c.digest, e.skip FROM extent e JOIN chunk c ON c.id = e.chunk_id "
        "WHERE e.version_id = ?", (version_id,))]


def snapshot_intact(db: SqliteDatabase, snapshot_id: int) -> bool:
    """Whether every version row of the snapshot matches its seal and its extents (an old index is trusted
    to write a lost manifest again only then)."""
    try:
        rows = list(db.execute_sql(
            f"SELECT f.path, {', '.join('v.' + c for c in LINK_COLUMNS.split(', '))} FROM version v "
            "JOIN file f ON f.id = v.file_id WHERE v.snapshot_id = ?", (snapshot_id,)))
        complete = db.execute_sql("SELECT 1 FROM snapshot WHERE id = ? AND state = 'complete'",
                                  (snapshot_id,)).fetchone()
    except (DatabaseError, sqlite3.DatabaseError):  # a damaged old index is then simply not used
        return False
    if complete is None:
        return False
    for path, *values in rows:
        link = Link._make(values)
        if link.seal != link.expected_seal(path) or seal.extents_hash(extents_of(db, link.id)) != link.xhash:
            return False
    return True
