"""The agent's door to a repository's journal of changed paths (see core/index/journal.py for what it is).

The journal lives in the repository's index on the drive. It is written only through the index in place:
never through the local copy a reader takes when the drive is full or read-only (the rows would vanish with
the copy), and never into an index that is missing or damaged (opening a repository never creates one;
the next writer rebuilds it, and a scan finds again what the journal would have held).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping

from peewee import SqliteDatabase

from timekeep.core.capture.excludes import Excludes
from timekeep.core.capture.scan import FolderScan
from timekeep.core.errors import BackupCancelled, StorageError
from timekeep.core.index import journal, queries
from timekeep.core.index.folder_digests import FolderDigests
from timekeep.core.index.journal import JournalEntry, JournalStats, size_on_disk
from timekeep.core.types import FolderInfo

BATCH = 5000
COPY_REFUSED = ("the backup drive is full or read-only, so its index is read from a copy on this computer; "
                "changes are not journaled there and a scan finds them once the drive has room")


class JournalView:
    """The journal of one open repository."""

    def __init__(self, db: SqliteDatabase, on_copy: bool, writing: Callable[[], None] | None = None) -> None:
        self._db = db
        self._on_copy = on_copy
        self._writing = writing  # told before each write (the integrity check's stamp follows its own writes)

    def _writable(self) -> SqliteDatabase:
        if self._on_copy:
            raise StorageError(COPY_REFUSED)
        if self._writing is not None:
            self._writing()
        return self._db

    def record(self, entries: Iterable[JournalEntry], now_ns: int) -> int:
        return journal.record(self._writable(), entries, now_ns)

    def stats(self) -> JournalStats:
        return journal.stats(self._db)

    def watermark(self) -> int:
        return journal.watermark(self._db)

    def pending(self, upto: int | None = None) -> dict[bytes, set[bytes]]:
        return journal.pending(self._db, upto)

    def clear(self, upto: int, folders: Iterable[bytes] | None = None) -> int:
        return journal.clear(self._writable(), upto, folders)

    def pending_before(self, upto: int, before_ns: int) -> dict[bytes, set[bytes]]:
        return journal.pending(self._db, upto, before_ns)

    def clear_paths(self, upto: int, paths: Iterable[bytes]) -> int:
        return journal.clear_paths(self._writable(), upto, paths)

    def changed_under(self, folder: bytes) -> list[tuple[bytes, int]]:
        return journal.changed_under(self._db, folder)

    def reconcile(self, folders: Iterable[FolderInfo], cancel: threading.Event | None = None,
                  now_ns: int = 0, parts: Mapping[bytes, Collection[bytes]] | None = None) -> int:
        """Scan the folders (metadata only) and journal whatever differs from the index; returns how many.
        A folder named in `parts` is scanned only there: at and below each of its sub-folders listed."""
        db, stop, total = self._writable(), cancel or threading.Event(), 0
        for folder in folders:
            within = None if parts is None else parts.get(folder.path)
            found = _differing(db, folder, stop) if within is None else _differing_within(db, folder, within, stop)
            total += _record(db, folder.path, found, now_ns)
        return total


def _differing(db: SqliteDatabase, folder: FolderInfo, cancel: threading.Event) -> Iterator[bytes]:
    """Paths under `folder` whose metadata differs from the index; a folder never stored is one path,
    its root, which the next snapshot walks whole."""
    if queries.file_id(db, folder.path) is None:
        yield folder.path
        return
    digests = FolderDigests(db)  # a full scan: it keeps the digests of the folders it finds as stored
    scan = FolderScan(db, folder.path, Excludes(folder.excludes), lambda error: None, digests=digests)
    for item in scan.items():
        if cancel.is_set():
            raise BackupCancelled("reconciliation cancelled; the journal keeps what it found so far")
        yield item.path
    digests.write()


def _differing_within(db: SqliteDatabase, folder: FolderInfo, tops: Collection[bytes],
                      cancel: threading.Event) -> Iterator[bytes]:
    """As `_differing`, at and below each of `tops` only: the parts of a folder no watch covers."""
    if queries.file_id(db, folder.path) is None:
        yield folder.path
        return
    scan = FolderScan(db, folder.path, Excludes(folder.excludes), lambda error: None)
    for item in scan.subtree_items(tops):
        if cancel.is_set():
            raise BackupCancelled("reconciliation cancelled; the journal keeps what it found so far")
        yield item.path


def _record(db: SqliteDatabase, root: bytes, paths: Iterable[bytes], now_ns: int) -> int:
    """Each batch is stamped when it is recorded, not when the scan began: a long scan meets changes made
    while it ran, and "changed before T" (the guard's storage time just before a burst) must not take a path
    the scan saw only after T for one changed before it."""
    count, batch = 0, []
    for path in paths:
        batch.append(JournalEntry(root, path, size_on_disk(path)))
        if len(batch) >= BATCH:
            count += len(batch)
            journal.record(db, batch, max(now_ns, time.time_ns()))
            batch = []
    journal.record(db, batch, max(now_ns, time.time_ns()))
    return count + len(batch)
