"""The writer lock: one writer per repository; a lock whose process is gone is broken automatically.

The lock file is held with flock(), which the kernel releases when the holder dies (kill -9, power loss
of the process), so staleness is "its process is gone", never "it is old" — a laptop's suspend does not
break a live lock. The file also names the holder (host, pid, start time) for the error message.
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

from core.errors import RepositoryLocked, StorageError


class WriterLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EAGAIN, errno.EACCES):
                raise RepositoryLocked(self._holder_message()) from None
            raise
        self._fd = fd
        try:
            self._write_holder(fd)
        except OSError as err:
            self.release()
            raise StorageError(f"cannot write to the backup drive: {err.strerror or err}") from err

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):  # a full or vanished drive must not keep the lock held
            os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def _write_holder(self, fd: int) -> None:
        holder = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        os.fsync(fd)

    def _holder_message(self) -> str:
        try:
            holder = json.loads(self.path.read_bytes() or b"{}")
        except (OSError, ValueError):
            holder = {}
        who = f"process {holder.get('pid', '?')} on {holder.get('host', '?')}"
        return f"repository {self.path.parent} is in use by {who} (a backup is running); try again later"


@contextlib.contextmanager
def writers_kept_out(path: Path) -> Iterator[bool]:
    """For a reader that must see the repository hold still: hold the writer lock shared for the block,
    so no writer can start meanwhile, and yield True; yield False, holding nothing, when a live writer
    holds it already. A missing lock file means no writer has run: True, holding nothing."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        yield True
        return
    try:
        yield _shared(fd)
    finally:
        os.close(fd)  # releases the shared hold


def _shared(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno not in (errno.EAGAIN, errno.EACCES):
            raise
        return False
    return True


def writer_running(path: Path) -> bool:
    """True while a live process holds the writer lock (a backup, a thinning or a rebuild is running).
    Probing takes the lock shared for an instant; a writer starting in that instant is told to retry."""
    with writers_kept_out(path) as free:
        return not free
