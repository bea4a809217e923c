"""A folder listed at the oldest and the newest T of a history, in process, as the window lists it:
`python -m bench.listing REPOSITORY FOLDER [--rounds 7]` on a repository `bench.home --keep` (or
bench/run.py) left, FOLDER the one to list (the home's `Pictures/Camera`: 10,000 photos at 100k files).

Four figures at each end, each the median of `--rounds` fresh opens (CPU of this thread, and wall):
- *first in this process*: the first listing after the repository is opened, with nothing checked before in
  this process: every row read and checked against its seal;
- *first after reopening*: the first listing of an opening, the same folder at the same T listed in an earlier
  opening in this process (the rows checked then are kept while the index's sealed rows stand: what
  bench/run.py's in-process row times from its second round on);
- *after the other end*: the listing once the other end was listed (the rows both share were checked then);
- *again*: the same folder at the same T once more.
CPU is the figure to read on a shared machine: wall time there is mostly waiting for a core. Then the first
listing in a fresh process, as bench/run.py times it, each round two new processes in turn: every row read
whole and checked against its version seal (how schema 8 listed, and how a folder restore still does) and
each row's record (schema 9, core/index/shown.py). Then an A/B on one open index, interleaved, best of
`--rounds` (thread CPU): the listing as it was before (the statement sorted by SQLite, `version_holds` called
per row, a frozen dataclass per entry), the whole rows, the first listing now, and the raw statements alone
(every row fetched, nothing checked).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from timekeep.core.api import Timekeep
from timekeep.core.index import listing, queries
from timekeep.core.index.seal import version_holds

# the statement before: sorted by SQLite, one correlated look-up per name
BEFORE = (f"SELECT {queries.ENTRY_COLUMNS} FROM file f JOIN version v ON v.id = {listing.LATEST_AT} "
          "WHERE f.parent_id = ? AND f.live = 1 UNION ALL "
          f"SELECT {queries.ENTRY_COLUMNS} FROM file f JOIN version v ON v.id = {listing.LATEST_AT} "
          "WHERE f.parent_id = ? AND f.live = 0 AND f.head > ? ORDER BY 1")


@dataclass(frozen=True)
class EntryBefore:
    """The record each entry was before."""

    path: bytes
    kind: str
    size: int
    mode: int
    mtime_ns: int
    snapshot_id: int
    changed: bool
    link_target: bytes | None = None
    state: str = "created"


def before(db: Any, parent: int, sid: int) -> int:
    """The listing as it was: the sorted statement, `version_holds` per row, a frozen dataclass per entry."""
    entries = []
    for path, kind, size, mode, mtime_ns, snap, state, target, prev, uid, gid, full, digest, x, xhash, sealed in \
            db.execute(BEFORE, (sid, parent, sid, parent, sid)).fetchall():
        assert version_holds(sealed, path, snap, prev, state, kind, size, mode, mtime_ns, uid, gid, full, digest,
                             target, x, xhash)
        if state != "deleted":
            entries.append(EntryBefore(path, kind, size, mode, mtime_ns, snap, snap == sid, target, state))
    return len(entries)


def timed(work: Callable[[], object]) -> tuple[float, float, object]:
    """(CPU ms of this thread, wall ms, the answer)."""
    cpu, wall = time.thread_time(), time.perf_counter()
    answer = work()
    return (time.thread_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000, answer


def one_round(repo: Path, folder: bytes, here: int, there: int) -> tuple[list[tuple[float, float]], int]:
    """The four listings at `here` (after one at `there` for the third) on freshly opened repositories."""
    listing.PROCESS_ROWS.forget()
    with Timekeep.open(repo) as tk:
        first_cpu, first_wall, entries = timed(lambda: tk.list_dir(folder, here))
    with Timekeep.open(repo) as tk:
        reopened_cpu, reopened_wall, _ = timed(lambda: tk.list_dir(folder, here))
    listing.PROCESS_ROWS.forget()
    with Timekeep.open(repo) as tk:
        tk.list_dir(folder, there)
        other_cpu, other_wall, _ = timed(lambda: tk.list_dir(folder, here))
        again_cpu, again_wall, _ = timed(lambda: tk.list_dir(folder, here))
    assert isinstance(entries, list)
    return [(first_cpu, first_wall), (reopened_cpu, reopened_wall), (other_cpu, other_wall), (again_cpu, again_wall)], \
        len(entries)


# one first listing in this new process: "whole" reads every row whole (a damaged-row callback, as a folder
# restore lists), "records" as the window lists; prints CPU and wall ms
FRESH = """
import os, sys, time
from timekeep.core.api import Timekeep
from timekeep.core.index import listing, queries
with Timekeep.open(sys.argv[1]) as tk:
    db, sid = tk._repo.db, int(sys.argv[3])
    parent = queries.file_id(db, os.fsencode(sys.argv[2]))
    damaged = [].append if sys.argv[4] == "whole" else None
    cpu, wall = time.thread_time(), time.perf_counter()
    listing.children_at(db, parent, sid, damaged, tk._repo.listed)
    print((time.thread_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000)
"""


def fresh_processes(repo: Path, folder: bytes, ends: dict[str, tuple[int, int]], rounds: int) -> None:
    """The first listing of a new process, whole rows and records in turn: medians of `rounds` each."""
    for label, (sid, _) in ends.items():
        got: dict[str, list[tuple[float, float]]] = {"whole": [], "records": []}
        for _ in range(rounds):
            for way, times in got.items():
                out = subprocess.run([sys.executable, "-c", FRESH, str(repo), os.fsdecode(folder), str(sid), way],
                                     capture_output=True, text=True, check=True).stdout.split()
                times.append((float(out[0]), float(out[1])))
        print(f"first listing in a fresh process at the {label} T: " + ", ".join(
            f"{way} {statistics.median(t[0] for t in times):.1f} ms CPU "
            f"({statistics.median(t[1] for t in times):.1f} wall)" for way, times in got.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repository", type=Path)
    parser.add_argument("folder")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    folder = os.fsencode(os.path.abspath(args.folder))
    with Timekeep.open(args.repository) as tk:
        snaps = [s.id for s in tk.snapshots()]
    print(f"{len(snaps)} snapshots; load average {os.getloadavg()[0]:.1f}")
    ends = {"oldest": (snaps[0], snaps[-1]), "newest": (snaps[-1], snaps[0])}
    for label, (here, there) in ends.items():
        rounds = [one_round(args.repository, folder, here, there) for _ in range(args.rounds)]
        count = rounds[0][1]
        for i, what in enumerate(("first in this process", "first after reopening", "after the other end",
                                  "again")):
            cpu = statistics.median(r[0][i][0] for r in rounds)
            wall = statistics.median(r[0][i][1] for r in rounds)
            print(f"{label} T ({count:,} entries), {what}: {cpu:.1f} ms CPU, {wall:.1f} ms wall "
                  f"({cpu * 1000 / max(1, count):.2f} µs CPU an entry)")
    fresh_processes(args.repository, folder, ends, args.rounds)
    with Timekeep.open(args.repository) as tk:
        ab(tk, folder, ends, args.rounds)
    return 0


def ab(tk: Timekeep, folder: bytes, ends: dict[str, tuple[int, int]], rounds: int) -> None:
    """Before and now on one open index, interleaved: the best of `rounds` each."""
    db = tk._repo.db
    parent = queries.file_id(db, folder)
    assert parent is not None
    conn = db.connection()
    for label, (sid, _) in ends.items():
        args = (sid, parent, sid, parent, sid)
        works = {"before": lambda sid=sid: before(conn, parent, sid),
                 "whole rows": lambda sid=sid: len(listing.children_at(db, parent, sid, [].append)),
                 "now, first listing": lambda sid=sid: len(listing.children_at(db, parent, sid)),
                 "the whole rows' statement alone": lambda a=args: len(conn.execute(listing.ROWS_AT, a).fetchall()),
                 "the records' statement alone": lambda a=args: len(conn.execute(listing.SHOWN_AT, a).fetchall())}
        best = {name: float("inf") for name in works}
        for _ in range(rounds):
            for name, work in works.items():
                best[name] = min(best[name], timed(work)[0])
        print(f"A/B at the {label} T: " + ", ".join(f"{name} {ms:.1f} ms" for name, ms in best.items())
              + f" CPU (now / whole rows: {best['now, first listing'] / best['whole rows']:.2f})")


if __name__ == "__main__":
    sys.exit(main())
