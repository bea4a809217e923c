"""A full scan's first look at the protected folders, taken by a forked process while the command starts up.

A one-file `timekeep backup` spends about 100 ms importing the engine and opening the repository, and its full
scan about 60 ms listing every folder and `lstat`ing every child (21,000 in the bench's dataset): one core idle
while the other does both in turn (bench/README.md, "The scan's prefetch"). So before the imports, the command
forks a child (`start`) that reads the drive's folders.json and meets each protected folder's children as the
scan does (core/capture/met.py), then hands back each folder's sorted names and packed records, in a pipe.

The scan (core/capture/scan.py) uses a folder's listing only where the index keeps digests for it: each bucket
whose children, as listed, digest to the digest kept for it under its seal is as stored, as a scan of its own
a moment earlier would have found it; every other bucket's children it `lstat`s itself, by the names listed.
A folder not listed (past MAX_CHILDREN, unreadable, holding a socket), or whose children met again are not as a
digest wants, it meets whole, as before. The listing is only ever a hint: missing, truncated, stale or hostile,
it costs speed, never a version (what does not parse is dropped whole).
"""

from __future__ import annotations

import contextlib
import json
import marshal
import os
import select
import signal
import time
from collections.abc import Callable

from timekeep.core.index.records import RECORD

MAX_CHILDREN = 100_000  # children the prefetch meets at most (about 10 MB handed back): the scan meets the rest
WAIT_SECONDS = 5.0  # how long the scan waits for a prefetch still at work before it meets every folder itself
# how old a listing may be when the scan first asks (a backup that waited for the drive's writer lock, or for a
# passphrase, meets every folder itself: the listing would stand for the disk of too long ago)
MAX_AGE_SECONDS = 30.0

# a folder as the prefetch met it: its children's names, sorted, and their packed records, joined in that order
Listing = tuple[list[bytes], bytes]


class Prefetch:
    """The forked child at work, or its listings once it is done."""

    def __init__(self, pid: int | None, fd: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.pid = pid
        self.fd: int | None = fd
        self.found: dict[bytes, dict[bytes, Listing]] | None = None
        self.clock = clock
        self.started = clock()  # (the child is forked just before)

    def listings(self, root: bytes, wait: float = WAIT_SECONDS) -> dict[bytes, Listing]:
        """The listings of the protected folder `root`, once ({} when there are none, or they are too old)."""
        if self.found is None:
            self.found = parse(self._read(wait)) if self.clock() - self.started <= MAX_AGE_SECONDS else {}
            self.close()  # done with the child, whatever it wrote
        return self.found.pop(root, {})

    def _read(self, wait: float) -> bytes:
        """All the child wrote, or b"" when it did not finish within `wait` seconds."""
        fd, deadline = self.fd, time.monotonic() + wait
        chunks: list[bytes] = []
        if fd is None:
            return b""
        ready = select.poll()  # (not select(): it takes no descriptor past 1023)
        ready.register(fd, select.POLLIN)
        try:
            while (left := deadline - time.monotonic()) > 0 and ready.poll(left * 1000):
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
            return b""
        except OSError:
            return b""

    def close(self) -> None:
        """Stop the child if it is still at work, and let its pipe and listings go."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.pid is not None:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.pid = None


_started: Prefetch | None = None


def start(repository: Callable[[], str | None]) -> None:
    """Fork the child that lists the folders the repository protects (`repository`, called in the child: its
    folder, or None to list nothing). Called by the command line before it loads the engine: one thread, and
    little memory to copy. The child ends by itself: a walk of MAX_CHILDREN at most, then one write, which
    fails at once if this process is gone."""
    global _started
    if _started is not None:
        return
    try:
        read_end, write_end = os.pipe()
        pid = os.fork()
    except OSError:
        return
    if pid == 0:  # the child: whatever happens, it ends here, without a word
        code = 1
        try:
            os.close(read_end)
            quiet = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):  # never holding the command's terminal or pipes open
                os.dup2(quiet, fd)
            where = repository()
            met = [] if where is None or where.startswith("s3:") else met_by_prefetch(where)
            _write_all(write_end, marshal.dumps(met))
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    _started = Prefetch(pid, read_end)


def listings(root: bytes) -> dict[bytes, Listing]:
    """What the prefetch this process started met of the protected folder `root` ({} without one)."""
    return {} if _started is None else _started.listings(root)


def stop() -> None:
    """The scans are over: the child, if still at work, is stopped, and its listings let go."""
    global _started
    if _started is not None:
        _started.close()
        _started.found = None


def met_by_prefetch(repository: str, budget: int = MAX_CHILDREN) -> list[tuple[bytes, list[tuple[bytes, Listing]]]]:
    """Each protected folder (as folders.json names it, with its exclusions) and the folders in it, as met in a
    walk: at most `budget` children, each folder whole. A folder that cannot be listed, or holds a child without
    a record (unreadable, a socket or device), is left out: the scan meets it."""
    from timekeep.core.capture.excludes import Excludes
    from timekeep.core.capture.met import met_in
    from timekeep.core.index.records import FOLDER

    with open(os.path.join(repository, "folders.json"), "rb") as f:
        entries = json.loads(f.read())  # an encrypted repository's is sealed: not JSON, and nothing is met
    found = []
    for entry in entries:
        root = os.fsencode(str(entry["path"]))
        excludes, cut, stack, met_here = Excludes(tuple(entry.get("excludes", ()))), len(root) + 1, [root], []
        while stack and budget > 0:
            path = stack.pop()
            try:
                met = met_in(path, excludes, cut)
            except OSError:
                continue
            budget -= len(met)
            stack += (child for _, child, _, record in met if record is not None and record[-1] == FOLDER)
            if all(record is not None for _, _, _, record in met):
                met_here.append((path, ([m[0] for m in met], b"".join(m[3] or b"" for m in met))))
        found.append((root, met_here))
    return found


def parse(raw: bytes) -> dict[bytes, dict[bytes, Listing]]:
    """The listings in what the child wrote, by protected folder; {} for anything but what `met_by_prefetch`
    makes (each folder inside its protected one, names one level deep, sorted, unique, a record each)."""
    try:
        found = marshal.loads(raw) if raw else []
    except (EOFError, ValueError, TypeError):
        return {}
    out: dict[bytes, dict[bytes, Listing]] = {}
    if not isinstance(found, list):
        return {}
    for item in found:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], bytes) and
                isinstance(item[1], list)):
            return {}
        root, folders = item
        listed: dict[bytes, Listing] = {}
        for folder in folders:
            if not (isinstance(folder, tuple) and len(folder) == 2 and _inside(folder[0], root) and
                    _listing(folder[1])):
                return {}
            listed[folder[0]] = folder[1]
        out[root] = listed
    return out


def _inside(path: object, root: bytes) -> bool:
    return isinstance(path, bytes) and (path == root or path.startswith(root + b"/")) and root.startswith(b"/")


def _listing(listing: object) -> bool:
    """Names one level deep (no `/`, no NUL, not empty, not `.` or `..`), sorted and unique, a record each: checked
    by whole-list operations, since the command waits on this for every name the child met."""
    if not (isinstance(listing, tuple) and len(listing) == 2):
        return False
    names, records = listing
    if not (isinstance(names, list) and isinstance(records, bytes) and len(records) == len(names) * RECORD.size):
        return False
    if not names:
        return True
    try:
        joined = b"\0".join(names)  # (TypeError for anything but bytes: the only bytes-like type marshal makes)
    except TypeError:
        return False
    return (b"/" not in joined and joined.count(b"\0") == len(names) - 1 and b"" not in names
            and b"." not in names and b".." not in names
            and names == sorted(names) and len(set(names)) == len(names))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.close(fd)
