"""The guard's cost on a burst of 10,000 events: the observer thread's share (`saw`, an append) and the agent
tick's (`look`: classify, let the window slide, sample what settled, judge), on real files. Prints one table;
bench/README.md ("the guard on a burst") keeps the figures.

    .venv/bin/python -m bench.guard [--files 10000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from timekeep.core.guard.detector import Detector
from timekeep.core.guard.thresholds import Thresholds

TEXT = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt.\n" * 60


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def burst(root: Path, files: int, kinds: tuple[str, ...], content: Callable[[int], bytes]) -> list[tuple[str, bytes]]:
    """Write the files (before the clock starts) and return the events the watcher would report for them."""
    events = []
    for i in range(files):
        path = root / f"d{i % 100}" / f"f{i}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content(i))
        events += [(kind, os.fsencode(path)) for kind in kinds]
    return events


def measure(name: str, events: list[tuple[str, bytes]]) -> None:
    clock = Clock()
    detector = Detector(Thresholds(), clock)
    start = time.perf_counter()
    for kind, path in events:
        detector.saw(kind, path, None, False)
    tapped = time.perf_counter() - start
    start = time.perf_counter()
    detector.look()
    classified = time.perf_counter() - start
    clock.now += detector.thresholds.settle_seconds
    start = time.perf_counter()
    finding = detector.look()
    sampled = time.perf_counter() - start
    per = (tapped + classified + sampled) / len(events) * 1e6
    print(f"| {name} | {len(events):,} | {tapped * 1e3:.1f} | {classified * 1e3:.1f} | {sampled * 1e3:.1f} "
          f"({len(detector.sampled)} read) | {per:.1f} | {'incident' if finding else 'none'} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    args = parser.parse_args()
    print("| burst | events | observer thread: saw (ms) | tick: classify (ms) | tick: sample and judge (ms) "
          "| µs per event | finding |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        created = burst(root / "new", args.files, ("created",), lambda i: TEXT)
        measure("files created (a build, an import)", created)
        rewritten = burst(root / "text", args.files // 2, ("modified", "closed"), lambda i: TEXT[i % 50:])
        measure("text files rewritten (a checkout)", rewritten)
        damaged = burst(root / "docs", args.files // 2, ("modified", "closed"), lambda i: os.urandom(4096))
        measure("documents rewritten with random bytes", damaged)


if __name__ == "__main__":
    main()
