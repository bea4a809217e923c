"""What a scan compares of a version, packed in one column with a seal of its own (schema 10), so a folder's
stored children come back as six values a row instead of twenty-four, each checked with one hash.

A metadata scan asks one question of most rows: is the file (or folder) on the disk still the one stored, by
(size, mtime, inode, ctime, mode, kind)? Reading the whole row for it made SQLite turn 24 columns into Python values and
rebuilt the version seal from 16 of them, for every file of every folder (bench/README.md, "The scan, third
pass"). So the writer packs those values into `version.scan` and seals the record with the row's version seal
and path (`version.scan_seal`), as the listing's record does (core/index/shown.py). A record that holds tells
exactly what its writer sealed: the scan trusts it for an unchanged file, and reads the whole row, checked
against its version seal, for every child that changed or is gone. Binding the version seal means a write that
changes what the row means leaves the old record unable to pass. A row without a record (written before
schema 10), or whose record does not hold, is read whole and checked against its version seal, as before: a
damaged row still stops the backup (IndexDamaged), and a record damaged alone costs only its speed. `check`
holds every record to what its writer makes of the row's columns (core/index/chain.py).
"""

from __future__ import annotations

from typing import Any

import blake3
from peewee import SqliteDatabase

from timekeep.core.index import queries
from timekeep.core.index.batches import batches
from timekeep.core.index.listing import live_held
from timekeep.core.index.records import FILE, FOLDER, GONE, LINK, pack
from timekeep.core.index.seal import IMPOSSIBLE, SEAL_BYTES

SCAN_KEY = b"timekeep scan seal 1\0"
_WHAT = {"file": FILE, "dir": FOLDER, "symlink": LINK}
_blake3 = blake3.blake3

# the newest version of each live child: its path, id, racy flag (never sealed, as before), record, seals
ROWS = ("SELECT f.path, v.id, v.racy, v.scan, v.scan_seal, v.seal FROM file f JOIN version v ON v.id = "
        "(SELECT max(v2.id) FROM version v2 WHERE v2.file_id = f.id) WHERE f.parent_id = ? AND f.live = 1")

# one stored child as a scan holds it: (record, racy, version id, its whole row when read, else None)
Stored = tuple[bytes | None, Any, int, tuple[Any, ...] | None]


def record(kind: str, state: str, size: int, mode: int, mtime_ns: int, inode: int, ctime_ns: int) -> bytes | None:
    """The packed record of what a scan compares (a folder's mode too, which its comparison includes); None when
    a value does not fit one."""
    what = GONE if state == "deleted" else _WHAT.get(kind)
    if what is None:
        return None
    try:
        return pack(size, mtime_ns, inode, ctime_ns, mode, what)
    except IMPOSSIBLE:
        return None


def scan_seal(scan: bytes, path: bytes, version_seal: bytes) -> bytes:
    """The seal of a record, bound to the row's version seal and path (`latest` repeats this inline)."""
    return _blake3(b"".join((SCAN_KEY, scan, version_seal, path))).digest(SEAL_BYTES)


def made(path: bytes, kind: str, state: str, size: int, mode: int, mtime_ns: int, inode: int, ctime_ns: int,
         version_seal: bytes | None) -> tuple[bytes | None, bytes | None]:
    """(record, its seal) for the writer to store beside the version seal; (None, None) when it has none."""
    scan = record(kind, state, size, mode, mtime_ns, inode, ctime_ns)
    if scan is None or not isinstance(version_seal, bytes):
        return None, None
    return scan, scan_seal(scan, path, version_seal)


def latest(db: SqliteDatabase, parent_id: int) -> dict[bytes, Stored]:
    """Each live child's newest version as a scan compares it, keyed by path. A row whose record holds costs
    six values and one hash; any other is read whole, checked against its version seal (IndexDamaged when it
    fails: a backup never records a change a damaged index made up), and its record made from what it holds."""
    rows = db.execute_sql(ROWS, (parent_id,)).fetchall()  # read whole: see queries.latest_children
    live_held(db.connection(), parent_id)
    return _stored(db, rows)


def latest_named(db: SqliteDatabase, parent_id: int, paths: list[bytes]) -> dict[bytes, Stored]:
    """`latest` of these children only (those that are live): the caller checks the folder's live set."""
    rows: list[tuple[Any, ...]] = []
    for batch in batches(paths):
        rows += db.execute_sql(f"{ROWS} AND f.path IN ({','.join('?' * len(batch))})", (parent_id, *batch)).fetchall()
    return _stored(db, rows)


def _stored(db: SqliteDatabase, rows: list[tuple[Any, ...]]) -> dict[bytes, Stored]:
    """The rows of `ROWS` as a scan holds them."""
    found: dict[bytes, Stored] = {}
    unsure: list[int] = []
    key, join, size = SCAN_KEY, b"".join, SEAL_BYTES
    for path, vid, racy, scan, sealed, version_seal in rows:
        try:
            holds = sealed == _blake3(join((key, scan, version_seal, path))).digest(size)
        except IMPOSSIBLE:  # no record (an older row), or a value of a type it can never have
            holds = False
        if holds:
            found[path] = (scan, racy, vid, None)
        else:
            unsure.append(vid)
    for path, row in queries.rows_by_id(db, unsure).items():
        v = queries.row_version(row)
        found[path] = (record(v.kind, v.state, v.size, v.mode, v.mtime_ns, v.inode, v.ctime_ns), v.racy, v.id, row)
    return found


def version(db: SqliteDatabase, stored: Stored) -> queries.VersionRow:
    """The whole version of a stored child, checked against its seal: for a child that changed or is gone."""
    row = stored[3]
    if row is None:
        row = next(iter(queries.rows_by_id(db, [stored[2]]).values()))
    return queries.row_version(row)


def versions(db: SqliteDatabase, left: dict[bytes, Stored]) -> dict[bytes, queries.VersionRow]:
    """The whole versions of the stored children a scan did not meet on the disk (deletions recorded already
    left out by their record), read in one batch and each checked against its seal."""
    rows = {path: stored[3] for path, stored in left.items() if stored[0] is None or stored[0][-1] != GONE}
    unread = [left[path][2] for path, row in rows.items() if row is None]
    rows.update(queries.rows_by_id(db, unread))
    return {path: queries.row_version(row) for path, row in rows.items() if row is not None}
