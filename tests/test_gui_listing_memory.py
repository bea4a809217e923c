"""A listing's rows kept away from the garbage collector (gui/listing_memory.py): rows that did not change are
the view's own objects, equal listings stay equal, and the collector's setting comes back after a listing,
however listings overlap. Counted, never timed (bench/timeline_drag.py times the pauses)."""

from __future__ import annotations

import gc
import threading

from hypothesis import given

from tests.test_gui_listing_diff import ROOT, folder_rows, listings
from timekeep.gui.listing import Listing, Row
from timekeep.gui.listing_diff import diff_listing
from timekeep.gui.listing_memory import LISTING_THRESHOLD, fewer_collections, reuse, reuse_listing


def copied(rows: list[Row]) -> list[Row]:
    """Equal rows that are other objects, as a new listing makes them."""
    return [Row(*(bytes(v) if isinstance(v, bytes) else v for v in row)) for row in rows]


@given(folder_rows(ROOT), folder_rows(ROOT))
def test_a_row_that_did_not_change_is_the_one_the_view_shows(base: list[Row], new: list[Row]) -> None:
    fresh = copied(new)
    kept = reuse(base, fresh)
    assert kept == new  # the same listing
    shown = {row.path: row for row in base}
    for row, made in zip(kept, fresh, strict=True):
        old = shown.get(row.path)
        assert (row is old) == (old == made) and (row is made) != (old == made)


@given(listings(), listings())
def test_reused_listings_diff_as_the_listings_made(base: Listing, new: Listing) -> None:
    fresh = {path: copied(rows) for path, rows in new.items()}
    loaded = {path: rows for path, rows in base.items()}
    kept = reuse_listing(loaded, fresh)
    assert kept == new
    made, reused = diff_listing(loaded, fresh), diff_listing(loaded, kept)
    assert {p: d and (d.removed, d.inserted, d.changed) for p, d in made.items()} == \
        {p: d and (d.removed, d.inserted, d.changed) for p, d in reused.items()}


def test_the_collector_setting_comes_back_after_overlapping_listings() -> None:
    usual = gc.get_threshold()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[int] = []

    def first() -> None:
        with fewer_collections():
            first_in.set()
            second_in.wait(10)
            seen.append(gc.get_threshold()[0])
        first_out.set()

    worker = threading.Thread(target=first)
    worker.start()
    first_in.wait(10)
    with fewer_collections():
        second_in.set()
        first_out.wait(10)
        seen.append(gc.get_threshold()[0])  # the first ended while this one runs: still raised
    worker.join(10)
    assert seen == [LISTING_THRESHOLD, LISTING_THRESHOLD] and gc.get_threshold() == usual


def young_collections() -> int:
    return int(gc.get_stats()[0]["collections"])


def test_rows_made_during_a_listing_and_dropped_are_never_promoted() -> None:
    """Ten thousand rows made and replaced by the view's own: no collection runs meanwhile to promote them
    (one runs at the end, when they are gone), where the usual setting runs one every 700 objects."""
    base = [Row(b"/r/f%05d" % i, "file", i, i) for i in range(10_000)]
    began = young_collections()
    copied(base)
    usual = young_collections() - began
    began = young_collections()
    with fewer_collections():
        kept = reuse(base, copied(base))
        during = young_collections() - began
    assert all(a is b for a, b in zip(kept, base, strict=True))
    assert during == 0 and young_collections() - began == 1 and usual >= 10, (during, usual)
