"""What a scan and a listing read from an index, against reading every name a folder ever held (the queries
before schema 6), on one index at one moment: an A/B that a shared machine's load disturbs far less than two
runs of bench.home. `python -m bench.index_costs REPOSITORY [FOLDER]` on a repository that
`bench.home --keep` left (FOLDER: the one to list, by default the camera folder).

CPU is this thread's (`time.thread_time`), the best of five interleaved rounds; the index's own space is
SQLite's `dbstat` per table and index, over the live file rows.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path

from peewee import SqliteDatabase

from timekeep.core.index import listing, queries
from timekeep.core.index.schema import open_index
from timekeep.core.index.seal import version_holds

# the scan's and the listing's queries as they were: every name the folder ever held
ALL_NAMES_SCAN = (f"SELECT f.path, {queries.VERSION_COLUMNS} FROM file f JOIN version v ON v.id = "
                  "(SELECT max(v2.id) FROM version v2 WHERE v2.file_id = f.id) WHERE f.parent_id = ?")
LIVE_SCAN = ALL_NAMES_SCAN + " AND f.live = 1"
ALL_NAMES_LISTING = (f"SELECT {queries.ENTRY_COLUMNS} FROM file f JOIN version v ON v.id = {queries.LATEST_AT} "
                     "WHERE f.parent_id = ? ORDER BY f.path")


def best_ms(work: Callable[[], int], rounds: int = 5) -> tuple[float, int]:
    best, rows = float("inf"), 0
    for _ in range(rounds):
        started = time.thread_time()
        rows = work()
        best = min(best, time.thread_time() - started)
    return best * 1000, rows


def scan_reads(db: sqlite3.Connection, sql: str, parents: list[int]) -> int:
    """Every folder's children as a scan reads them, each row's seal checked as the scan does."""
    rows = 0
    for parent in parents:
        for row in db.execute(sql, (parent,)).fetchall():
            assert version_holds(*queries._SEALED_VALUES(row))
            rows += 1
    return rows


def listing_reads(db: sqlite3.Connection, sql: str, params: tuple[int, ...], sid: int) -> int:
    return len(queries._entries(db.execute(sql, params).fetchall(), sid))


def first_listing(index: SqliteDatabase, fid: int, sid: int) -> int:
    """The listing as the window's first one reads it (the live names and the dead ones whose deletion came
    after T, by their records), nothing checked before."""
    listing.PROCESS_ROWS.forget()
    return len(listing.children_at(index, fid, sid))


def space(db: sqlite3.Connection, live: int) -> list[str]:
    rows = db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
    total = sum(size for _, size in rows)
    lines = [f"index.db {total / 2**20:.1f} MiB, {total / live:.0f} bytes per live file; the largest parts:"]
    lines += [f"  {name}: {size / 2**20:.1f} MiB, {size / live:.0f} bytes per live file" for name, size in rows[:8]]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repository", type=Path)
    parser.add_argument("folder", nargs="?", help="the folder to list (default: the camera folder)")
    args = parser.parse_args(argv)
    db = sqlite3.connect(f"file:{args.repository / 'index.db'}?mode=ro", uri=True)
    files, live = db.execute("SELECT count(*), sum(live) FROM file").fetchone()
    parents = [int(r[0]) for r in db.execute("SELECT DISTINCT parent_id FROM file WHERE parent_id IS NOT NULL")]
    print(f"{files:,} file rows, {live:,} live, in {len(parents):,} folders")
    for label, sql in (("every name", ALL_NAMES_SCAN), ("live names", LIVE_SCAN)):
        ms, rows = best_ms(lambda sql=sql: scan_reads(db, sql, parents))
        print(f"a scan's index reads, {label}: {rows:,} rows, {ms:.0f} ms CPU "
              f"({ms * 1000 / max(1, live):.1f} µs a live file)")
    folder = args.folder or next(p for (p,) in db.execute("SELECT path FROM file") if p.endswith(b"/Pictures/Camera"))
    fid = db.execute("SELECT id FROM file WHERE path = ?", (folder if isinstance(folder, bytes) else
                                                           folder.encode(),)).fetchone()[0]
    snaps = [int(r[0]) for r in db.execute("SELECT id FROM snapshot WHERE state = 'complete' ORDER BY id")]
    index = open_index(args.repository / "index.db", reader=True)
    try:
        for label, sid in (("oldest", snaps[0]), ("newest", snaps[-1])):
            ms, entries = best_ms(lambda sid=sid: listing_reads(db, ALL_NAMES_LISTING, (sid, fid), sid))
            print(f"listing at the {label} T, every name: {entries:,} entries, {ms:.1f} ms CPU")
            ms, entries = best_ms(lambda sid=sid: first_listing(index, fid, sid))
            print(f"listing at the {label} T, as a first listing reads it: {entries:,} entries, {ms:.1f} ms CPU")
    finally:
        index.close()
    print("\n".join(space(db, live)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
