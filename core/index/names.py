"""The name index: which file rows' names may hold a piece of text, so `find` answers from trigrams rather than
by reading every path the history ever held.

A cache inside the cache: an FTS5 table with the trigram tokenizer (bench/README.md, "find", measured it
against scanning the names) holding each file row's name under the row's id. File rows are only ever added,
never renamed or removed, so the table covers every row up to a watermark kept in `meta` with the number of
rows it indexed, and a search reads the rows past the watermark directly: a writer that added files without
indexing them makes a search slower, never wrong. Writers bring it up to date as they finish (`catch_up`).

Nothing but a row id is taken from it: callers read the path from the file row and match it again. A table
that is missing, fails, or lost rows is built again from the file rows by a writer; a reader searches the
file rows instead.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator

from peewee import PeeweeException, SqliteDatabase

TABLE = "name_search"
UPTO = "names_upto"  # meta: the highest file id the table covers
COUNT = "names_count"  # meta: how many rows it holds then
INDEX_BATCH = 20_000  # file rows read and indexed at a time when the table catches up
CREATE = f"CREATE VIRTUAL TABLE {TABLE} USING fts5(name, tokenize='trigram')"
FAILURES = (PeeweeException, sqlite3.Error)
log = logging.getLogger(__name__)

Candidate = tuple[int, bytes]  # (file id, path)


def name_text(path: bytes) -> str:
    """A path's last part as the table holds it: text, with U+FFFD for bytes that are not UTF-8."""
    return path.rsplit(b"/", 1)[-1].decode("utf-8", "replace")


def create(db: SqliteDatabase) -> None:
    """An empty table, covering no file row yet (inside the caller's transaction)."""
    db.execute_sql(CREATE)
    _set_mark(db, 0, 0)


def rebuild(db: SqliteDatabase) -> None:
    """The table made anew from every file row, whatever state the old one was in."""
    with db.atomic():
        db.execute_sql(f"DROP TABLE IF EXISTS {TABLE}")
        create(db)
        _index_after(db, 0, 0)


def catch_up(db: SqliteDatabase) -> None:
    """Index the file rows added since the watermark, or rebuild a table that is not whole. Never fails the
    writer calling it: the search falls back to the file rows until a later writer manages. Never opens a
    connection either: one this thread closed may be to an index file that is gone (encrypting in place
    removes the drive's), which connecting would create again."""
    if db.is_closed():
        return
    try:
        mark = _whole_mark(db)
        if mark is None:
            rebuild(db)
            return
        with db.atomic():
            _index_after(db, *mark)
    except FAILURES as err:
        log.warning("the name index could not be brought up to date: %s", err)


def candidates(db: SqliteDatabase, like: str, literal_run: bool, writable: bool) -> Iterator[Candidate]:
    """File rows whose name may match the LIKE pattern `like` (ASCII, case-insensitive); a superset, which the
    caller narrows on the real path. `literal_run`: the pattern has three characters in a row that are no
    wildcard, so the trigrams can narrow it; else the stored names are scanned (faster than FTS5's own scan).
    A table that is not whole is rebuilt when `writable`, else passed over for the file rows."""
    mark = _usable_mark(db, writable)
    if mark is None:
        yield from _file_rows(db, "SELECT id, path FROM file", ())
        return
    upto = mark[0]
    where = f"{TABLE} WHERE name LIKE ?" if literal_run else f"{TABLE}_content WHERE c0 LIKE ?"
    id_column = "rowid" if literal_run else "id"
    try:
        found = _file_rows(db, f"SELECT f.id, f.path FROM file f WHERE f.id IN (SELECT {id_column} FROM {where})",
                           (like,))
    except FAILURES as err:
        log.warning("the name index failed (%s); searching the file rows", err)
        if writable:
            catch_up_after_failure(db)
        yield from _file_rows(db, "SELECT id, path FROM file", ())
        return
    yield from found
    yield from _file_rows(db, "SELECT id, path FROM file WHERE id > ?", (upto,))


def catch_up_after_failure(db: SqliteDatabase) -> None:
    try:
        rebuild(db)
    except FAILURES as err:
        log.warning("the name index could not be rebuilt: %s", err)


def _usable_mark(db: SqliteDatabase, writable: bool) -> tuple[int, int] | None:
    mark = _whole_mark(db)
    if mark is not None or not writable:
        return mark
    catch_up(db)
    return _whole_mark(db)


def _whole_mark(db: SqliteDatabase) -> tuple[int, int] | None:
    """The watermark and row count, when the table is there and holds what they say; else None."""
    try:
        mark = _mark(db)
        return mark if mark is not None and _whole(db, *mark) else None
    except FAILURES:
        return None


def _file_rows(db: SqliteDatabase, sql: str, params: tuple[object, ...]) -> list[Candidate]:
    """Read whole, so a failing table raises here rather than halfway through the caller's loop."""
    return [(int(fid), bytes(path)) for fid, path in db.execute_sql(sql, params).fetchall()]


def _index_after(db: SqliteDatabase, upto: int, count: int) -> None:
    """Index the names of the file rows after `upto`, a batch at a time: a first backup of a million files
    would otherwise hold every new path in memory at once (200 MiB at a million)."""
    last, added = upto, 0
    while True:
        rows = db.execute_sql("SELECT id, path FROM file WHERE id > ? ORDER BY id LIMIT ?",
                              (last, INDEX_BATCH)).fetchall()
        if not rows:
            break
        db.connection().executemany(f"INSERT INTO {TABLE} (rowid, name) VALUES (?, ?)",
                                    ((int(fid), name_text(bytes(path))) for fid, path in rows))
        last, added = int(rows[-1][0]), added + len(rows)
    if added:
        _set_mark(db, last, count + added)


def _whole(db: SqliteDatabase, upto: int, count: int) -> bool:
    """The table holds the rows the watermark says, none beyond it, and its trigrams find the names it holds:
    looks that cost milliseconds at a million names (its docsize table counts its rows; the highest rowid is
    one step; a few of its names are searched for)."""
    (held,) = db.execute_sql(f"SELECT count(*) FROM {TABLE}_docsize").fetchone()
    (top,) = db.execute_sql(f"SELECT max(rowid) FROM {TABLE}").fetchone()
    return int(held) == count and int(top or 0) <= upto and all(_finds(db, row) for row in _samples(db, upto))


def _samples(db: SqliteDatabase, upto: int) -> list[tuple[int, str]]:
    """The first names the table holds from its start, middle and end, with their rows."""
    return [(int(r[0]), str(r[1])) for pick in sorted({0, upto // 2, upto}) for r in db.execute_sql(
        f"SELECT id, c0 FROM {TABLE}_content WHERE id >= ? ORDER BY id LIMIT 1", (pick,)).fetchall()]


def _finds(db: SqliteDatabase, row: tuple[int, str]) -> bool:
    """Whether a search for three letters of the name finds its row: what damage to the trigrams breaks."""
    rowid, name = row
    run = next((name[i : i + 3] for i in range(len(name) - 2) if _plain(name[i : i + 3])), None)
    if run is None:
        return True
    hit = db.execute_sql(f"SELECT rowid FROM {TABLE} WHERE name LIKE ? AND rowid = ?", (f"%{run}%", rowid))
    return hit.fetchone() is not None


def _plain(text: str) -> bool:
    return text.isascii() and not any(ch in "%_\\" for ch in text)


def _mark(db: SqliteDatabase) -> tuple[int, int] | None:
    rows = dict(db.execute_sql("SELECT key, value FROM meta WHERE key IN (?, ?)", (UPTO, COUNT)).fetchall())
    if UPTO not in rows or COUNT not in rows:
        return None
    return int(rows[UPTO]), int(rows[COUNT])


def _set_mark(db: SqliteDatabase, upto: int, count: int) -> None:
    db.execute_sql("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?), (?, ?)",
                   (UPTO, str(upto), COUNT, str(count)))
