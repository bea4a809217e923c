"""A folder as it stood at a snapshot: the timeline's main query, each row checked against its seal once.

A listing never shows what a damaged index made of a name, a size or a time, so every version row it reads is
checked against its seal (core/index/seal.py). That check, the row fetch and the record made for each entry
are the whole cost of listing a big folder (bench/README.md, "A folder of 10,000 entries at any T"), so:
- one statement reads the folder (its live names, and the dead ones changed after T: core/index/live.py),
  unordered (sorted here: SQLite's sorter copied every column), and the seal is checked inline, in one pass,
  by one BLAKE3 hasher reset for each row (a new hasher a row cost two thirds more);
- what it reads of each row is the row's record of what a listing shows, sealed with the version seal and
  the path (schema 9, core/index/shown.py): five values a row instead of sixteen, one hash. A row without a
  record, or whose record does not hold, is read whole and checked against its version seal, as every row
  was before (and still is when a folder restore lists, with its `damaged` callback);
- entries are named tuples, kept by row id in two dicts (`Checked`), not under (id, seal) tuples;
- the garbage collector is paused while entries are made (core/collector.py): every one outlives the listing;
- `CheckedEntries` remembers the entries of the version rows already checked, by their ids and seals, for as long as
  no sealed row of the index has changed since (`meta.sealed_rows`, core/index/generation.py): across
  connections and openings of the index in this process, and across backups, which only add rows. A listing
  then reads only each name's version in force and its seal, and reads and checks only the rows it has not
  seen. It also keeps, per connection, its last few listings whole while nothing at all has written the index
  (SQLite's `data_version`, and the connection's own changes): the same folder at the same T again reads
  nothing. What it hands back was checked when read, and its row has not changed since.
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

from timekeep.core.collector import COLLECTOR
from timekeep.core.errors import IndexDamaged
from timekeep.core.index import generation, live
from timekeep.core.index.batches import batches
from timekeep.core.index.seal import IMPOSSIBLE, NO_VALUE, SEAL_BYTES, VERSION_KEY, pack_ints, pack_len
from timekeep.core.index.shown import DELETED, KINDS, NO_TARGET, RECORD, SHOWN_KEY, STATES
from timekeep.core.types import Entry

LATEST_AT = (
    "(SELECT v2.id FROM version v2 WHERE v2.file_id = f.id AND v2.snapshot_id <= ? "
    "ORDER BY v2.snapshot_id DESC LIMIT 1)"
)
# the row's id, what an Entry holds, then what its seal covers besides, and the seal (the id and the seal are
# the key its entry is remembered by)
COLUMNS = ("v.id, f.path, v.kind, v.size, v.mode, v.mtime_ns, v.snapshot_id, v.state, v.link_target, v.prev, "
           "v.uid, v.gid, v.full, v.digest, v.xattrs, v.xhash, v.seal")
# a folder's children that may have existed at a snapshot, with their versions then: those alive now, and those
# whose newest version (a deletion) came after it; a name deleted at or before it is never read (live.py)
_AT = (f"SELECT {{}} FROM file f JOIN version v ON v.id = {LATEST_AT} WHERE f.parent_id = ? AND f.live = 1 "
       f"UNION ALL SELECT {{}} FROM file f JOIN version v ON v.id = {LATEST_AT} WHERE f.parent_id = ? "
       "AND f.live = 0 AND f.head > ?")
ROWS_AT = _AT.format(COLUMNS, COLUMNS)
# The same for a listing, in one pass over the live names: a name whose head is at or before the snapshot
# shows its version at the head, joined by the row's hint (`file.head_version`, schema 13) where the hint
# names a version of that file at that head; a name changed after it looks its version up (`LATEST_AT`). A
# name whose hint does not hold (an index from before, or damage) comes back as minus its file's id, and is
# looked up (`_after_look_up`, `_looked_up`): a hint never decides which version a name shows. The version
# looked up must then be the one at the name's head, as the file row (whose seal covers its head) says: in an
# index as written that holds whatever the hints, and where it does not, the file's newest version moved away
# or its head did, and the name is damaged (a look-up alone would show its version before as the one in
# force). Joining the hint rather than looking up took 10,000 names' statement from 13.7 to 11.3 ms
# (bench/README.md, "Each name's version at its head").
_LATEST_AT_1 = LATEST_AT.replace("?", "?1")
_IN_FORCE = (f"SELECT {{}} FROM file f LEFT JOIN version v ON v.id = CASE WHEN f.head <= ?1 THEN f.head_version "
             f"ELSE {_LATEST_AT_1} END AND v.file_id = f.id AND (f.head > ?1 OR v.snapshot_id = f.head) "
             "WHERE f.parent_id = ?2 AND f.live = 1 AND (v.id IS NOT NULL OR f.head <= ?1) "
             f"UNION ALL SELECT {{}} FROM file f JOIN version v ON v.id = {_LATEST_AT_1} WHERE f.parent_id = ?2 "
             "AND f.live = 0 AND f.head > ?1")
_BY_FILE = (f"SELECT f.head, f.path, v.snapshot_id, {{}} FROM file f LEFT JOIN version v ON v.id = {_LATEST_AT_1} "
            "WHERE f.id IN ({{}})")
# what a first listing reads: each row's id, path, snapshot and version seal, its packed record of what it shows
# and that record's seal (core/index/shown.py)
SHOWN = "v.id, f.path, v.snapshot_id, v.seal, v.shown, v.shown_seal"
SHOWN_AT = _IN_FORCE.format("coalesce(v.id, -f.id), " + SHOWN[len("v.id, "):], SHOWN)
_SHOWN_BY_FILE = _BY_FILE.format(SHOWN)
_SHOWN_BY_ID = f"SELECT {SHOWN} FROM version v JOIN file f ON f.id = v.file_id WHERE v.id IN " + "({})"
# the same folder's versions in force, by id and seal only: what tells a row checked before
SEALS_AT = _IN_FORCE.format("coalesce(v.id, -f.id), v.seal", "v.id, v.seal")
_SEALS_BY_FILE = _BY_FILE.format("v.id, v.seal")
_BY_ID = f"SELECT {COLUMNS} FROM version v JOIN file f ON f.id = v.file_id WHERE v.id IN " + "({})"
_blake3 = blake3.blake3
_join = b"".join
_make = tuple.__new__
_by_path = itemgetter(0)
_unpack = RECORD.unpack_from
_HEAD = RECORD.size

Damaged = Callable[[bytes], None]


def damaged_at(path: bytes) -> IndexDamaged:
    return IndexDamaged(f"the index is damaged at {os.fsdecode(path)}: its record is not what was written; "
                        "run `timekeep rebuild-index`, which rebuilds it from the drive")


def checked(rows: Iterable[tuple[Any, ...]], snapshot_id: int, damaged: Damaged | None, keep: Checked) -> None:
    """Each row (COLUMNS) checked against its seal, its entry at the snapshot kept under its id with that seal
    (None for a deletion). A damaged row raises IndexDamaged, or is handed to `damaged` and left out. The seal is
    made here as `seal.version_holds` makes it, inline, with one hasher reset for each row: this loop is most of
    a folder restore's listing (tests/test_listing_work.py holds the two to the same decisions)."""
    entries, seals = keep.entries, keep.seals
    hasher = _blake3()
    reset, update, digest = hasher.reset, hasher.update, hasher.digest
    for vid, path, kind, size, mode, mtime_ns, snap, state, target, prev, uid, gid, full, digest_, x, xhash, sealed \
            in rows:
        try:
            reset()
            update(_join((
                VERSION_KEY,
                pack_ints(snap, prev, size, mode, mtime_ns, -1 if uid is None else uid, -1 if gid is None else gid,
                          1 if full else 0),
                state.encode(), b"\0", kind.encode(), b"\0",
                NO_VALUE if path is None else pack_len(len(path)), b"" if path is None else path,
                NO_VALUE if digest_ is None else pack_len(len(digest_)), b"" if digest_ is None else digest_,
                NO_VALUE if target is None else pack_len(len(target)), b"" if target is None else target,
                NO_VALUE if x is None else pack_len(len(x)), b"" if x is None else x,
                NO_VALUE if xhash is None else pack_len(len(xhash)), b"" if xhash is None else xhash,
            )))
            holds = sealed == digest(SEAL_BYTES)
        except IMPOSSIBLE:
            holds = False
        if not holds:
            if damaged is None:
                raise damaged_at(path)
            damaged(path)
            continue
        entries[vid] = None if state == "deleted" else _make(Entry, (path, kind, size, mode, mtime_ns, snap,
                                                                     snap == snapshot_id, target, state))
        seals[vid] = sealed  # after its entry: a reader that finds the seal finds the entry


def checked_shown(rows: Iterable[tuple[Any, ...]], snapshot_id: int, keep: Checked) -> list[int]:
    """Each row (SHOWN) whose record holds its seal and names the row's own snapshot, its entry kept under its
    id with its version seal (None for a deletion); the ids of the others, which the caller checks against their
    whole version seal (a row from before schema 9, a record left behind by a reseal, or damage), or looks up
    (a name whose hint did not hold: minus its file's id, and no version's columns). The seal is
    made as `shown.shown_seal` makes it, inline, with one hasher reset for each row (a new hasher a row cost
    2 ms of 10,000 rows: bench/README.md, "The first listing, second pass"): this loop is most of a first
    listing."""
    entries, seals = keep.entries, keep.seals
    hasher = _blake3()
    reset, update, digest = hasher.reset, hasher.update, hasher.digest
    others = []
    for vid, path, snap, sealed, shown, shown_sealed in rows:
        try:
            reset()
            update(_join((SHOWN_KEY, shown, sealed, path)))
            if shown_sealed != digest(SEAL_BYTES):
                others.append(vid)
                continue
            size, mode, mtime_ns, recorded, kind, state, target = _unpack(shown)
            if recorded != snap:  # the record of another version, or a snapshot column changed under it
                others.append(vid)
                continue
            entries[vid] = None if state == DELETED else _make(Entry, (
                path, KINDS[kind], size, mode, mtime_ns, snap, snap == snapshot_id,
                None if target == NO_TARGET else shown[_HEAD:], STATES[state]))
            seals[vid] = sealed
        except (*IMPOSSIBLE, IndexError):
            others.append(vid)
    return others


def _in_force(entries: Iterable[Entry | None], snapshot_id: int) -> list[Entry]:
    """The entries shown at the snapshot, by path; those it stored marked `changed` (an entry remembered from
    a listing at another snapshot may say otherwise, and is made again with the flag turned: field by field,
    half the cost of slices and unpacking)."""
    shown = [e if e[6] is (e[5] == snapshot_id)
             else _make(Entry, (e[0], e[1], e[2], e[3], e[4], e[5], e[5] == snapshot_id, e[7], e[8]))
             for e in entries if e is not None]
    shown.sort(key=_by_path)
    return shown


def _by_name(entries: Iterable[Entry | None]) -> list[Entry]:
    """Entries made at this snapshot (their `changed` is right), by path."""
    shown = [e for e in entries if e is not None]
    shown.sort(key=_by_path)
    return shown


def children_at(db: SqliteDatabase, parent_id: int, snapshot_id: int, damaged: Damaged | None = None,
                remembered: CheckedEntries | None = None) -> list[Entry]:
    """The children of a directory as they stood at the snapshot, by path. With `remembered`, rows checked
    before are not read again (see CheckedEntries)."""
    conn = db.connection()
    if remembered is None:
        with _one_view(conn):  # a row read whole after its record failed: the same state as the others
            return _read(conn, parent_id, snapshot_id, damaged, None)
    with _one_view(conn):  # the store's validity and the rows read: one state of the index
        store = remembered.of(conn)
        shown = store.lists.get((parent_id, snapshot_id))
        if shown is None:
            shown = _read(conn, parent_id, snapshot_id, damaged, store.rows)
            if damaged is None:  # whole: a row handed to `damaged` was left out
                store.keep(parent_id, snapshot_id, shown)
        return list(shown)


@contextmanager
def _one_view(conn: Connection) -> Iterator[None]:
    """A read transaction around the block, unless the caller's is open: every statement in it sees the same
    state of the index, the one `data_version` and the token describe."""
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


def live_held(conn: Connection, parent_id: int, damaged: Damaged | None = None) -> None:
    """IndexDamaged (or the folder handed to `damaged`) when the folder's live children are not the set kept
    for them: a `live` flag flipped to hide a name, or to show a dead one (core/index/live.py)."""
    folder = live.unheld(conn, parent_id)
    if folder is not None:
        if damaged is None:
            raise damaged_at(folder)
        damaged(folder)


def _read(conn: Connection, parent_id: int, snapshot_id: int, damaged: Damaged | None,
          known: Checked | None) -> list[Entry]:
    """The listing, reading records (`SHOWN`) where it can; with `damaged` (a folder restore, which opens every
    version anyway) every row whole, as each is checked against its version seal."""
    live_held(conn, parent_id, damaged)
    args = (snapshot_id, parent_id)
    with COLLECTOR.paused():
        if not known:
            found = Checked()
            if damaged is not None:
                checked(conn.execute(ROWS_AT, (snapshot_id, parent_id, snapshot_id, parent_id, snapshot_id)),
                        snapshot_id, damaged, found)
            else:  # streamed: the rows are never all held at once
                others = checked_shown(conn.execute(SHOWN_AT, args), snapshot_id, found)
                _by_id(conn, _after_look_up(conn, others, snapshot_id, found), snapshot_id, None, found)
            if known is not None:
                known.add(found)
            return _by_name(found.entries.values())
        # (id, seal): what each checked row is kept with
        in_force = _looked_up(conn, conn.execute(SEALS_AT, args).fetchall(), snapshot_id, damaged)
        seals = known.seals
        missing = [vid for vid, sealed in in_force if seals.get(vid, _UNSEEN) != sealed]
        found = Checked()  # checked here, then added with the others read in the same step (`Checked.add_each`)
        if damaged is None and missing:
            missing = [vid for batch in batches(missing)
                       for vid in checked_shown(_rows_by_id(conn, _SHOWN_BY_ID, batch), snapshot_id, found)]
        _by_id(conn, missing, snapshot_id, damaged, found)
        return _in_force(known.add_each(found, in_force), snapshot_id)


def _looked_up(conn: Connection, rows: list[tuple[Any, ...]], snapshot_id: int,
               damaged: Damaged | None) -> list[tuple[Any, ...]]:
    """The (id, seal) rows of `SEALS_AT`, those whose file's hint did not hold (minus the file's id where the
    version's id would be) replaced by the version at the file's head, looked up (`_at_heads`)."""
    files = [-row[0] for row in rows if row[0] < 0]
    if not files:
        return rows
    return [row for row in rows if row[0] >= 0] + _at_heads(conn, _SEALS_BY_FILE, snapshot_id, files, damaged)


def _after_look_up(conn: Connection, others: list[int], snapshot_id: int, found: Checked) -> list[int]:
    """What `checked_shown` left (`others`), with each name whose hint did not hold (minus its file's id: a row
    with no version's columns, which no record check takes) looked up (`_at_heads`) and its record checked in
    turn; the ids left are the rows to read whole."""
    files = [-vid for vid in others if vid < 0]
    if not files:
        return others
    left = [vid for vid in others if vid > 0]
    return left + checked_shown(_at_heads(conn, _SHOWN_BY_FILE, snapshot_id, files, None), snapshot_id, found)


def _at_heads(conn: Connection, statement: str, snapshot_id: int, files: list[int],
              damaged: Damaged | None) -> list[tuple[Any, ...]]:
    """The version in force at the snapshot of each of `files`, whose heads are at or before it, looked up
    (`statement`, SQL_BATCH files at a time): each must be the version at the file's head. A file whose is not (none
    then, or one before its head) is damaged: IndexDamaged, or handed to `damaged` and left out."""
    rows = []
    for batch in batches(files):
        for head, path, at, *row in conn.execute(statement.format(",".join("?" * len(batch))), (snapshot_id, *batch)):
            if at is None or at != head:
                if damaged is None:
                    raise damaged_at(path)
                damaged(path)
                continue
            rows.append(tuple(row))
    return rows


def _rows_by_id(conn: Connection, statement: str, ids: list[int]) -> Iterable[tuple[Any, ...]]:
    return conn.execute(statement.format(",".join("?" * len(ids))), ids)


def _by_id(conn: Connection, ids: list[int], snapshot_id: int, damaged: Damaged | None, keep: Checked) -> None:
    """The rows by id, each checked against its whole version seal (`checked`), SQL_BATCH at a time."""
    for batch in batches(ids):
        checked(_rows_by_id(conn, _BY_ID, batch), snapshot_id, damaged, keep)


class Checked:
    """Entries of version rows checked against their seals (None for a deletion), by row id, each with the seal
    its row held when checked (`seals`). An entry stands for its row only while the row holds that seal: a
    damaged row given the seal of a row checked before is no row checked before. Two dicts by id rather than
    one by (id, seal): a tuple a row cost a first listing of 10,000 rows 0.2 ms more and 0.6 MB more kept.

    Listings in several threads share one (`SharedRows`): entries and seals change together under `_guard`, and
    `add_each` reads its pairs in the same step, so a row's entry is never paired with the seal another thread
    checked it with (which only damage no trigger sees could make differ)."""

    __slots__ = ("_guard", "entries", "seals")

    def __init__(self) -> None:
        self.entries: dict[int, Entry | None] = {}
        self.seals: dict[int, bytes] = {}
        self._guard = threading.Lock()

    def __len__(self) -> int:
        return len(self.seals)

    def add(self, other: Checked) -> None:
        with self._guard:
            self.entries.update(other.entries)
            self.seals.update(other.seals)

    def each(self, rows: Iterable[tuple[int, object]]) -> list[Entry | None]:
        """The entry of each (id, seal), None where that row was not checked with that seal."""
        with self._guard:
            entries, seals = self.entries, self.seals
            return [entries.get(vid) if seals.get(vid, _UNSEEN) == sealed else None for vid, sealed in rows]

    def add_each(self, other: Checked, rows: Iterable[tuple[int, object]]) -> list[Entry | None]:
        """`add(other)`, then `each(rows)`, in one step."""
        with self._guard:
            self.entries.update(other.entries)
            self.seals.update(other.seals)
            entries, seals = self.entries, self.seals
            return [entries.get(vid) if seals.get(vid, _UNSEEN) == sealed else None for vid, sealed in rows]


_UNSEEN = object()  # the seal of a row not checked: equal to no value a row can hold, NULL included


class _Rows(Checked):
    """Checked entries, good while the index's sealed rows are in state `token`."""

    __slots__ = ("token",)

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token


@dataclass
class _Store:
    """What one connection's listing may use: the checked rows of its index, and its own last few listings."""

    mark: tuple[Connection, int, int]
    rows: _Rows
    lists: dict[tuple[int, int], list[Entry]] = field(default_factory=dict)

    def keep(self, parent_id: int, snapshot_id: int, shown: list[Entry]) -> None:
        if len(self.lists) >= LISTS_KEPT:
            del self.lists[next(iter(self.lists))]
        self.lists[parent_id, snapshot_id] = shown


LISTS_KEPT = 8
INDEXES_KEPT = 2  # the drive's index and the one kept here while it is away
# the one state of the index's meta a store hangs on: which index this is, and its sealed rows' token
_MARKS = f"SELECT key, value FROM meta WHERE key IN ('index_id', '{generation.KEY}')"


class SharedRows:
    """Checked rows by index (its `index_id`), for every connection and opening in this process: the last few
    indexes listed, each emptied when its sealed rows' token moves or it grows past `limit` rows."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._by_index: dict[str, _Rows] = {}
        self._guard = threading.Lock()

    def of(self, index_id: str, token: str) -> _Rows:
        with self._guard:
            rows = self._by_index.pop(index_id, None)
            if rows is None or rows.token != token or len(rows) > self.limit:
                rows = _Rows(token)
            self._by_index[index_id] = rows  # the most recent last
            while len(self._by_index) > INDEXES_KEPT:
                del self._by_index[next(iter(self._by_index))]
            return rows

    def forget(self) -> None:
        """Drop every index's rows (a listing then reads and checks everything again: bench/listing.py)."""
        with self._guard:
            self._by_index.clear()


PROCESS_ROWS = SharedRows()  # a cache of rows checked against their seals, not state: see CheckedEntries


class CheckedEntries:
    """The entries of version rows already checked against their seals (shared through `SharedRows`, so by
    every opening of the index in this process: the window reopens it after a writer or the drive's return),
    and per connection (so per thread) the last few listings made of them. The rows stay good while the index's
    `sealed_rows` token stands (core/index/generation.py); the listings while nothing writes the index at all:
    another connection's commit moves SQLite's `data_version`, this one's own writes its `total_changes`."""

    def __init__(self, shared: SharedRows | None = None) -> None:
        self.shared = PROCESS_ROWS if shared is None else shared
        self._local = threading.local()

    def of(self, conn: Connection) -> _Store:
        """This connection's store, its listings emptied if the index changed since it was last asked for."""
        marks = dict(conn.execute(_MARKS).fetchall())  # first: it opens the read view data_version speaks of
        (version,) = conn.execute("PRAGMA data_version").fetchone()
        mark = (conn, version, conn.total_changes)
        store: _Store | None = getattr(self._local, "store", None)
        if store is None or store.mark != mark or len(store.rows) > self.shared.limit:
            store = self._local.store = _Store(mark, self._rows(marks))
        return store

    def _rows(self, marks: dict[str, object]) -> _Rows:
        if generation.KEY not in marks or "index_id" not in marks:  # no token: these rows are this store's alone
            return _Rows("")
        return self.shared.of(str(marks["index_id"]), str(marks[generation.KEY]))
