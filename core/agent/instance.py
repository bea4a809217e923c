"""One agent per user: a lock file in the runtime folder, held with flock for the agent's whole life.

The kernel drops the lock when the process dies however it dies, so a crashed agent never blocks the next.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from timekeep.core.errors import TimekeepError


class AgentRunning(TimekeepError):
    """Another agent of this user holds the lock."""


class InstanceLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EAGAIN, errno.EACCES):
                raise AgentRunning(self._message()) from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def _message(self) -> str:
        try:
            pid = self.path.read_text().strip() or "?"
        except OSError:
            pid = "?"
        return (f"a Timekeep agent is already running for this user (process {pid}); "
                "`timekeep status` talks to it")
