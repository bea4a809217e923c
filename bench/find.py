"""`timekeep find` on a large history: a generated index of a million file versions, searched through the
name index (FTS5, trigram tokenizer) beside the two alternatives it was chosen over, a scan of every name
and a table of trigrams. Prints one table; bench/README.md ("find on a large history") keeps the figures.

    .venv/bin/python -m bench.find [--files 250000] [--versions 4] [--snapshots 200]
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from timekeep.core.index import names
from timekeep.core.index.schema import open_index
from timekeep.core.index.seal import file_seal, version_seal
from timekeep.core.name_pattern import parse
from timekeep.core.repository import Repository
from timekeep.core.types import FoundPage

WORDS = ("report", "invoice", "photo", "IMG", "holiday", "budget", "draft", "notes", "scan", "letter", "music",
         "track", "data", "backup", "final", "copy", "plan", "thesis", "chapter", "figure")
EXTENSIONS = (".txt", ".jpg", ".pdf", ".docx", ".png", ".mp3", ".csv", ".py", ".md", ".odt")
LIMIT = 1000  # what `timekeep find` shows unless told otherwise
QUERIES = ("thesis_chapter", "*-4242.*", "budget", "*.md", "zq", "nothing-like-this")


def generate(path: Path, files: int, versions: int, snapshots: int, seed: int = 2026) -> None:
    """An index holding `files` paths in 1,000 folders, each with `versions` versions spread over `snapshots`
    snapshots, a fifth of the files deleted at their last one: sealed rows, as a backup writes them."""
    rng = random.Random(seed)
    db = open_index(path, create=True)
    conn = db.connection()
    with db.atomic():
        conn.execute("INSERT INTO folder (path, excludes, active) VALUES (?, '[]', 1)", (b"/home/u",))
        conn.executemany("INSERT INTO snapshot (id, time_ns, trigger, state, files_scanned, files_read, "
                         "files_changed, bytes_read, bytes_new, errors, duration_s) "
                         "VALUES (?, ?, 'schedule', 'complete', 0, 0, 0, 0, 0, 0, 0)",
                         [(i, 1_700_000_000 * 10**9 + i * 3600 * 10**9) for i in range(1, snapshots + 1)])
        conn.execute("INSERT INTO file (id, folder_id, parent_id, path, head) VALUES (1, 1, NULL, ?, 0)", (b"/home/u",))
        for d in range(1000):
            conn.execute("INSERT INTO file (id, folder_id, parent_id, path, head) VALUES (?, 1, 1, ?, 0)",
                         (d + 2, f"/home/u/{rng.choice(WORDS)}-{d}".encode()))
        for i in range(files):
            _add_file(conn, rng, 1002 + i, versions, snapshots)
    db.close()


def _add_file(conn: sqlite3.Connection, rng: random.Random, fid: int, versions: int, snapshots: int) -> None:
    parent = rng.randrange(1000) + 2
    (folder,) = conn.execute("SELECT path FROM file WHERE id = ?", (parent,)).fetchone()
    name = f"{rng.choice(WORDS)}_{rng.choice(WORDS)}-{fid % 9973}{rng.choice(EXTENSIONS)}"
    path = bytes(folder) + b"/" + name.encode()
    sids = sorted(rng.sample(range(1, snapshots + 1), versions))
    states = ["created"] + ["modified"] * (versions - 1)
    if rng.random() < 0.2:
        states[-1] = "deleted"
    conn.execute("INSERT INTO file (id, folder_id, parent_id, path, head, seal) VALUES (?, 1, ?, ?, ?, ?)",
                 (fid, parent, path, sids[-1], file_seal(path, sids[-1])))
    prev = 0
    for sid, state in zip(sids, states, strict=True):
        size = 0 if state == "deleted" else rng.randrange(1, 1 << 20)
        sealed = version_seal(path, sid, prev, state, "file", size, 0o100644, sid, 1000, 1000, True, None, None,
                              None, None)
        conn.execute("INSERT INTO version (file_id, snapshot_id, state, kind, size, mode, mtime_ns, inode, ctime_ns, "
                     "prev, uid, gid, full, depth, chain_rows, racy, seal) "
                     "VALUES (?, ?, ?, 'file', ?, 33188, ?, 0, 0, ?, 1000, 1000, 1, 0, 0, 0, ?)",
                     (fid, sid, state, size, sid, prev, sealed))
        prev = sid


def timed(work: Callable[[], object], rounds: int = 5) -> tuple[float, object]:
    """Median milliseconds of `rounds` runs, and the last answer."""
    times, answer = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        answer = work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), answer


def scan_names(db: sqlite3.Connection, pattern: str) -> int:
    """The alternative without an index: every path read and matched."""
    wanted = parse(pattern)
    return sum(1 for (path,) in db.execute("SELECT path FROM file") if wanted.matches(os.path.basename(path)))


def build_trigram_table(db: sqlite3.Connection) -> float:
    started = time.perf_counter()
    db.execute("CREATE TABLE gram (gram TEXT, file_id INTEGER, PRIMARY KEY (gram, file_id)) WITHOUT ROWID")
    rows = ((name[i : i + 3], fid) for fid, path in db.execute("SELECT id, path FROM file").fetchall()
            for name in [names.name_text(bytes(path)).lower()] for i in range(len(name) - 2))
    db.executemany("INSERT OR IGNORE INTO gram VALUES (?, ?)", rows)
    db.commit()
    return time.perf_counter() - started


def trigram_table(db: sqlite3.Connection, pattern: str) -> int:
    """Candidates from the rarest-first intersection of the pattern's trigrams, then matched on the path."""
    wanted = parse(pattern)
    runs = [part for part in wanted.like.replace("_", "%").split("%") if len(part) >= 3]
    grams = {run[i : i + 3].lower() for run in runs for i in range(len(run) - 2)}
    if not grams:
        return scan_names(db, pattern)
    marks = ",".join("?" * len(grams))
    rows = db.execute(f"SELECT f.path FROM file f WHERE f.id IN (SELECT file_id FROM gram WHERE gram IN ({marks}) "
                      "GROUP BY file_id HAVING count(*) = ?)", (*grams, len(grams)))
    return sum(1 for (path,) in rows if wanted.matches(os.path.basename(path)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=250_000)
    parser.add_argument("--versions", type=int, default=4)
    parser.add_argument("--snapshots", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="timekeep-find-") as work:
        index = Path(work) / "index.db"
        started = time.perf_counter()
        generate(index, args.files, args.versions, args.snapshots)
        print(f"generated {args.files:,} files, {args.files * args.versions:,} versions in "
              f"{time.perf_counter() - started:.0f} s")
        db = open_index(index)
        started = time.perf_counter()
        names.rebuild(db)
        fts_build = time.perf_counter() - started
        db.close()
        size = os.path.getsize(index)
        raw = sqlite3.connect(index)
        gram_build = build_trigram_table(raw)
        print(f"name index built in {fts_build:.1f} s; trigram table in {gram_build:.1f} s; index file "
              f"{size / 1e6:.0f} MB before the trigram table, {os.path.getsize(index) / 1e6:.0f} MB after")
        _compare(index, raw)


def _compare(index: Path, raw: sqlite3.Connection) -> None:
    from timekeep.core import finding

    repo = Repository.__new__(Repository)  # the service needs only the index and whether it may write
    repo.db = open_index(index)
    repo.lock = None
    print(f"{'pattern':<20} {'hits':>7} {'find (ms)':>10} {'first 1000 (ms)':>16} {'FTS5 names (ms)':>16} "
          f"{'trigram table (ms)':>19} {'scan (ms)':>10}")
    for pattern in QUERIES:
        whole, hits = timed(lambda p=pattern: finding.find(repo, p))
        first, page = timed(lambda p=pattern: finding.find_first(repo, p, LIMIT))
        assert isinstance(page, FoundPage) and len(page.found) + page.more == len(hits)  # type: ignore[arg-type]
        wanted = parse(pattern)
        fts, _ = timed(lambda w=wanted: list(names.candidates(repo.db, w.like, w.literal_run, False)))
        gram, _ = timed(lambda p=pattern: trigram_table(raw, p))
        scan, _ = timed(lambda p=pattern: scan_names(raw, p), rounds=3)
        assert isinstance(hits, list)
        print(f"{pattern:<20} {len(hits):>7} {whole:>10.0f} {first:>16.0f} {fts:>16.0f} {gram:>19.0f} {scan:>10.0f}")
    _deleted_beneath(repo)
    repo.db.close()


def _deleted_beneath(repo: Repository) -> None:
    """"Show deleted files" for the protected folder (everything deleted in it) and for one of its folders."""
    from timekeep.core.index.gone import gone_beneath

    (folder,) = repo.db.execute_sql("SELECT path FROM file WHERE id = 2").fetchone()
    for path in (b"/home/u", bytes(folder)):
        took, gone = timed(lambda p=path: gone_beneath(repo.db, p))
        assert isinstance(gone, list)
        print(f"deleted beneath {path.decode():<24} {len(gone):>7} items {took:>8.0f} ms")


if __name__ == "__main__":
    main()
