"""Read an index that cannot be opened in place (a full or read-only drive) from a consistent local copy.

SQLite in WAL mode must create and size `index.db-shm` before anyone may read, and a drive without a free
byte refuses, so every reader would fail with "the drive is full". SQLite's own ways around the -shm file
do not fit: `immutable=1` ignores the -wal file, so snapshots committed but not yet checkpointed would
vanish; `locking_mode=EXCLUSIVE` needs a write lock a read-only open cannot take, and opened read-write it
checkpoints on close — a write to the full drive. So `index.db` and its -wal are copied to a local
temporary folder and the copy is opened there: SQLite replays the copied -wal with a -shm of its own, and
nothing on the drive is written.

The pair is consistent only if no checkpoint runs between the two copies. Writers are kept out by holding
the writer lock shared while copying (a live writer makes the copy refuse); a reader closing elsewhere may
still checkpoint, so both files' stats are compared before and after and the copy is taken again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from peewee import SqliteDatabase

from timekeep.core.errors import RepositoryLocked, StorageError
from timekeep.core.index.schema import open_index
from timekeep.core.storage.lock import writers_kept_out

ATTEMPTS = 3
Stamp = tuple[int, int, int, int] | None


def open_copy(index: Path, lock: Path) -> tuple[SqliteDatabase, Path]:
    """The index opened from a fresh local copy, and the folder holding it (the caller removes it)."""
    scratch = Path(tempfile.mkdtemp(prefix="timekeep-index-"))
    try:
        with writers_kept_out(lock) as still:
            if not still:
                raise RepositoryLocked("a backup is running on this repository; try again when it has stopped")
            _copy_consistent(index, scratch / index.name)
        return open_index(scratch / index.name), scratch
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def _copy_consistent(index: Path, copy: Path) -> None:
    """Copy the index and its -wal, again if either changed while being copied."""
    wal = Path(f"{index}-wal")
    for _ in range(ATTEMPTS):
        before = (_stamp(index), _stamp(wal))
        _copy_pair(index, wal, copy)
        if (_stamp(index), _stamp(wal)) == before:
            return
    raise StorageError("the index kept changing while it was being read; try again")


def _copy_pair(index: Path, wal: Path, copy: Path) -> None:
    """The database first, then its log: frames written meanwhile are then in the log copy too."""
    shutil.copyfile(index, copy)
    copied_wal = Path(f"{copy}-wal")
    copied_wal.unlink(missing_ok=True)
    with contextlib.suppress(FileNotFoundError):  # no -wal: everything is in the database file
        shutil.copyfile(wal, copied_wal)


def _stamp(path: Path) -> Stamp:
    """What changes when a file is written, truncated or replaced; None for a missing file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns
