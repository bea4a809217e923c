"""The writer lock: one writer per repository; a lock whose process is gone is broken automatically.

The exclusion is a flock() on the repository folder itself (opened O_RDONLY|O_DIRECTORY), not on the
`lock` file. A person "clearing a stale lock" deletes or replaces that file, and a lock held on a file
that has lost its name keeps nobody out: the next writer creates a new `lock` and locks that instead.
Checking after locking that the locked file still has the name `lock` does not help here, because the
writer already inside never looks again. The folder is what nobody deletes under a running backup, and
renaming it keeps the same inode, so the lock still holds.

The kernel releases a flock() when its holder dies (kill -9), so "stale" means "its process is gone",
never "it is old": a laptop's suspend does not break a live lock. The `lock` file only names the holder
(host, pid, start time) for the refusal's message; it is written after the folder is locked and emptied
before the lock is released.

Where a filesystem cannot flock() a folder (NFS emulates flock() with byte-range locks, which a folder
cannot take exclusively), the `lock` file is flocked instead and checked to be the file still named
`lock`; there, a `lock` deleted under a running writer is not noticed. Readers that keep writers out
hold both shared, so they exclude a writer of either kind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from timekeep.core.errors import RepositoryLocked, StorageError
from timekeep.core.storage.atomic import create_private
from timekeep.core.storage.failures import drive_error

BUSY = (errno.EAGAIN, errno.EACCES)
CANNOT_LOCK_FOLDERS = (errno.EBADF, errno.EINVAL, errno.ENOLCK, errno.EOPNOTSUPP, errno.EISDIR)
FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
FILE_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # never through a link, never stuck on a FIFO
ATTEMPTS = 3


class WriterLock:
    """Held by the one writer of the repository whose `lock` file is `path` (its folder is `path.parent`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._held: int | None = None  # the locked descriptor: the folder's, or the lock file's (see above)
        self._holder: int | None = None  # the lock file, kept open to empty it on release

    def acquire(self) -> None:
        """Take the lock, or RepositoryLocked naming the live holder; StorageError if the drive fails."""
        held = _lock_folder(self.path.parent)
        on_file = held is None
        self._held = held = _lock_file(self.path) if held is None else held
        try:
            self._holder = held if on_file else _open_holder(self.path)
            _write_holder(self._holder)
        except BaseException as err:
            self.release()
            failure = drive_error(err, self.path.parent) if isinstance(err, OSError) else None
            if failure is None:
                raise
            raise failure from err

    def release(self) -> None:
        held, holder, self._held, self._holder = self._held, self._holder, None, None
        if held is None:
            return
        if holder is not None:
            with contextlib.suppress(OSError):  # a full or vanished drive must not keep the lock held
                os.ftruncate(holder, 0)
            if holder != held:
                _close(holder)
        _close(held)  # releases the lock


def _lock_folder(folder: Path) -> int | None:
    """The folder's descriptor, locked exclusively; None where its filesystem cannot lock folders."""
    fd = os.open(folder, FOLDER_FLAGS)
    try:
        locked = _try_flock(fd, fcntl.LOCK_EX)
    except BaseException:
        _close(fd)
        raise
    if locked:
        return fd
    _close(fd)
    if locked is None:
        return None
    raise RepositoryLocked(_holder_message(folder / "lock"))


def _lock_file(path: Path) -> int:
    """The `lock` file's descriptor, locked exclusively, and still the file named `lock` once locked (a
    writer releasing it between our open and our flock may have replaced it)."""
    for _ in range(ATTEMPTS):
        fd = _open_holder(path)
        try:
            locked = _try_flock(fd, fcntl.LOCK_EX)
            if locked is False:
                raise RepositoryLocked(_holder_message(path))
            if locked is None:
                raise StorageError(f"the drive holding {path.parent} cannot lock files; use another drive")
            if _same_file(fd, path):
                return fd
        except BaseException:
            _close(fd)
            raise
        _close(fd)
    raise RepositoryLocked(_holder_message(path))


def _try_flock(fd: int, operation: int) -> bool | None:
    """True when locked, False when another process holds it, None when this filesystem cannot lock it."""
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno in BUSY:
            return False
        if err.errno in CANNOT_LOCK_FOLDERS:
            return None
        raise
    return True


def _open_holder(path: Path) -> int:
    try:
        return os.open(path, os.O_WRONLY | FILE_FLAGS)
    except FileNotFoundError:
        pass
    try:
        return create_private(path)
    except FileExistsError:  # another writer's attempt created it meanwhile
        return os.open(path, os.O_WRONLY | FILE_FLAGS)


def _write_holder(fd: int) -> None:
    """Name the holder for a refusal's message. Not synced: the text is read only while the lock is held,
    by a live process whose write every reader sees; a crash frees the lock, and a torn or empty text left by
    one is read as "another process" (`_holder_message`). The fsync cost every writer's open up to 9 ms."""
    holder = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(holder).encode(), 0)


def _holder_message(path: Path) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | FILE_FLAGS)
        try:
            holder = json.loads(os.read(fd, 4096) or b"{}")
        finally:
            _close(fd)
    except (OSError, ValueError):
        holder = {}
    if not isinstance(holder, dict) or "pid" not in holder:
        who = "another process"
    else:
        who = f"process {holder['pid']} on {holder.get('host', '?')}"
    return f"repository {path.parent} is in use by {who} (a backup is running); try again later"


def _same_file(fd: int, path: Path) -> bool:
    try:
        named = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (named.st_dev, named.st_ino)


def _close(fd: int) -> None:
    """Close once; a close that reports an error (a vanished drive) has released the descriptor anyway."""
    with contextlib.suppress(OSError):
        os.close(fd)


@contextlib.contextmanager
def writers_kept_out(path: Path) -> Iterator[bool]:
    """For a reader that must see the repository hold still: hold the writer lock shared for the block,
    so no writer can start meanwhile, and yield True; yield False, holding nothing, when a live writer
    holds it already. A missing repository folder or lock file holds nothing of its own."""
    held = _hold_shared(path)
    try:
        yield held is not None
    finally:
        for fd in held or ():
            _close(fd)


def _hold_shared(path: Path) -> list[int] | None:
    """The folder and the lock file (those that exist), each locked shared; None if a writer holds either."""
    held: list[int] = []
    try:
        for target, flags in ((path.parent, FOLDER_FLAGS), (path, os.O_RDONLY | FILE_FLAGS)):
            try:
                fd = os.open(target, flags)
            except FileNotFoundError:
                continue
            held.append(fd)
            if _try_flock(fd, fcntl.LOCK_SH) is False:
                break
        else:
            return held
    except BaseException:
        for fd in held:
            _close(fd)
        raise
    for fd in held:
        _close(fd)
    return None


def writer_running(path: Path) -> bool:
    """True while a live process holds the writer lock (a backup, a thinning or a rebuild is running).
    Probing takes the lock shared for an instant; a writer starting in that instant is told to retry."""
    with writers_kept_out(path) as free:
        return not free
