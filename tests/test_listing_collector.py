"""The garbage collector paused while listings make their entries (core/collector.py): paused for as long as
any listing runs, in any thread, nested or not, then as it was before the first, even when a listing fails;
and a listing made with it paused is the same listing. Counted, never timed (bench/listing.py times it)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.test_listing_work import cold, fresh, history
from timekeep.core.collector import Collector


@contextmanager
def collector(enabled: bool) -> Iterator[None]:
    """The collector enabled or not for the block, as it was after."""
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        yield
    finally:
        (gc.enable if was else gc.disable)()


def test_the_collector_is_paused_while_any_listing_runs_then_as_it_was() -> None:
    pause = Collector()
    with collector(True):
        with pause.paused():
            assert not gc.isenabled()
            with pause.paused():  # nested
                assert not gc.isenabled()
            assert not gc.isenabled()
        assert gc.isenabled()
    with collector(False):  # a process that turned it off keeps it off
        with pause.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()


def test_overlapping_listings_in_threads_leave_it_on_only_when_the_last_ends() -> None:
    pause = Collector()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[bool] = []

    def second() -> None:
        first_in.wait()
        with pause.paused():
            second_in.set()
            first_out.wait()
            seen.append(gc.isenabled())  # the first listing ended, this one still runs
        seen.append(gc.isenabled())

    with collector(True):
        worker = threading.Thread(target=second)
        worker.start()
        with pause.paused():
            first_in.set()
            second_in.wait()
        first_out.set()
        worker.join()
        assert seen == [False, True] and gc.isenabled()


def test_a_failing_listing_gives_the_collector_back() -> None:
    pause = Collector()
    with collector(True):
        with pytest.raises(RuntimeError), pause.paused():
            raise RuntimeError("damaged")
        assert gc.isenabled()


def test_a_listing_with_the_collector_paused_is_the_listing(tmp_path: Path) -> None:
    repo, folder, sids = history(tmp_path, 3)
    with collector(True), fresh(repo) as tk:
        for sid in sids:
            listed = tk.list_dir(folder, sid)
            assert gc.isenabled()
            assert listed == cold(tk, folder, sid) and len(listed) >= 60
