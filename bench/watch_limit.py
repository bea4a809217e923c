"""The watcher against the inotify watch limit, on a generated home folder: what watching costs within the
limit, and what happens past it. `python -m bench.watch_limit --files 100000`.

Past the limit is reached without touching the system-wide setting: the watcher reads the limit from a file,
and here it is handed one that says fewer watches than the tree has folders (as the agent's tests do).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

from bench import home_tree
from timekeep.core.watch.limits import LIMIT_FILE, count_dirs, read_limit
from timekeep.core.watch.observer import EventBuffer, FolderWatcher


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def watch_once(root: bytes, limit_file: Path) -> tuple[float, float, str, list[bytes]]:
    """Seconds to plan and set up the watches, the memory they took, what the plan says of `root`, and what a
    storage time would scan for want of watches."""
    watcher = FolderWatcher(EventBuffer(), limit_file)
    watcher.start()
    before = rss_mib()
    started = time.perf_counter()
    plan = watcher.watch([root])
    took = time.perf_counter() - started
    grown = rss_mib() - before
    to_scan = watcher.to_scan([root])
    watcher.stop()
    return took, grown, "watched" if root in plan.watched else plan.fallback.get(root, "?"), to_scan


def stat_walk(tops: list[bytes]) -> tuple[int, float]:
    """Entries under `tops` and the seconds an lstat of each took: what a metadata scan of them costs at least."""
    started, entries, stack = time.perf_counter(), 0, list(tops)
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                entries += 1
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    entry.stat(follow_symlinks=False)
    return entries, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="timekeep-watch-"))
    try:
        home = home_tree.generate(work / "home", args.files, args.seed)
        root = os.fsencode(home.root)
        started = time.perf_counter()
        dirs = count_dirs(root)
        counted = time.perf_counter() - started
        print(f"{args.files:,} files, {dirs:,} folders; counting them took {counted * 1000:.0f} ms; "
              f"the system's limit is {read_limit(LIMIT_FILE)}")
        took, grown, said, _ = watch_once(root, LIMIT_FILE)
        print(f"within the limit: watching took {took:.2f} s and {grown:.1f} MiB ({said})")
        every, whole_s = stat_walk([root])
        lowered = work / "max_user_watches"
        for share in (1.0, 0.5):  # our share (three quarters of the limit) short of the tree's folders
            lowered.write_text(f"{int(dirs * share)}\n")
            took, grown, said, to_scan = watch_once(root, lowered)
            left, left_s = stat_walk(to_scan)
            print(f"past the limit ({int(dirs * share):,} allowed in all): planning and watching took {took:.2f} s, "
                  f"{grown:.1f} MiB; {said}\n  a storage time scans {len(to_scan):,} folders left out: {left:,} of "
                  f"{every:,} entries, walked in {left_s:.2f} s against {whole_s:.2f} s for the whole tree")
        print(f"peak memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
