"""Turn the ways a drive fails (full, read-only, unplugged, I/O errors) into one clear StorageError.

Three kinds, so callers act on the kind and never on the wording: `DriveFull` (thinning can make room),
`DriveGone` (the drive was disconnected or failed: reconnect it) and a plain `StorageError` (read-only,
or any other refusal to write). An unplugged drive does not always say EIO: after a lazy unmount, paths
inside the repository give ENOENT and a descriptor closed by the failure gives EBADF. Those two count as
the drive going only when the repository root no longer holds its config.json; otherwise they are
ordinary errors and are not disguised as the drive's.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from peewee import OperationalError

from timekeep.core.errors import DriveFull, DriveGone, StorageError
from timekeep.core.storage.layout import CONFIG_NAME
from timekeep.core.storage.location import RemoteRoot

FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
GONE_ERRNOS = {errno.EIO, errno.ENODEV, errno.ENXIO, errno.ESTALE, errno.ENOTCONN}
LOST_ERRNOS = {errno.EBADF, errno.ENOENT}  # the drive's, only when the repository is no longer there
DRIVE_ERRNOS = FULL_ERRNOS | GONE_ERRNOS | {errno.EROFS}
LOW_SPACE = 4 << 20
FULL = "the backup drive is full; free some space (or thin old snapshots) and try again"
SQLITE_DRIVE_WORDS = ("full", "i/o error", "readonly", "read-only", "unable to open")


def gone(why: str) -> DriveGone:
    return DriveGone(f"the backup drive was disconnected or failed ({why}); reconnect it and try again "
                     "(nothing already stored was lost)")


def drive_error(err: BaseException | None, root: Path | None = None) -> StorageError | None:
    """The StorageError (DriveFull, DriveGone or plain) a person should see for `err`, or None when it is
    not the drive's doing. With the repository's `root`, an error on a drive that has left the computer, or
    an I/O error on one without free space, is called what it is."""
    if isinstance(root, RemoteRoot):
        root = None  # a bucket does not leave the computer: its failures are named by the backend itself
    kind, found = _classify(err, root)
    if found is None or root is None or kind == "full":
        return found
    if _left(root):
        return found if isinstance(found, DriveGone) else gone(f"{root} is no longer there")
    if kind != "read-only" and nearly_full(root):
        return DriveFull(FULL)  # SQLite reports a full drive as an I/O error when it cannot grow its files
    return found


def drive_message(err: BaseException | None) -> str | None:
    """A person's sentence for a drive failure anywhere in `err`'s chain, or None if it is something else."""
    found = drive_error(err)
    return None if found is None else str(found)


Found = tuple[str, StorageError | None]


def _classify(err: BaseException | None, root: Path | None) -> Found:
    """The first drive failure in `err`'s chain, and its kind. The chain matters: when a commit fails for
    lack of space, SQLite has already rolled back, and the rollback that follows fails with a message that
    names neither the drive nor the space."""
    seen = 0
    while err is not None and seen < 8:
        kind, found = _one(err, root)
        if found is not None:
            return kind, found
        err, seen = err.__cause__ or err.__context__, seen + 1
    return "", None


def _one(err: BaseException, root: Path | None) -> Found:
    if isinstance(err, OSError):
        return _os_error(err, root)
    if isinstance(err, (OperationalError, sqlite3.OperationalError)):
        text = str(err).lower()
        if "full" in text:
            return "full", DriveFull(FULL)
        if "i/o error" in text:
            return "gone", gone(str(err))
        if any(word in text for word in SQLITE_DRIVE_WORDS):
            return "index", StorageError(f"cannot write the index on the backup drive: {err}")
    return "", None


def _os_error(err: OSError, root: Path | None) -> Found:
    why = err.strerror or str(err)
    if err.errno in FULL_ERRNOS:
        return "full", DriveFull(FULL)
    if err.errno in GONE_ERRNOS:
        return "gone", gone(why)
    if err.errno == errno.EROFS:
        return "read-only", StorageError(f"cannot write to the backup drive: it is read-only ({why})")
    if err.errno in LOST_ERRNOS and root is not None and _inside(err.filename, root) and _left(root):
        return "gone", gone(f"{root} is no longer there")
    return "", None


def _inside(filename: object, root: Path) -> bool:
    """True for a path inside the repository, or for no path at all (a descriptor's error)."""
    if filename is None:
        return True
    if not isinstance(filename, (str, bytes, os.PathLike)):
        return False
    path = os.fsdecode(os.fspath(filename))
    return os.path.abspath(path).startswith(os.path.join(os.path.abspath(root), ""))


def _left(root: Path) -> bool:
    """The repository is no longer where it was opened: the drive was unplugged or unmounted (a stat that
    fails with EIO counts too)."""
    return not os.path.exists(os.path.join(root, CONFIG_NAME))


def nearly_full(root: Path) -> bool:
    try:
        return shutil.disk_usage(root).free < LOW_SPACE
    except OSError:
        return False


@contextmanager
def drive_errors(root: Path) -> Iterator[None]:
    """Re-raise drive failures inside the block as DriveFull, DriveGone or StorageError; nothing already
    stored is lost by them."""
    try:
        yield
    except (OSError, OperationalError, sqlite3.OperationalError) as err:
        failure = drive_error(err, root)
        if failure is None:
            raise
        raise failure from err
