"""Temporaries a killed restore left behind ('.NAME.PID.restoring'), removed by the next restore into the
same folder.

One is removed only when both hold: the process it is named after no longer runs (or is this very
process, whose pid a dead one had before), and it was last changed before this restore began. A live
restore writing into the same folder keeps its temporaries: its pid runs. The time test covers what the
pid test cannot see: a restore in another pid namespace (a container, another computer on a network
share) that runs right now, whose temporary changed after this restore began.
"""

from __future__ import annotations

import contextlib
import os
import stat

from timekeep.core.restore.names import temp_pid


def _gone(pid: int) -> bool:
    """Whether no process runs under `pid` (this process counts as gone: its temporaries are never left)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):  # another user's process, or no such pid at all
        return False
    return False


def stale(dir_fd: int, name: bytes, started_ns: int) -> bool:
    """Whether `name` in the folder is a temporary of a restore that is over."""
    pid = temp_pid(name)
    if pid is None or not _gone(pid):
        return False
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return False
    return (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)) and st.st_ctime_ns < started_ns


def sweep(dir_fd: int, started_ns: int) -> int:
    """Remove the folder's stale temporaries; returns how many. Best effort: a folder that cannot be
    listed or a temporary that cannot be removed is left for another time."""
    removed = 0
    try:
        names = [os.fsencode(n) for n in os.listdir(dir_fd)]
    except OSError:
        return 0
    for name in names:
        if stale(dir_fd, name, started_ns):
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=dir_fd)
                removed += 1
    return removed
