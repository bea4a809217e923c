"""The persisted journal of dirty paths: what a watcher saw change since this repository's last storage time.

It lives in the repository's own index, so each destination keeps its own position: a path dirtied while
two drives are connected is journaled in both, and a snapshot to one clears it there alone. Repeated events
coalesce into one row per path. Every write takes a fresh sequence number from `meta`, so a storage time
notes the highest number it saw (its watermark) and, once its snapshot is complete, clears only rows at or
below it: a path dirtied again during the snapshot keeps its row for the next one. A path that arrived by a
watched rename also notes where it came from (`origin`), so a storage time can give it that path's stored
content and history without reading it.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass

from peewee import SqliteDatabase

from timekeep.core.index import queries
from timekeep.core.index.batches import batches
from timekeep.core.index.moves import ELSEWHERE, MARKERS, NEW, origin_of
from timekeep.core.paths import below, is_inside

SEQ_KEY = "journal_seq"


@dataclass(frozen=True)
class JournalEntry:
    """One dirty path as a watcher reported it: its protected root, its size when seen (0 if gone), and
    where its content came from when a rename or a creation told (see timekeep.core.index.moves; None: no news)."""

    folder: bytes
    path: bytes
    size: int = 0
    origin: bytes | None = None


@dataclass(frozen=True)
class JournalStats:
    paths: int
    bytes: int
    oldest_ns: int | None


def _next_seq(db: SqliteDatabase) -> int:
    """Take the next sequence number (inside the caller's transaction): monotonic even once rows are cleared."""
    row = db.execute_sql("SELECT value FROM meta WHERE key = ?", (SEQ_KEY,)).fetchone()
    seq = int(row[0]) + 1 if row else 1
    db.execute_sql("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (SEQ_KEY, str(seq)))
    return seq


def record(db: SqliteDatabase, entries: Iterable[JournalEntry], now_ns: int) -> int:
    """Journal a batch of dirty paths in one transaction; returns the batch's sequence number (0 if empty).
    A row keeps its origin until a later rename or creation at the same path replaces it."""
    rows = list(entries)
    if not rows:
        return 0
    with db.atomic("IMMEDIATE"):  # it reads before it writes: deferred, a storage time's commit meanwhile fails it
        rows = _settle_origins(db, rows)
        seq = _next_seq(db)
        for entry in rows:
            db.execute_sql(
                "INSERT INTO journal (path, folder, seq, size, first_ns, last_ns, origin) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(path) DO UPDATE SET folder = excluded.folder, seq = excluded.seq, "
                "size = excluded.size, last_ns = excluded.last_ns, origin = COALESCE(excluded.origin, origin)",
                (entry.path, entry.folder, seq, entry.size, now_ns, now_ns, entry.origin))
    return seq


def _settle_origins(db: SqliteDatabase, entries: list[JournalEntry]) -> list[JournalEntry]:
    """The batch with origins in terms of what the index stores: a rename of a path that itself arrived by
    a journaled rename points at where that one came from, and journaled origins beneath a renamed folder
    follow it. A rename from a path the index never stored (an editor's temporary file saved over the real
    one) names no origin, so the path keeps the one it had."""
    if all(e.origin is None or e.origin in MARKERS for e in entries):
        return entries
    before = origins(db)  # read before the batch writes: renames compose in time order
    settled: dict[bytes, JournalEntry] = {}
    for entry in entries:
        origin = src = entry.origin
        if src is not None and src not in MARKERS:
            origin = origin_of(before, src)
            for path, came_from in before.items():
                if below(path, src):
                    carried = entry.path + path[len(src):]
                    settled.setdefault(carried, JournalEntry(entry.folder, carried, 0, came_from))
            if origin == NEW or origin == entry.path or (
                    origin != ELSEWHERE and queries.file_id(db, origin) is None):
                origin = None
        settled[entry.path] = dataclasses.replace(entry, origin=origin)
    return list(settled.values())


def origins(db: SqliteDatabase) -> dict[bytes, bytes]:
    """Every journaled origin: path -> where it was before, or a marker (see timekeep.core.index.moves)."""
    rows = db.execute_sql("SELECT path, origin FROM journal WHERE origin IS NOT NULL")
    return {bytes(path): bytes(origin) for path, origin in rows}


def watermark(db: SqliteDatabase) -> int:
    """The highest sequence number handed out so far: a storage time's position in the journal."""
    row = db.execute_sql("SELECT value FROM meta WHERE key = ?", (SEQ_KEY,)).fetchone()
    return int(row[0]) if row else 0


def pending(db: SqliteDatabase, upto: int | None = None, before_ns: int | None = None) -> dict[bytes, set[bytes]]:
    """Dirty paths by protected root (at or below `upto` when given): what `Timekeep.backup(dirty=)` takes.
    With `before_ns`, only those whose last event came before it: what had changed before a suspected incident
    began and has not been touched since (the guard stores these alone)."""
    limit = watermark(db) if upto is None else upto
    found: dict[bytes, set[bytes]] = {}
    query = "SELECT folder, path FROM journal WHERE seq <= ?" + (" AND last_ns < ?" if before_ns is not None else "")
    for folder, path in db.execute_sql(query, (limit,) if before_ns is None else (limit, before_ns)):
        found.setdefault(bytes(folder), set()).add(bytes(path))
    return found


def clear_paths(db: SqliteDatabase, upto: int, paths: Iterable[bytes]) -> int:
    """Forget the rows of these paths at or below `upto` once a snapshot stored them (the others stay)."""
    removed, batch = 0, list(paths)
    with db.atomic():
        for chunk in batches(batch):
            marks = ", ".join("?" * len(chunk))
            cursor = db.execute_sql(f"DELETE FROM journal WHERE seq <= ? AND path IN ({marks})", (upto, *chunk))
            removed += int(cursor.rowcount)
    return removed


def clear(db: SqliteDatabase, upto: int, folders: Iterable[bytes] | None = None) -> int:
    """Forget rows at or below `upto` (of `folders` only, when given) once a snapshot stored them."""
    with db.atomic():
        if folders is None:
            cursor = db.execute_sql("DELETE FROM journal WHERE seq <= ?", (upto,))
            return int(cursor.rowcount)
        removed = 0
        for folder in folders:
            cursor = db.execute_sql("DELETE FROM journal WHERE seq <= ? AND folder = ?", (upto, folder))
            removed += int(cursor.rowcount)
        return removed


def stats(db: SqliteDatabase) -> JournalStats:
    """How much is waiting: the schedule's journal bound and the status line read this. A path that arrived
    by a rename and has seen no event since (its row written once: first_ns = last_ns) takes its origin's
    stored content without being read, so its size is not counted as bytes to store."""
    query = ("SELECT COUNT(*), COALESCE(SUM(CASE WHEN origin IS NOT NULL AND origin != ? AND first_ns = last_ns "
             "THEN 0 ELSE size END), 0), MIN(first_ns) FROM journal")
    paths, size, oldest = db.execute_sql(query, (NEW,)).fetchone()
    return JournalStats(int(paths), int(size), None if oldest is None else int(oldest))


def changed_under(db: SqliteDatabase, folder: bytes, limit: int = 10_000) -> list[tuple[bytes, int]]:
    """Journaled paths at or below `folder` with their last event time: "now" on the timeline."""
    prefix = folder.rstrip(b"/") + b"/"
    rows = db.execute_sql(
        "SELECT path, last_ns FROM journal WHERE path = ? OR (path >= ? AND path < ?) ORDER BY path LIMIT ?",
        (folder, prefix, prefix[:-1] + b"0", limit))  # b"0" sorts right after b"/": the subtree as a range
    return [(bytes(p), int(t)) for p, t in rows]


def folder_of(path: bytes, roots: Iterable[bytes]) -> bytes | None:
    """The protected root holding `path` (the deepest, should roots ever nest), or None."""
    best: bytes | None = None
    for root in roots:
        if is_inside(path, root) and (best is None or len(root) > len(best)):
            best = root
    return best


def size_on_disk(path: bytes) -> int:
    """A dirty path's size for the journal's byte bound: a regular file's size, else 0 (gone, folder, link)."""
    try:
        st = os.lstat(path)
    except OSError:
        return 0
    return st.st_size if stat.S_ISREG(st.st_mode) else 0
