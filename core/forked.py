"""What a process forked to share a long job (a capture process, a restore share) does first: die with the one
that forked it, and keep none of its files open but those it is given."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Ask the kernel to kill this process when the thread that forked it ends, and end now if it already has."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(0)


def close_inherited(keep: int) -> None:
    """Close every descriptor above the standard three but `keep`: a killed parent's locks and files must end
    with it, and an index connection inherited from it must never be used (or closed by SQLite) here."""
    os.closerange(3, keep)
    os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))
