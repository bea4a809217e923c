"""Where the timeline's ticks, groups of close ticks and labels stand, worked out once per history, width and
second, so a drag over thousands of snapshots reads them instead of placing every tick again on each mouse
move and each repaint (the rules themselves are `timeline_scale`'s).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from PySide6.QtCore import QLineF

from timekeep.core.types import SnapshotInfo
from timekeep.gui import wording
from timekeep.gui.widgets.timeline_scale import CLOSE_PX, Scale, labels, nearest, span_for


@dataclass(frozen=True)
class Geometry:
    scale: Scale
    xs: tuple[float, ...]  # one per snapshot (oldest first), then Now
    runs: tuple[tuple[int, ...], tuple[int, ...]]  # for each position: the first and last of its close ticks
    labels: tuple[tuple[float, str], ...]
    ordered: bool  # xs never go back (a snapshot dated after the clock's now would)

    def nearest(self, x: float) -> int:
        """As `timeline_scale.nearest`: the closest tick, ties to the later one; a binary search when ordered."""
        xs = self.xs
        if not self.ordered:
            return nearest(xs, x)
        i = bisect_left(xs, x)
        if i == len(xs) or (i > 0 and x - xs[i - 1] < xs[i] - x):
            i -= 1
        return bisect_right(xs, xs[i]) - 1

    def close_to(self, i: int) -> range:
        """As `timeline_scale.close_to`: the run of close ticks around position `i`."""
        return range(self.runs[0][i], self.runs[1][i] + 1)


def runs_of(xs: Sequence[float], gap: float = CLOSE_PX) -> tuple[tuple[int, ...], tuple[int, ...]]:
    firsts, lasts = [0] * len(xs), [0] * len(xs)
    for i in range(1, len(xs)):
        firsts[i] = firsts[i - 1] if xs[i] - xs[i - 1] < gap else i
    last = len(xs) - 1
    for i in range(len(xs) - 1, -1, -1):
        if i < len(xs) - 1 and xs[i + 1] - xs[i] >= gap:
            last = i
        lasts[i] = last
    return tuple(firsts), tuple(lasts)


def geometry(snapshots: Sequence[SnapshotInfo], now_ns: int, left: float, right: float) -> Geometry:
    start, end = span_for([s.time_ns for s in snapshots], now_ns)
    scale = Scale(start, end, left, right)
    xs = tuple([scale.x(s.time_ns) for s in snapshots] + [scale.x(end)])
    ordered = all(a <= b for a, b in pairwise(xs))
    return Geometry(scale, xs, runs_of(xs), tuple(labels(scale, wording.local_time(now_ns))), ordered)


class GeometryCache:
    """The geometry of the last history, right edge and second asked for; anything else is worked out anew."""

    def __init__(self) -> None:
        self._key: tuple[object, ...] = ()
        self._snapshots: Sequence[SnapshotInfo] | None = None
        self._value: Geometry | None = None
        self._lines: tuple[Geometry | None, frozenset[int], float] = (None, frozenset(), 0.0)
        self._tick_lines: tuple[list[QLineF], list[QLineF]] = ([], [])

    def get(self, snapshots: Sequence[SnapshotInfo], now_ns: int, left: float, right: float) -> Geometry:
        key = (len(snapshots), now_ns // 10**9, left, right)
        if self._value is None or snapshots is not self._snapshots or key != self._key:
            self._value = geometry(snapshots, now_ns, left, right)
            self._snapshots, self._key = snapshots, key
        return self._value

    def tick_lines(self, geo: Geometry, snapshots: Sequence[SnapshotInfo], marked: frozenset[int], y: float,
                   half: Callable[[bool], float]) -> tuple[list[QLineF], list[QLineF]]:
        """The plain and the marked ticks' lines, one per half pixel: thousands of snapshots on a line of a
        thousand pixels draw no more lines than there are places to draw them."""
        if self._lines[0] is not geo or self._lines[1] != marked or self._lines[2] != y:
            places: tuple[set[float], set[float]] = (set(), set())
            for snap, x in zip(snapshots, geo.xs, strict=False):
                places[snap.id in marked].add(round(x * 2) / 2)
            plain, changed = ([QLineF(x, y - half(m), x, y + half(m)) for x in sorted(places[m])]
                              for m in (False, True))
            self._tick_lines, self._lines = (plain, changed), (geo, marked, y)
        return self._tick_lines
