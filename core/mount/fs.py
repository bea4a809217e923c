"""The mount's answers to the kernel (mfusepy's operations): attributes, listings, links and reads, each engine
error turned into the errno a program understands. Read-only: the kernel refuses writes (EROFS) before they
reach here, and an open for writing is refused too.

A read that cannot be shown to return the stored bytes gives EIO for that file alone (said once in the log);
a path that is not there gives ENOENT.
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import stat
import threading
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from timekeep.core.errors import CorruptData, NotInSnapshot, TimekeepError, UsageError
from timekeep.core.mount.tree import HistoryTree, Node

if TYPE_CHECKING:
    from timekeep.core.api import Timekeep
    from timekeep.core.restore.ranges import VersionRanges

log = logging.getLogger("timekeep.mount")
P = ParamSpec("P")
R = TypeVar("R")
KIND_BITS = {"dir": stat.S_IFDIR, "file": stat.S_IFREG, "symlink": stat.S_IFLNK}


class Refused(OSError):
    """An errno for the kernel (mfusepy passes an OSError's errno on)."""

    def __init__(self, code: int) -> None:
        super().__init__(code, os.strerror(code))


def answered(method: Callable[P, R]) -> Callable[P, R]:
    """Turn what the engine raises into an errno: not there is ENOENT, anything else EIO (logged once)."""

    @wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except Refused:
            raise
        except (FileNotFoundError, NotInSnapshot, UsageError):
            raise Refused(errno.ENOENT) from None
        except (TimekeepError, OSError) as err:
            log.warning("%s: %s", method.__name__, err)
            raise Refused(errno.EIO) from None

    return call


def _parts(path: str) -> tuple[bytes, ...]:
    return tuple(os.fsencode(p) for p in path.split("/") if p)


class HistoryOperations:
    """What mfusepy calls; `ready` is called once the kernel has the mount (the background start waits on it)."""

    use_ns = True  # times as integer nanoseconds, as the index keeps them

    def __init__(self, tk: Timekeep, tree: HistoryTree, ready: Callable[[], None] | None = None) -> None:
        self._tk = tk
        self._tree = tree
        self._ready = ready
        self._open: dict[int, VersionRanges] = {}
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._uid, self._gid = os.getuid(), os.getgid()

    def init(self, path: str) -> None:
        if self._ready is not None:
            self._ready()

    def destroy(self, path: str) -> None:
        with self._lock:
            self._open.clear()

    @answered
    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        return self._stat(self._tree.node(_parts(path)))

    def _stat(self, node: Node) -> dict[str, Any]:
        mode = KIND_BITS[node.kind] | stat.S_IMODE(node.mode)
        size = len(node.link_target or b"") if node.kind == "symlink" else node.size
        return {"st_mode": mode, "st_size": size, "st_nlink": 2 if node.kind == "dir" else 1,
                "st_uid": self._uid, "st_gid": self._gid, "st_mtime": node.mtime_ns, "st_ctime": node.mtime_ns,
                "st_atime": node.mtime_ns, "st_blocks": (size + 511) // 512}

    @answered
    def readdir(self, path: str, fh: int) -> list[str]:
        return [".", "..", *(os.fsdecode(name) for name in self._tree.listing(_parts(path)))]

    @answered
    def readlink(self, path: str) -> str:
        node = self._tree.node(_parts(path))
        if node.kind != "symlink" or node.link_target is None:
            raise Refused(errno.EINVAL)
        return os.fsdecode(node.link_target)

    @answered
    def open(self, path: str, flags: int) -> int:
        if flags & os.O_ACCMODE != os.O_RDONLY:
            raise Refused(errno.EROFS)
        node = self._tree.node(_parts(path))
        if node.kind != "file" or node.path is None or node.snapshot_id is None:
            raise Refused(errno.EISDIR if node.kind == "dir" else errno.EINVAL)
        ranges = self._tk.version_ranges(self._tk.plan(node.path, node.snapshot_id))
        with self._lock:
            number = next(self._numbers)
            self._open[number] = ranges
        return number

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        with self._lock:
            ranges = self._open.get(fh)
        if ranges is None:
            raise Refused(errno.EBADF)
        try:
            return ranges.read(offset, size)
        except CorruptData as err:
            log.warning("%s: %s", path, err)
            raise Refused(errno.EIO) from None
        except (TimekeepError, OSError) as err:  # the drive went away, a bucket did not answer
            log.warning("%s: %s", path, err)
            raise Refused(errno.EIO) from None

    def release(self, path: str, fh: int) -> int:
        with self._lock:
            self._open.pop(fh, None)
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        return {"f_bsize": 4096, "f_frsize": 4096, "f_namemax": 255}
