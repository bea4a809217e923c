"""Processes forked to share a long job (a capture process, a restore share): started with a channel to them,
dying with the one that forked them, keeping none of its files open, and killed and reaped at most once."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the channel (and pickle) load when a first process starts
    from timekeep.core.capture.channel import Channel

PR_SET_PDEATHSIG = 1


def start(serve: Callable[[Channel], None]) -> tuple[int, Channel]:
    """Fork a process that runs `serve` with its end of a socket pair and then exits (1 if `serve` raised); the
    process id and this end. The process dies with the thread that forked it, and nothing of this process stays
    open there: not a repository's lock (a killed writer's lock must end with it), not its index, not its packs."""
    import socket

    from timekeep.core.capture.channel import Channel

    ours, theirs = socket.socketpair()
    parent = os.getpid()
    try:
        pid = os.fork()
    except BaseException:
        ours.close()
        theirs.close()
        raise
    if pid == 0:  # the forked process: it never returns into the caller's code
        code = 1
        try:
            ours.close()
            keep = theirs.detach()
            die_with_parent(parent)
            close_inherited(keep)
            serve(Channel(socket.socket(fileno=keep)))
            code = 0
        finally:
            os._exit(code)
    theirs.close()
    return pid, Channel(ours)


class Child:
    """A forked process and this end of its channel."""

    def __init__(self, pid: int, conn: Channel) -> None:
        self.pid, self.conn, self.reaped = pid, conn, False

    def kill(self) -> None:
        """End the process (if it still runs) and reap it: never once reaped, as its pid may be another's then."""
        if not self.reaped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        self.conn.close()
        self.reap()

    def reap(self) -> None:
        if not self.reaped:
            self.reaped = True
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)


def die_with_parent(parent: int) -> None:
    """Ask the kernel to kill this process when the thread that forked it ends, and end now if it already has."""
    import ctypes  # here: whoever merely holds a `Child` never loads it

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(0)


def close_inherited(keep: int) -> None:
    """Close every descriptor above the standard three but `keep`: a killed parent's locks and files must end
    with it, and an index connection inherited from it must never be used (or closed by SQLite) here."""
    os.closerange(3, keep)
    os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))
