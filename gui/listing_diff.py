"""What changed between two listings of one folder, worked out in the worker that read the new one.

A listing arrives at each moment the timeline passes; resetting the folder view for each costs the GUI
thread time in proportion to the folder (the sort proxy maps every row again, the view lays every row out),
so the view is told only which rows went, which came and which changed. Both listings come in the view's
default order (`listing.ordered`), so one merge walk over them finds all three; a listing out of that order
(two rows with one name: a folder deleted and made again as a file) gets no diff, and the view resets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from timekeep.gui.listing import Listing, Row, natural_key

Key = tuple[bool, tuple[str | int, ...], bytes]


@dataclass(frozen=True)
class RowsDiff:
    """From `base` to `rows`: ranges removed (start, count: positions in `base`), ranges inserted (positions
    in `rows`), and positions in `rows` whose row kept its place but changed (size, time, marker)."""

    base: Sequence[Row]
    rows: Sequence[Row]
    removed: tuple[tuple[int, int], ...]
    inserted: tuple[tuple[int, int], ...]
    changed: tuple[int, ...]

    @property
    def same(self) -> bool:
        return not (self.removed or self.inserted or self.changed)


def key(row: Row) -> Key:
    """The default order's key: folders first, then names as people sort them (`listing.ordered`)."""
    name = row.name
    return (not row.is_dir, natural_key(name), name)


def runs(positions: list[int]) -> tuple[tuple[int, int], ...]:
    """Consecutive positions as (start, count) ranges."""
    runs: list[tuple[int, int]] = []
    for p in positions:
        if runs and runs[-1][0] + runs[-1][1] == p:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((p, 1))
    return tuple(runs)


def diff_rows(base: Sequence[Row], rows: Sequence[Row]) -> RowsDiff | None:
    """The edit from `base` to `rows`, or None when either is not strictly in the default order."""
    if [(r.path, r.kind) for r in base] == [(r.path, r.kind) for r in rows]:  # the common case: same names
        return RowsDiff(base, rows, (), (), tuple(i for i, (a, b) in enumerate(zip(base, rows, strict=True))
                                                  if a != b))
    return _walk(base, rows)


def _walk(base: Sequence[Row], rows: Sequence[Row]) -> RowsDiff | None:
    old_keys, new_keys = [key(r) for r in base], [key(r) for r in rows]
    if not (_increasing(old_keys) and _increasing(new_keys)):
        return None
    removed: list[int] = []
    inserted: list[int] = []
    changed: list[int] = []
    i = j = 0
    while i < len(old_keys) or j < len(new_keys):
        if j == len(new_keys) or (i < len(old_keys) and old_keys[i] < new_keys[j]):
            removed.append(i)
            i += 1
        elif i == len(old_keys) or new_keys[j] < old_keys[i]:
            inserted.append(j)
            j += 1
        else:
            if base[i] != rows[j]:
                changed.append(j)
            i, j = i + 1, j + 1
    return RowsDiff(base, rows, runs(removed), runs(inserted), tuple(changed))


def _increasing(keys: list[Key]) -> bool:
    return all(a < b for a, b in pairwise(keys))


def diff_listing(base: dict[bytes, Sequence[Row]], listing: Listing) -> dict[bytes, RowsDiff | None]:
    """A diff for every folder listed that the view had loaded (`base`: folder -> the rows it showed)."""
    return {path: diff_rows(base[path], rows) for path, rows in listing.items() if path in base}
