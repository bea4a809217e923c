"""The watcher: a watchdog observer thread on every protected folder, feeding dirty paths to a buffer.

The observer thread only records paths (in memory, one entry per path) and where renamed ones came from; the agent
drains the buffer into each destination's journal. Whatever makes events unreliable — the kernel's queue
overflowing, a watch dying with its folder, the watch limit — is reported to the agent, which reconciles
with a metadata scan.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path

from watchdog.events import (
    DirAttribEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

from timekeep.core.index.moves import after_creation, after_move
from timekeep.core.watch.debounce import Seen, dirty_paths, seen_again
from timekeep.core.watch.limits import (
    LIMIT_FILE,
    RESERVE,
    Cover,
    WatchPlan,
    budget,
    child_dirs,
    count_dirs,
    plan_watches,
    read_limit,
)

# Everything that changes what a snapshot would store. Synthesized parent "modified" events are left out
# (dirty_paths adds parents itself), and so are opens and read-only closes, which change nothing.
EVENT_FILTER: list[type[FileSystemEvent]] = [
    FileCreatedEvent, DirCreatedEvent, FileDeletedEvent, DirDeletedEvent, FileMovedEvent, DirMovedEvent,
    FileModifiedEvent, FileAttribEvent, DirAttribEvent, FileClosedEvent,
]
WATCHDOG_LOGGER = "watchdog.observers.inotify_c"
MISSING = "the folder is missing; it is watched again once it is back"
log = logging.getLogger(__name__)


class EventBuffer:
    """Dirty paths between the observer thread and the agent: one entry per path, whatever its events."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._pending: dict[bytes, Seen] = {}
        self._origins: dict[bytes, bytes] = {}  # renamed path -> where it was (see timekeep.core.index.moves)
        self._last: float | None = None
        self._lost: list[str] = []
        self.tap: Callable[[str, bytes, bytes | None, bool], None] | None = None  # sees every event (the guard)

    def add(self, paths: Collection[bytes]) -> None:
        now = self.clock()
        with self._lock:  # in place: thousands of events a second must not copy the whole buffer each
            for path in paths:
                self._pending[path] = seen_again(self._pending.get(path), now)
            self._last = now

    def moved(self, src: bytes, dest: bytes, folder: bool) -> None:
        """A rename: `dest` now holds what `src` held (`src` empty: renamed in from an unwatched place)."""
        with self._lock:
            after_move(self._origins, src, dest, folder)

    def created(self, path: bytes) -> None:
        """A path created or deleted: what it holds did not come from anywhere."""
        with self._lock:
            after_creation(self._origins, path)

    def holds(self, path: bytes) -> bool:
        """Whether `path` waits here, reported but not drained into a journal yet."""
        with self._lock:
            return path in self._pending

    def drain(self) -> dict[bytes, Seen]:
        with self._lock:
            taken, self._pending = self._pending, {}
            return taken

    def take_origins(self) -> dict[bytes, bytes]:
        """Renamed paths and where they came from since the last call: journaled so a storage time can
        give them their origin's content and history instead of reading them."""
        with self._lock:
            taken, self._origins = self._origins, {}
            return taken

    def last_event(self) -> float | None:
        """When the latest event arrived (even if drained since): what debounce waits on."""
        with self._lock:
            return self._last

    def mark_lost(self, reason: str) -> None:
        """Events were lost (queue overflow, a watch died): the agent must reconcile with a scan."""
        with self._lock:
            self._lost.append(reason)

    def take_lost(self) -> list[str]:
        with self._lock:
            taken, self._lost = self._lost, []
            return taken


class _Handler(FileSystemEventHandler):
    def __init__(self, buffer: EventBuffer) -> None:
        self.buffer = buffer

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory and event.event_type == "modified":
            return
        src = os.fsencode(event.src_path)
        dest = os.fsencode(event.dest_path) if event.dest_path else None
        self.buffer.add(dirty_paths(event.event_type, src, dest))
        if self.buffer.tap is not None and not event.is_synthetic:
            self.buffer.tap(event.event_type, src, dest, event.is_directory)
        if event.is_synthetic:  # a moved folder's entries follow it; one created whole is walked whole
            return
        if event.event_type == "moved" and dest:
            self.buffer.moved(src, dest, event.is_directory)
        elif event.event_type in ("created", "deleted", "moved"):  # a move out of the watch is a deletion
            self.buffer.created(src)


def default_observer() -> BaseObserver:
    """On Linux, inotify reporting unpaired renames as moves (not as creations and deletions), so a file
    renamed into one protected folder from another is known to have arrived by a rename."""
    if sys.platform.startswith("linux"):
        from watchdog.observers.inotify import InotifyObserver

        return InotifyObserver(generate_full_events=True)
    return Observer()


class _OverflowSpy(logging.Handler):
    """watchdog rebuilds its watches after a kernel queue overflow but tells only its log: listen there."""

    def __init__(self, buffer: EventBuffer) -> None:
        super().__init__(logging.WARNING)
        self.buffer = buffer

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self.buffer.mark_lost("the kernel's event queue overflowed")


class FolderWatcher:
    """Watches folders recursively within the watch limit; a folder too big is watched in part, and what no
    watch covers is left to scans at each storage time."""

    def __init__(self, buffer: EventBuffer, limit_file: Path = LIMIT_FILE, reserve: float = RESERVE,
                 observer_factory: Callable[[], BaseObserver] = default_observer) -> None:
        self.buffer = buffer
        self.limit_file = limit_file
        self.reserve = reserve
        self.observer = observer_factory()
        self.handler = _Handler(buffer)
        self.spy = _OverflowSpy(buffer)
        self.watches: dict[bytes, list[ObservedWatch]] = {}  # by protected folder: one, or a cover's several
        self.covers: dict[bytes, Cover] = {}  # the protected folders watched in part, by what
        self.dir_counts: dict[bytes, int] = {}
        self.plan = WatchPlan()
        self._started = False

    def start(self) -> None:
        logging.getLogger(WATCHDOG_LOGGER).addHandler(self.spy)
        self.observer.start()
        self._started = True

    def stop(self) -> None:
        logging.getLogger(WATCHDOG_LOGGER).removeHandler(self.spy)
        if self._started:
            self.observer.stop()
            self.observer.join(timeout=10)
            self._started = False

    def watch(self, roots: Collection[bytes]) -> WatchPlan:
        """Watch exactly `roots` (existing watches are kept); returns which are watched whole, which in part and
        which fall back to scans."""
        for root in set(self.watches) - set(roots):
            self._unwatch(root)
        self.dir_counts = {r: self._count(r) for r in roots if os.path.isdir(r)}
        plan = plan_watches(self.dir_counts, read_limit(self.limit_file), self.reserve, child_dirs)
        fallback, partial = dict(plan.fallback), dict(plan.partial)
        for root in list(self.watches):  # kept only when watched the same way as before
            before, after = self.covers.get(root), None if root in plan.watched else partial.get(root, root)
            if before != after:
                self._unwatch(root)
        for root in plan.watched:
            problem = self._schedule(root, [(root, True)]) if root not in self.watches else None
            if problem is not None:
                fallback[root] = problem
        for root, part in partial.items():
            if root in self.watches:
                continue
            problem = self._schedule(root, [*((n, False) for n in part.nodes), *((w, True) for w in part.whole)])
            if problem is None:
                self.covers[root] = part
            else:
                fallback[root] = problem
                del partial[root]
        missing = {r: MISSING for r in roots if r not in self.dir_counts}
        self.plan = WatchPlan(tuple(r for r in plan.watched if r in self.watches), {**fallback, **missing},
                              {r: p for r, p in partial.items() if r in self.watches})
        return self.plan

    def to_scan(self, roots: Collection[bytes]) -> list[bytes]:
        """What a storage time of `roots` must scan for want of watches: each folder not watched at all, and
        what the cover of one watched in part leaves out."""
        found: list[bytes] = []
        for root in roots:
            if root in self.plan.partial:
                found.extend(self.plan.partial[root].uncovered())
            elif root not in self.plan.watched:
                found.append(root)
        return found

    def _count(self, root: bytes) -> int:
        if root in self.dir_counts:
            return self.dir_counts[root]
        allowed = budget(read_limit(self.limit_file), self.reserve)
        return count_dirs(root, stop_after=allowed)

    def _schedule(self, root: bytes, paths: list[tuple[bytes, bool]]) -> str | None:
        """Start watching `root` through `paths` (each with or without what is below it); a reason to fall back
        to scans if the kernel refuses, and then none of them is kept."""
        self.watches[root] = []
        try:
            for path, recursive in paths:
                self.watches[root].append(self.observer.schedule(self.handler, os.fsdecode(path), recursive=recursive,
                                                                 event_filter=EVENT_FILTER))
        except OSError as err:
            log.warning("cannot watch %s: %s", os.fsdecode(root), err)
            self._unwatch(root)
            if err.errno == errno.ENOSPC:
                return f"{os.fsdecode(root)}: the file watch limit is reached; it is scanned at each backup"
            return f"{os.fsdecode(root)} cannot be watched ({err.strerror or err}); it is scanned instead"
        return None

    def _unwatch(self, root: bytes) -> None:
        self.covers.pop(root, None)
        for watch in self.watches.pop(root, []):
            try:
                self.observer.unschedule(watch)
            except (KeyError, OSError) as err:  # its emitter already stopped with a deleted folder
                log.debug("unwatching %s: %s", os.fsdecode(root), err)

    def returned(self) -> list[bytes]:
        """Folders that were missing when last watched and exist again: call `watch` to pick them up."""
        return [root for root, why in self.plan.fallback.items() if why == MISSING and os.path.isdir(root)]

    def dead(self) -> list[bytes]:
        """Watched folders whose watch stopped (the folder was deleted or moved away); they are dropped so
        the next `watch` call can try again, and their events since may be lost."""
        alive = {e.watch for e in self.observer.emitters if e.is_alive()}
        gone = [root for root, watches in self.watches.items() if any(w not in alive for w in watches)]
        for root in gone:
            self._unwatch(root)
            self.dir_counts.pop(root, None)
        return gone
