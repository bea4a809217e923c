"""A folder as it stood at a snapshot: the timeline's main query, each row checked against its seal once.

A listing never shows what a damaged index made of a name, a size or a time, so every version row it reads is
checked against its seal (core/index/seal.py). That check, the row fetch and the record made for each entry
are the whole cost of listing a big folder (bench/README.md, "A folder of 10,000 entries at any T"), so:
- one statement reads the folder (its live names, and the dead ones changed after T: core/index/live.py),
  unordered (sorted here: SQLite's sorter copied every column), and the seal is checked inline, in one pass;
- entries are named tuples;
- `CheckedEntries` remembers, per connection, the entries of the version rows it has already checked, and its
  last few listings, for as long as nothing has written the index since (SQLite's `data_version`, and the
  connection's own changes): a listing at another T (the timeline dragged) then reads only the ids of the
  versions in force, from indexes, and reads and checks only the rows it has not seen; the same folder at the
  same T again reads nothing. What it hands back was checked when read, and the index has not changed since.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from sqlite3 import Connection
from typing import Any

import blake3
from peewee import SqliteDatabase

from timekeep.core.errors import IndexDamaged
from timekeep.core.index import live
from timekeep.core.index.seal import IMPOSSIBLE, NO_VALUE, SEAL_BYTES, VERSION_KEY, pack_ints, pack_len
from timekeep.core.types import Entry

LATEST_AT = (
    "(SELECT v2.id FROM version v2 WHERE v2.file_id = f.id AND v2.snapshot_id <= ? "
    "ORDER BY v2.snapshot_id DESC LIMIT 1)"
)
# the version's id, what an Entry holds, then what its seal covers besides
COLUMNS = ("v.id, f.path, v.kind, v.size, v.mode, v.mtime_ns, v.snapshot_id, v.state, v.link_target, v.prev, "
           "v.uid, v.gid, v.full, v.digest, v.xattrs, v.xhash, v.seal")
# a folder's children that may have existed at a snapshot: those alive now, and those whose newest version
# (a deletion) came after it; a name deleted at or before it is never read (core/index/live.py)
_LIVE = "FROM file f WHERE f.parent_id = ? AND f.live = 1"
_DEAD_LATER = "FROM file f WHERE f.parent_id = ? AND f.live = 0 AND f.head > ?"
ROWS_AT = (f"SELECT {COLUMNS} FROM file f JOIN version v ON v.id = {LATEST_AT} WHERE f.parent_id = ? AND f.live = 1 "
           f"UNION ALL SELECT {COLUMNS} FROM file f JOIN version v ON v.id = {LATEST_AT} WHERE f.parent_id = ? "
           "AND f.live = 0 AND f.head > ?")
# the same folder's versions in force, by id only: two indexes, no table row
IDS_AT = f"SELECT {LATEST_AT} {_LIVE} UNION ALL SELECT {LATEST_AT} {_DEAD_LATER}"
_BY_ID = f"SELECT {COLUMNS} FROM version v JOIN file f ON f.id = v.file_id WHERE v.id IN " + "({})"
_BATCH = 500
_blake3 = blake3.blake3
_make = tuple.__new__
_by_path = itemgetter(0)

Damaged = Callable[[bytes], None]


def damaged_at(path: bytes) -> IndexDamaged:
    return IndexDamaged(f"the index is damaged at {os.fsdecode(path)}: its record is not what was written; "
                        "run `timekeep rebuild-index`, which rebuilds it from the drive")


def checked(rows: Iterable[tuple[Any, ...]], snapshot_id: int, damaged: Damaged | None,
            keep: dict[int, Entry | None]) -> None:
    """Each row (COLUMNS) checked against its seal, its entry at the snapshot kept under its version's id (None
    for a deletion). A damaged row raises IndexDamaged, or is handed to `damaged` and left out. The seal is
    made here as `seal.version_holds` makes it, inline: this loop is most of a big folder's listing
    (tests/test_listing_work.py holds the two to the same decisions)."""
    for vid, path, kind, size, mode, mtime_ns, snap, state, target, prev, uid, gid, full, digest, x, xhash, sealed \
            in rows:
        try:
            holds = sealed == _blake3(b"".join((
                VERSION_KEY,
                pack_ints(snap, prev, size, mode, mtime_ns, -1 if uid is None else uid, -1 if gid is None else gid,
                      1 if full else 0),
                state.encode(), b"\0", kind.encode(), b"\0",
                NO_VALUE if path is None else pack_len(len(path)), b"" if path is None else path,
                NO_VALUE if digest is None else pack_len(len(digest)), b"" if digest is None else digest,
                NO_VALUE if target is None else pack_len(len(target)), b"" if target is None else target,
                NO_VALUE if x is None else pack_len(len(x)), b"" if x is None else x,
                NO_VALUE if xhash is None else pack_len(len(xhash)), b"" if xhash is None else xhash,
            ))).digest(SEAL_BYTES)
        except IMPOSSIBLE:
            holds = False
        if not holds:
            if damaged is None:
                raise damaged_at(path)
            damaged(path)
            continue
        keep[vid] = None if state == "deleted" else _make(Entry, (path, kind, size, mode, mtime_ns, snap,
                                                                  snap == snapshot_id, target, state))


def _in_force(entries: Iterable[Entry | None], snapshot_id: int) -> list[Entry]:
    """The entries shown at the snapshot, by path; those it stored marked `changed` (an entry remembered from
    a listing at another snapshot may say otherwise)."""
    shown = [e if e[6] is (e[5] == snapshot_id) else _make(Entry, (*e[:6], e[5] == snapshot_id, *e[7:]))
             for e in entries if e is not None]
    shown.sort(key=_by_path)
    return shown


def children_at(db: SqliteDatabase, parent_id: int, snapshot_id: int, damaged: Damaged | None = None,
                remembered: CheckedEntries | None = None) -> list[Entry]:
    """The children of a directory as they stood at the snapshot, by path. With `remembered`, rows checked
    before are not read again (see CheckedEntries)."""
    conn = db.connection()
    if remembered is None:
        return _read(conn, parent_id, snapshot_id, damaged, None)
    with _one_view(conn):  # the store's validity and the rows read: one state of the index
        store = remembered.of(conn)
        shown = store.lists.get((parent_id, snapshot_id))
        if shown is None:
            shown = _read(conn, parent_id, snapshot_id, damaged, store.entries)
            if damaged is None:  # whole: a row handed to `damaged` was left out
                store.keep(parent_id, snapshot_id, shown)
        return list(shown)


@contextmanager
def _one_view(conn: Connection) -> Iterator[None]:
    """A read transaction around the block, unless the caller's is open: every statement in it sees the same
    state of the index, the one `data_version` describes."""
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN")
    try:
        conn.execute("SELECT 1 FROM meta LIMIT 1").fetchone()  # opens the read view data_version then speaks of
        yield
    finally:
        conn.execute("COMMIT")


def _read(conn: Connection, parent_id: int, snapshot_id: int, damaged: Damaged | None,
          known: dict[int, Entry | None] | None) -> list[Entry]:
    folder = live.unheld(conn, parent_id)  # a flag flipped to hide a name, or show a dead one
    if folder is not None:
        if damaged is None:
            raise damaged_at(folder)
        damaged(folder)
    if not known:
        found: dict[int, Entry | None] = {}
        checked(conn.execute(ROWS_AT, (snapshot_id, parent_id, snapshot_id, parent_id, snapshot_id)), snapshot_id,
                damaged, found)
        if known is not None:
            known.update(found)
        return _in_force(found.values(), snapshot_id)
    ids = [vid for (vid,) in conn.execute(IDS_AT, (snapshot_id, parent_id, snapshot_id, parent_id, snapshot_id))]
    missing = [vid for vid in ids if vid not in known and vid is not None]  # None: a name born after T
    for start in range(0, len(missing), _BATCH):
        batch = missing[start : start + _BATCH]
        checked(conn.execute(_BY_ID.format(",".join("?" * len(batch))), batch), snapshot_id, damaged, known)
    return _in_force(map(known.get, ids), snapshot_id)


@dataclass
class _Store:
    """One connection's checked entries by version id (None for a deletion), and its last few whole listings."""

    mark: tuple[Connection, int, int]
    entries: dict[int, Entry | None] = field(default_factory=dict)
    lists: dict[tuple[int, int], list[Entry]] = field(default_factory=dict)

    def keep(self, parent_id: int, snapshot_id: int, shown: list[Entry]) -> None:
        if len(self.lists) >= LISTS_KEPT:
            del self.lists[next(iter(self.lists))]
        self.lists[parent_id, snapshot_id] = shown


LISTS_KEPT = 8


class CheckedEntries:
    """The entries of version rows already checked against their seals, and the last few listings made of them,
    per connection (so per thread), for as long as the index has not changed: another connection's commit moves
    SQLite's `data_version`, this one's own writes its `total_changes`, and either empties the store. Bounded:
    past `limit` rows it starts over."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._local = threading.local()

    def of(self, conn: Connection) -> _Store:
        """This connection's store, emptied if the index changed since it was last asked for, or grew too big."""
        (version,) = conn.execute("PRAGMA data_version").fetchone()
        mark = (conn, version, conn.total_changes)
        store: _Store | None = getattr(self._local, "store", None)
        if store is None or store.mark != mark or len(store.entries) > self.limit:
            store = self._local.store = _Store(mark)
        return store
