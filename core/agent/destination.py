"""One repository the agent stores to: whether it is there, which folders it protects, and its journal.

While the drive is connected the agent journals dirty paths into the repository's index, opening it for
each write. While it is absent nothing is written anywhere near it; events it misses are found by a
reconciliation scan when it comes back.

A repository in a bucket (`s3://…`) keeps its index on this computer: once it was reached and the index
brought up to the bucket, its journal, folder list and counts are read and written there, so following
the folders costs no request; only its storage times, scans and the plans it serves go to the network.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from peewee import DatabaseError

from timekeep.core import protected, unlocking
from timekeep.core.agent import locked as locking
from timekeep.core.agent.where import Where, is_remote
from timekeep.core.api import Timekeep
from timekeep.core.capture.excludes import Excludes
from timekeep.core.crypto.sealing import unlocked
from timekeep.core.drives import Presence
from timekeep.core.errors import IndexMissing, TimekeepError
from timekeep.core.index import journal
from timekeep.core.index.journal import JournalEntry, JournalStats
from timekeep.core.journaling import JournalView
from timekeep.core.storage.layout import layout_of, load_config, read_folders

if TYPE_CHECKING:
    from timekeep.core.agent.storage import Standing

log = logging.getLogger(__name__)


def protected_by(path: bytes, folders: Mapping[bytes, Excludes]) -> bytes | None:
    """The protected root `path` belongs to, or None if it is outside every folder or excluded."""
    root = journal.folder_of(path, folders)
    if root is None:
        return None
    rel = path[len(root.rstrip(b"/")) + 1 :]
    parts = rel.split(b"/") if rel else []
    excludes = folders[root]
    if any(excludes.excluded(name, b"/".join(parts[: i + 1])) for i, name in enumerate(parts)):
        return None
    return root


class Destination:
    """Holds no file open on the drive between uses, so the person can always eject it."""

    def __init__(self, path: Where, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.key = str(path)
        self.remote = is_remote(path)
        self.clock = clock
        self.presence = Presence(False, "not looked at yet")
        self.folders: dict[bytes, Excludes] = {}
        self.needs_reconcile = True  # events may have been missed: scan before the next storage time
        self.owed: str | None = None  # an event's storage time waiting for its chance ("first", "drive-connected")
        self.last_ns: int | None = None  # its latest snapshot
        self.snapshot_count = 0
        self.stats = JournalStats(0, 0, None)
        self.reader_lock = threading.Lock()
        self._reader: Timekeep | None = None
        self._reader_used = 0.0
        self._index_id = ""
        self.locked: str | None = None  # encrypted and no key: why, and how to give it
        self.slots: locking.SlotsSeen = ()  # the key slots when it was last tried
        self.skip_noted = False  # a storage time skipped while locked was said in the log
        self.seen = False  # attached at least once since the agent started

    @property
    def present(self) -> bool:
        return self.presence.present

    @contextmanager
    def journal(self) -> Iterator[JournalView]:
        """The repository's journal, open for one use. Opening never creates an index: a missing or damaged
        one raises (IndexMissing, IndexDamaged), and on a full drive writing to it is refused. A locked one's
        is this computer's index, opened without the key."""
        if self.remote:
            with locking.journal_at(self._index()) as view:
                yield view
            return
        if self.locked is not None:
            with locking.local_journal(self._drive()) as view:
                yield view
            return
        with Timekeep.open(self.path) as tk:
            yield tk.journal

    def attach(self, presence: Presence) -> None:
        """The drive is here: read what it protects and holds; events it missed need a scan."""
        self.unlock()  # before it shows as present: never present and unlocked while it is locked
        self.presence = presence
        self.needs_reconcile = True
        self._catch_up()
        self.refresh_folders()
        self.refresh()
        self._index_id = self._current_index_id()

    def unlock(self) -> bool:
        """Unlock it unattended (the environment, the keyring; it may be already); True once it is open."""
        self.slots = () if self.remote else locking.slots_seen(self._drive())
        self.locked = locking.unattended(self.path)
        return self.locked is None

    def _drive(self) -> Path:
        assert isinstance(self.path, Path), "a drive's destination"
        return self.path

    def _index(self) -> Path:
        """This computer's index of a repository in a bucket (known once the bucket was reached)."""
        if self.presence.repository_id is None:
            raise IndexMissing(f"{self.key} has not been reached yet")
        return locking.index_of(self.presence.repository_id)

    def _catch_up(self) -> None:
        """A bucket was reached: bring this computer's index up to it (what other computers or a command
        stored meanwhile), as any reader does; a repository that is still locked waits for its key."""
        if self.remote and self.locked is None:
            with Timekeep.open(self.path):
                pass

    def opened(self) -> None:
        """Unlocked at last: its folder list is the drive's again, and what changed meanwhile is scanned for."""
        self.needs_reconcile = True
        self._catch_up()
        self.refresh_folders()
        self.refresh()
        self._index_id = self._current_index_id()

    def may_unlock_now(self) -> bool:
        """A locked destination is worth trying again: given a key meanwhile, or its key slots changed."""
        if self.locked is None:
            return False
        if self.remote:  # its key slots are not watched over the network: only a key given counts
            return self.presence.repository_id is not None and unlocked(self.presence.repository_id) is not None
        config = load_config(self._drive())
        return unlocking.holds_key(config) or locking.slots_seen(self._drive()) != self.slots

    def _current_index_id(self) -> str:
        """The name its index file got when it was made, read from that file alone: asked at every drive poll,
        where a reader's open would also survey the drive (the storage times and plans that use the index open
        it properly)."""
        if self.remote:
            return locking.index_id_at(self._index()) if self.presence.repository_id else ""
        try:
            drive = self._drive()
            return locking.index_id_at(layout_of(drive, load_config(drive)).index)
        except (TimekeepError, OSError, DatabaseError):  # not readable now: asked again at the next poll
            return ""

    def index_replaced(self) -> bool:
        """True once when the index was rebuilt (by `timekeep rebuild-index`, or by a writer that found it
        missing, damaged or behind the drive): its journal starts empty, so what the old one held must be
        found again by a scan."""
        if not self.present or self.locked is not None:  # unlocking (`opened`) reads its id afresh
            return False
        now = self._current_index_id()
        replaced = now != self._index_id and now != ""
        self._index_id = now or self._index_id
        return replaced

    def detach(self, presence: Presence) -> None:
        self.presence = presence
        self.needs_reconcile = True
        self.owed = None  # set again when it comes back
        self.close_reader()

    def close_reader(self, idle_s: float = 0.0) -> None:
        """Close the plan/chunk reader once unused for `idle_s` seconds (it keeps pack files open)."""
        with self.reader_lock:
            if self._reader is not None and self.clock() - self._reader_used >= idle_s:
                self._reader.close()
                self._reader = None

    def refresh_folders(self) -> bool:
        """Re-read folders.json (the drive's record of what is protected); True when it changed."""
        try:
            if self.remote:
                return self._set_folders(locking.folders_at(self._index()))
            if self.locked is not None:
                return self._set_folders(locking.local_folders(self._drive()))
            entries = read_folders(layout_of(self._drive(), load_config(self._drive())))
        except (OSError, ValueError, TimekeepError, DatabaseError) as err:
            log.warning("%s: cannot read its folder list: %s", self.key, err)
            return False
        return self._set_folders({os.fsencode(str(e["path"])): Excludes(list(e.get("excludes", []))) for e in entries})

    def _set_folders(self, folders: dict[bytes, Excludes]) -> bool:
        changed = {p: e.patterns for p, e in folders.items()} != {p: e.patterns for p, e in self.folders.items()}
        self.folders = folders
        if changed:
            protected.quietly_publish(self.path, folders)  # the file managers' right-click follows
        return changed

    def refresh(self) -> None:
        """Re-read its snapshot count, latest snapshot and journal size (after a storage time, a flush)."""
        if self.remote:
            snaps, self.stats = locking.counts_at(self._index())
        elif self.locked is not None:
            snaps, self.stats = locking.local_counts(self._drive())
        else:
            with Timekeep.open(self.path) as tk:
                snaps = tk.snapshots()
                self.stats = tk.journal.stats()
        self.snapshot_count = len(snaps)
        self.last_ns = snaps[-1].time_ns if snaps else None

    def stands(self, standing: Standing) -> None:
        """What a storage time found as it closed the repository: `refresh`'s figures, without opening it again."""
        self.snapshot_count, self.last_ns, self.stats = standing.snapshots, standing.last_ns, standing.journal

    def record(self, sizes: Mapping[bytes, int], now_ns: int, origins: Mapping[bytes, bytes] | None = None) -> int:
        """Journal the dirty paths this destination protects (with where renamed ones came from); returns how many."""
        entries = []
        for path, size in sizes.items():
            root = protected_by(path, self.folders)
            if root is not None:
                entries.append(JournalEntry(root, path, size, (origins or {}).get(path)))
        if entries:
            with self.journal() as view:
                view.record(entries, now_ns)
                self.stats = view.stats()
        return len(entries)

    def reader(self) -> Timekeep:
        """A read-only engine for serving plans and chunks; use under `reader_lock`."""
        if self._reader is None:
            self._reader = Timekeep.open(self.path)
        self._reader_used = self.clock()
        return self._reader
