"""Mounting and unmounting: the mount point checked, the filesystem served until it is unmounted (fusermount3
-u, `timekeep unmount`, SIGINT or SIGTERM: libfuse unmounts on either), and a record of each running mount
(its pid, its log) that `timekeep unmount` and the window use.

A mount only reads: it takes no writer lock, so backups and the agent go on beside it, and a mount process
killed outright leaves the repository as it was (the kernel keeps a dead mount point until it is unmounted).
"""

from __future__ import annotations

import ctypes.util
import hashlib
import json
import logging
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from timekeep.core.errors import TimekeepError, UsageError
from timekeep.core.mount.fs import HistoryOperations
from timekeep.core.mount.tree import HistoryTree
from timekeep.core.storage.atomic import atomic_write

if TYPE_CHECKING:
    from timekeep.core.api import Timekeep

FS_TYPE = "fuse.timekeep"
# What is under a path never changes (`latest` is a link, read anew each time; a listing is always asked for), so
# the kernel may keep attributes, names and file pages: `ls -l` of a big folder asks once, not once a second.
CACHE_S = 60
log = logging.getLogger("timekeep.mount")


class MountFailed(TimekeepError):
    """The kernel did not take the mount, or would not let it go (a program still uses it)."""

    exit_code = 1


@dataclass(frozen=True)
class MountRecord:
    """A running mount, as its process wrote it down."""

    mountpoint: str
    pid: int
    log: str
    repository: str


def check_mountpoint(path: Path) -> Path:
    """The mount point made absolute; one line (UsageError) unless it is an existing, empty folder that is not
    already a mount point."""
    where = Path(os.path.abspath(path))
    if mounted_type(where) is not None:
        raise UsageError(f"{where} is already a mount point; `timekeep unmount {where}` first if it is ours")
    if not where.is_dir():
        raise UsageError(f"{where} is not a folder; make an empty folder to mount history on")
    if any(where.iterdir()):
        raise UsageError(f"{where} is not empty; mount history on an empty folder")
    return where


def mounted_type(where: Path) -> str | None:
    """The filesystem type mounted at `where` (`fuse.timekeep` for ours), from the kernel's own table."""
    target = os.path.abspath(where)
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    found = None
    for line in lines:
        fields, _, rest = line.partition(" - ")
        parts = fields.split()
        if len(parts) > 4 and _unescape(parts[4]) == target:
            found = rest.split()[0]  # the last one mounted there is the one seen
    return found


def _unescape(text: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    for code in ("040", "011", "012", "134"):
        text = text.replace("\\" + code, chr(int(code, 8)))
    return text


def serve(tk: Timekeep, mountpoint: Path, records: Path, ready: Callable[[], None] | None = None) -> None:
    """Mount the history of `tk` at `mountpoint` and answer the kernel until it is unmounted; the mount is
    recorded in `records` while it runs. `ready` is called once the kernel has the mount."""
    # mfusepy would take libfuse 2 where both are installed (borg's llfuse brings it); ours is libfuse 3
    os.environ.setdefault("FUSE_LIBRARY_PATH", ctypes.util.find_library("fuse3") or "libfuse3.so.3")
    import mfusepy

    up = []

    def mounted() -> None:
        up.append(True)
        write_record(records, MountRecord(str(mountpoint), os.getpid(), _log_path(records, mountpoint),
                                          str(tk.root)))
        if ready is not None:
            ready()

    operations = HistoryOperations(tk, HistoryTree(tk), mounted)
    try:  # one thread: each of libfuse's threads would enter Python anew on every call, and the GIL serves one
        mfusepy.FUSE(operations, str(mountpoint), foreground=True, ro=True, fsname="timekeep", subtype="timekeep",
                     default_permissions=True, nothreads=True, kernel_cache=True,
                     attr_timeout=CACHE_S, entry_timeout=CACHE_S)
    except RuntimeError as err:
        if not up:
            raise MountFailed(f"could not mount history at {mountpoint} (libfuse said {err})") from None
        # else the loop was ended by SIGINT or SIGTERM (libfuse's own handlers), once it had unmounted
    finally:
        forget_record(records, mountpoint)


def _stem(mountpoint: Path | str) -> str:
    return hashlib.sha256(os.fsencode(os.path.abspath(mountpoint))).hexdigest()[:16]


def _log_path(records: Path, mountpoint: Path | str) -> str:
    return str(records / f"{_stem(mountpoint)}.log")


def log_path(records: Path, mountpoint: Path | str) -> Path:
    """Where a background mount at `mountpoint` writes what it has to say."""
    return Path(_log_path(records, mountpoint))


def write_record(records: Path, record: MountRecord) -> None:
    records.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(records / f"{_stem(record.mountpoint)}.json", json.dumps(record.__dict__).encode())


def read_record(records: Path, mountpoint: Path | str) -> MountRecord | None:
    try:
        data = json.loads((records / f"{_stem(mountpoint)}.json").read_bytes())
        return MountRecord(str(data["mountpoint"]), int(data["pid"]), str(data["log"]), str(data["repository"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def forget_record(records: Path, mountpoint: Path | str) -> None:
    (records / f"{_stem(mountpoint)}.json").unlink(missing_ok=True)


def unmount(mountpoint: Path, records: Path, wait_s: float = 10.0) -> None:
    """Unmount our mount at `mountpoint` (a dead one too, whose process was killed) and wait for its process to
    end; one line when nothing of ours is mounted there (UsageError) or it is still in use (MountFailed)."""
    where = Path(os.path.abspath(mountpoint))
    kind = mounted_type(where)
    record = read_record(records, where)
    if kind is None:
        forget_record(records, where)
        raise UsageError(f"nothing is mounted at {where}")
    if kind != FS_TYPE:
        raise UsageError(f"{where} is not a Timekeep mount (it is {kind}); leaving it alone")
    done = subprocess.run(["fusermount3", "-u", str(where)], capture_output=True, text=True, check=False)
    if done.returncode != 0 and (record is None or not _running(record.pid)):
        # a dead mount (its process killed) with a file still open in it: nothing can be read there any more
        done = subprocess.run(["fusermount3", "-u", "-z", str(where)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
        raise MountFailed(f"could not unmount {where}: {said} (close what still uses it, then try again)")
    if record is not None:
        _wait_gone(record.pid, wait_s)
    forget_record(records, where)


def _running(pid: int) -> bool:
    """Whether the process runs (a zombie, ended but not yet waited for by its parent, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _wait_gone(pid: int, wait_s: float) -> None:
    """Give the mount's process the moment it needs to close the repository and exit once unmounted."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if not _running(pid):
            return
        time.sleep(0.02)
    log.warning("the mount's process %d is still running after it was unmounted", pid)
