"""When a writer runs SQLite's integrity check on the index: whenever the index file is not exactly as this
computer left it, and at least once a day.

`PRAGMA quick_check` reads every page: about 2 ms per MiB of index from the page cache and 14 ms cold, so
over a second, and up to ten, for a home folder of a million files, at every storage time. So this computer
remembers, in its cache folder, what the file looked like (size, mtime, inode, its -wal's too) when a writer
last checked it or closed it. A writer that finds the file exactly so, and checked it within a day, skips the
check: the index changed only through this computer's own writers since. Any other change (another computer,
a copy put back, a tool) brings the check back at once, and what no stat shows (a failing sector) is found by
the next day's check; meanwhile every row a listing, scan or restore reads is checked against its seal.

The agent's journal is this computer's own writer too: it writes the index between storage times, through a
reader. When the file was exactly as this computer left it before such a write, the stamp follows the write
(`as_left`, then `closed` once its connection is gone); without that, every storage time after the watcher
journaled a path paid the whole check (40 ms at 20,000 files, seconds at a million).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

import platformdirs

from timekeep.core.storage.layout import Layout

DAY_NS = 24 * 3600 * 10**9
Stamp = list[int]


def _memory(repository_id: str) -> Path:
    return platformdirs.user_cache_path("timekeep") / "index-checks" / f"{repository_id}.json"


def _stamp(layout: Layout) -> Stamp:
    """What changes when the index is written, replaced or cut: its size, mtime and inode, and its -wal's."""
    found: Stamp = []
    for path in (layout.index, Path(f"{layout.index}-wal")):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            st = None
        # An empty -wal holds nothing: opening a connection creates one, so counting it made every writer's
        # open look like a change and run the whole check, every time.
        if st is None or (st.st_size == 0 and path != layout.index):
            found += [-1, -1, -1]
        else:
            found += [st.st_size, st.st_mtime_ns, st.st_ino]
    return found


def due(layout: Layout, repository_id: str, now_ns: int | None = None) -> bool:
    """Whether a writer must run the integrity check before it trusts the index."""
    try:
        seen = json.loads(_memory(repository_id).read_bytes())
        stamp, checked = list(seen["stamp"]), int(seen["checked_ns"])
    except (OSError, ValueError, KeyError, TypeError):
        return True
    now = time.time_ns() if now_ns is None else now_ns
    return stamp != _stamp(layout) or not 0 <= now - checked < DAY_NS


def as_left(layout: Layout, repository_id: str) -> bool:
    """Whether the index file is exactly as this computer's writers last left it (whenever it was checked)."""
    try:
        return list(json.loads(_memory(repository_id).read_bytes())["stamp"]) == _stamp(layout)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def passed(layout: Layout, repository_id: str, now_ns: int | None = None) -> None:
    """The check just passed: remember when, and the file as it is."""
    _remember(layout, repository_id, time.time_ns() if now_ns is None else now_ns)


def closed(layout: Layout, repository_id: str) -> None:
    """A writer is done with the index: remember the file as it leaves it (the check's time stays)."""
    try:
        checked = int(json.loads(_memory(repository_id).read_bytes())["checked_ns"])
    except (OSError, ValueError, KeyError, TypeError):
        return  # never checked here: the next writer checks
    _remember(layout, repository_id, checked)


def forget(repository_id: str) -> None:
    """The index was found damaged or rebuilt: the next writer checks whatever the file looks like."""
    with contextlib.suppress(OSError):
        _memory(repository_id).unlink()


def _remember(layout: Layout, repository_id: str, checked_ns: int) -> None:
    path = _memory(repository_id)
    text = json.dumps({"stamp": _stamp(layout), "checked_ns": checked_ns}).encode()
    with contextlib.suppress(OSError):  # a cache that cannot be written only means checking more often
        # A cache on this computer, not the drive: no fsync, and written over in place. A torn, mixed or lost
        # file only means one more check, since anything but the exact stamp is "not as left". Neither a
        # rename nor a truncation to nothing: ext4 flushes a file replaced either way at once (its
        # `auto_da_alloc`), which made every writer's close wait 2-10 ms on a loaded disk.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.pwrite(fd, text, 0)
            os.ftruncate(fd, len(text))
        finally:
            os.close(fd)
