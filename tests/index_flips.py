"""index.db damaged where it holds what a restore hands back: one bit turned over in one row of each table that
does (a file's path, a version's size, an extent's chunk, a chunk's place in its pack).

Each row is chosen by what it means (the file the matrix asks for, at the latest snapshot), never by where it
happens to sit in the file, so the damage and the cell's outcome are the same whatever the length of the folder
names around it (they move rows between pages). Only a comparison with the drive, a row's seal or a digest can
see such damage: SQLite's own checks cannot.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

from tests.treeops import flip, leaf_cells, value_end

Chooser = Callable[[sqlite3.Connection, bytes, int, frozenset[bytes]], tuple[int, int]]

# the damage's name -> (table, column) where one bit turns over
FLIPS = {
    "index-flipped-path": ("file", "path"),  # the file would come back under another name
    "index-flipped-version": ("version", "size"),  # ... cut short or padded
    "index-flipped-extent": ("extent", "chunk_id"),  # ... with another chunk's bytes in a stretch of it
    "index-flipped-chunk": ("chunk", "offset"),  # ... with bytes read from elsewhere in the pack
}


# a file row's `live` flag turned over, table and index alike (as a writer's bug or a restored page would leave
# it): the name -> the file whose flag turns, relative to the history's folder, and the folder `ls` lists
LIVE_FLIPS = {
    "index-flipped-live": (b"big-a.bin", b""),  # alive, flagged dead: hidden from its folder and its scan
    "index-flipped-dead": (b"notes/n09.txt", b"notes"),  # deleted at 5, flagged alive: in its folder's live set
}


def flip_live(index: Path, path: bytes) -> None:
    """Turn the flag over through SQLite (its page and the (parent_id, live) index stay well-formed): no trigger
    watches the file table, so nothing else changes."""
    with contextlib.closing(sqlite3.connect(index)) as conn, conn:
        changed = conn.execute("UPDATE file SET live = 1 - live WHERE path = ?", (path,)).rowcount
    assert changed == 1, path


def flip_index_row(index: Path, name: str, path: bytes, sid: int, uses: frozenset[bytes]) -> None:
    """Turn over one bit of the FLIPS value that the file at `path` (its bytes need the chunks `uses`) depends
    on at snapshot `sid`, in the table's own row (the column's SQLite index, if any, keeps the old value)."""
    table, column = FLIPS[name]
    with contextlib.closing(sqlite3.connect(index)) as conn:
        row, mask = CHOOSERS[table](conn, path, sid, uses)
        offset = row_value_end(conn, index, table, column, row)
    flip(index, offset, mask)


def _file_row(conn: sqlite3.Connection, path: bytes, _sid: int, _uses: frozenset[bytes]) -> tuple[int, int]:
    (row,) = conn.execute("SELECT id FROM file WHERE path = ?", (path,)).fetchone()
    return row, 1


def _version_row(conn: sqlite3.Connection, path: bytes, sid: int, _uses: frozenset[bytes]) -> tuple[int, int]:
    """The file's newest version at or before `sid`: the one a restore at `sid` hands back."""
    (row,) = conn.execute("SELECT v.id FROM version v JOIN file f ON f.id = v.file_id WHERE f.path = ? AND "
                          "v.snapshot_id <= ? ORDER BY v.snapshot_id DESC LIMIT 1", (path, sid)).fetchone()
    return row, 1


def _extents(conn: sqlite3.Connection, path: bytes, sid: int, uses: frozenset[bytes]) -> list[tuple[int, int, int]]:
    """(extent rowid, chunk id, chunk offset in its pack) of the file's versions up to `sid` whose chunks a
    restore at `sid` reads: newest version first, then in the order of the file's bytes."""
    rows = conn.execute(
        "SELECT e.rowid, c.id, c.offset, c.digest FROM extent e JOIN version v ON v.id = e.version_id "
        "JOIN file f ON f.id = v.file_id JOIN chunk c ON c.id = e.chunk_id WHERE f.path = ? AND "
        "v.snapshot_id <= ? ORDER BY v.snapshot_id DESC, e.offset", (path, sid)).fetchall()
    return [(row, chunk, offset) for row, chunk, offset, digest in rows if bytes(digest) in uses]


def _extent_row(conn: sqlite3.Connection, path: bytes, sid: int, uses: frozenset[bytes]) -> tuple[int, int]:
    """The first extent whose chunk id, one bit turned, names another chunk at least as long: the file would
    then build without complaint, from the wrong bytes."""
    lengths = dict(conn.execute("SELECT id, raw_length FROM chunk").fetchall())
    for row, chunk, _ in _extents(conn, path, sid, uses):
        for mask in (1, 2, 4, 8, 16, 32, 64):
            if lengths.get(chunk ^ mask, 0) >= lengths[chunk]:
                return row, mask
    raise AssertionError("no extent of the file can be turned into another chunk's")


def _chunk_row(conn: sqlite3.Connection, path: bytes, sid: int, uses: frozenset[bytes]) -> tuple[int, int]:
    """The first chunk the file needs that does not start its pack (an offset of 0 takes no bytes to flip)."""
    chunk = next(chunk for _, chunk, offset in _extents(conn, path, sid, uses) if offset > 0)
    return chunk, 1


CHOOSERS: dict[str, Chooser] = {"file": _file_row, "version": _version_row, "extent": _extent_row,
                                "chunk": _chunk_row}


def row_value_end(conn: sqlite3.Connection, index: Path, table: str, column: str, rowid: int) -> int:
    """The file offset of the last byte (an integer's low byte) of `column` in `table`'s row `rowid`, read from
    SQLite's file format wherever in the table's leaf pages that row is."""
    columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = [row[0] for row in conn.execute(
        "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno", (table,))]
    data = index.read_bytes()
    for pageno in pages:
        page = data[(pageno - 1) * size : pageno * size]
        for cell in leaf_cells(page, 100 if pageno == 1 else 0):
            found = value_end(page, cell, columns.index(column))
            if found is not None and found[0] == rowid:
                return (pageno - 1) * size + found[1]
    raise AssertionError(f"{table} row {rowid} has no {column} bytes in a leaf page")

