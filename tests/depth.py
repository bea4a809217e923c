"""How many points the long kill and damage loops try. The suite's own run (the README's command, CI) tries a
fixed, seeded sample of each loop, its first and last point always among them, so a failure repeats and the
run stays inside its time budget; TIMEKEEP_FULL_LOOPS=1 tries every point (after changing the order in which
a writer changes the drive, and now and then)."""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

FULL = os.environ.get("TIMEKEEP_FULL_LOOPS") == "1"


def sample(points: Sequence[T], quick: int, seed: int) -> list[T]:
    """Every point with TIMEKEEP_FULL_LOOPS=1, else `quick` of them (the ends and a seeded spread), in order."""
    if FULL or len(points) <= quick:
        return list(points)
    ends = {0, len(points) - 1}
    between = random.Random(seed).sample(range(1, len(points) - 1), max(quick - len(ends), 0))
    return [points[i] for i in sorted(ends | set(between))]


def runs(full: int, quick: int) -> int:
    """A loop's count of seeded runs: `full` with TIMEKEEP_FULL_LOOPS=1, else `quick`."""
    return full if FULL else quick
