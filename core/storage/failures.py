"""Turn the ways a drive fails (full, read-only, unplugged, I/O errors) into one clear StorageError."""

from __future__ import annotations

import errno
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from peewee import OperationalError

from core.errors import StorageError

DRIVE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.ENODEV, errno.ENXIO}
LOW_SPACE = 4 << 20
FULL = "the backup drive is full; free some space (or thin old snapshots) and try again"
SQLITE_DRIVE_WORDS = ("full", "i/o error", "readonly", "read-only", "unable to open")


def drive_message(err: BaseException | None) -> str | None:
    """A person's sentence for a drive failure anywhere in `err`'s chain, or None if it is something else.

    The chain matters: when a commit fails for lack of space, SQLite has already rolled back, and the
    rollback that follows fails with a message that names neither the drive nor the space.
    """
    seen = 0
    while err is not None and seen < 8:
        message = _one_message(err)
        if message is not None:
            return message
        err, seen = err.__cause__ or err.__context__, seen + 1
    return None


def _one_message(err: BaseException) -> str | None:
    if isinstance(err, OSError) and err.errno in DRIVE_ERRNOS:
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            return FULL
        return f"cannot write to the backup drive: {err.strerror or err}"
    if isinstance(err, (OperationalError, sqlite3.OperationalError)):
        text = str(err).lower()
        if "full" in text:
            return FULL
        if any(word in text for word in SQLITE_DRIVE_WORDS):
            return f"cannot write the index on the backup drive: {err}"
    return None


def nearly_full(root: Path) -> bool:
    try:
        return shutil.disk_usage(root).free < LOW_SPACE
    except OSError:
        return False


@contextmanager
def drive_errors(root: Path) -> Iterator[None]:
    """Re-raise drive failures inside the block as StorageError; nothing already stored is lost by them.

    SQLite reports a full drive as a plain I/O error when it cannot grow its journal, so an I/O error
    on a drive with almost no free space is called what it is.
    """
    try:
        yield
    except (OSError, OperationalError, sqlite3.OperationalError) as err:
        message = drive_message(err)
        if message is None:
            raise
        if "full" not in message and nearly_full(root):
            message = FULL
        raise StorageError(message) from err
