"""The cyclic garbage collector held off while the engine makes many objects that all outlive the work.

A first listing's entries and a restore plan's pieces and chunk places are all kept by the caller, so the
collector's runs over them, every 700 new objects, free nothing: a first listing of 10,000 rows ran it 26
times, twice over all the process kept young, 2-5 ms in all (bench/README.md, "The first listing, second
pass"); the 2 GiB image's plan (70,000 objects) spent 40 ms of its 180 in it ("The image's plan").
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Collector:
    """The collector paused while any such work runs, in any thread, nested or not. When the last ends it is
    enabled again (if it was) and the young objects are collected once, there, in that thread: the work it
    would have done, once."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._running = 0
        self._enabled = False  # whether the collector ran when the first work paused it

    @contextmanager
    def paused(self) -> Iterator[None]:
        with self._guard:
            if self._running == 0:
                self._enabled = gc.isenabled()
                gc.disable()
            self._running += 1
        try:
            yield
        finally:
            with self._guard:
                self._running -= 1
                resume = self._running == 0 and self._enabled
                if resume:
                    gc.enable()
            if resume:  # outside the guard: a finalizer the collection runs may list or plan
                gc.collect(0)


COLLECTOR = Collector()  # the process's one collector, paused by every listing and plan
