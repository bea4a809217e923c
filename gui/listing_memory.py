"""A listing's objects kept away from the garbage collector, so its pauses do not stall a dragged timeline.

CPython's full collection walks every object the collector tracks while holding the GIL, and it runs once
enough objects have survived into the oldest generation since the last one. A 10,000-entry folder listed at
every moment a drag passes made 10,000 new rows each time, which lived on in the view until the next listing:
full collections came every few listings, each walking every row of every listing still alive (up to 1 s of
a worker holding the GIL at a load of 10, the window blocked: bench/README.md, "Dragging the timeline"). So:
- a row that is the same as the one the view shows for that name is that one (`reuse`): only the rows that
  changed are new objects, and only they can grow the oldest generation;
- during a listing the youngest generation is collected less often (`fewer_collections`), so the rows made
  and dropped again by `reuse` die young, freed by their reference counts, never promoted on the way;
- once the window's first listing is read, everything made so far that is not garbage (the modules, Qt's
  wrappers, the history's snapshots: about 100,000 objects) is moved out of the collector's sight (`settled`:
  gc.freeze), so a full collection walks only what came after: 50 → 5–10 ms of processor each, measured.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from timekeep.gui.listing import Listing, Row

# objects made between two collections of the youngest generation while a listing runs (CPython's default:
# 700): above what one listing of 10,000 entries makes and keeps until it ends
LISTING_THRESHOLD = 200_000
_guard = threading.Lock()
_running = [0, 0]  # listings running now, and the threshold they found


@contextmanager
def fewer_collections() -> Iterator[None]:
    """The youngest generation collected only every LISTING_THRESHOLD objects while the block runs (in any
    thread, nested or not), then young objects collected once, here, before the usual threshold returns:
    so that collection happens in the listing's worker, not in whichever thread allocates next."""
    with _guard:
        if _running[0] == 0:
            _running[1] = gc.get_threshold()[0]
            gc.set_threshold(max(LISTING_THRESHOLD, _running[1]), *gc.get_threshold()[1:])
        _running[0] += 1
    try:
        yield
    finally:
        with _guard:
            _running[0] -= 1
            if _running[0] == 0:
                gc.collect(0)
                gc.set_threshold(_running[1], *gc.get_threshold()[1:])


def settled() -> None:
    """The window is up: what exists now lives as long as it does, and is never walked again. Once a process,
    in the listing's worker: garbage is collected first (one full collection), so none is kept for good."""
    with _guard:
        if gc.get_freeze_count() == 0:
            gc.collect()
            gc.freeze()


def reuse(base: Sequence[Row], rows: list[Row]) -> list[Row]:
    """`rows`, where a row equal to the one `base` holds for its name is that same object."""
    if len(base) == len(rows) and all(a.path == b.path for a, b in zip(base, rows, strict=True)):
        return [a if a == b else b for a, b in zip(base, rows, strict=True)]  # the common case: same names
    shown = {row.path: row for row in base}
    return [_same(shown.get(row.path), row) for row in rows]


def _same(old: Row | None, new: Row) -> Row:
    return old if old is not None and old == new else new


def reuse_listing(base: dict[bytes, Sequence[Row]], listing: Listing) -> Listing:
    """Each folder's rows with those the view already shows reused (`reuse`)."""
    return {path: reuse(base[path], rows) if path in base else rows for path, rows in listing.items()}
