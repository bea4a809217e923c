"""A folder listed at the oldest and the newest T of a history, in process, as the window lists it:
`python -m bench.listing REPOSITORY FOLDER [--rounds 7]` on a repository `bench.home --keep` (or
bench/run.py) left, FOLDER the one to list (the home's `Pictures/Camera`: 10,000 photos at 100k files).

Three figures at each end, each the median of `--rounds` fresh opens (CPU of this thread, and wall):
- *first*: the first listing after the repository is opened, every row read and checked against its seal;
- *after the other end*: the listing once the other end was listed (the rows both share were checked then);
- *again*: the same folder at the same T once more.
CPU is the figure to read on a shared machine: wall time there is mostly waiting for a core.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from timekeep.core.api import Timekeep


def timed(work: Callable[[], object]) -> tuple[float, float, object]:
    """(CPU ms of this thread, wall ms, the answer)."""
    cpu, wall = time.thread_time(), time.perf_counter()
    answer = work()
    return (time.thread_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000, answer


def one_round(repo: Path, folder: bytes, here: int, there: int) -> tuple[list[tuple[float, float]], int]:
    """The three listings at `here` (after one at `there` for the second) on a freshly opened repository."""
    with Timekeep.open(repo) as tk:
        first_cpu, first_wall, entries = timed(lambda: tk.list_dir(folder, here))
    with Timekeep.open(repo) as tk:
        tk.list_dir(folder, there)
        other_cpu, other_wall, _ = timed(lambda: tk.list_dir(folder, here))
        again_cpu, again_wall, _ = timed(lambda: tk.list_dir(folder, here))
    assert isinstance(entries, list)
    return [(first_cpu, first_wall), (other_cpu, other_wall), (again_cpu, again_wall)], len(entries)


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
        for i, what in enumerate(("first", "after the other end", "again")):
            cpu = statistics.median(r[0][i][0] for r in rounds)
            wall = statistics.median(r[0][i][1] for r in rounds)
            print(f"{label} T ({count:,} entries), {what}: {cpu:.1f} ms CPU, {wall:.1f} ms wall "
                  f"({cpu * 1000 / max(1, count):.2f} µs CPU an entry)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
