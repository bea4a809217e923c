"""The storage time "just before" a suspected incident: only the journaled paths whose last change came before
the burst began, so what changed since the last snapshot and was not touched by the burst is kept too.

A snapshot stored with `dirty=` carries every other file over from the snapshot before it, so the folder as
this snapshot holds it is the folder as it was when the burst began: the last snapshot, plus the changes
made before the burst. The burst's own paths stay journaled for the first storage time after the all-clear.
Folders are left out of it: a storage time compares a named folder's children, and a child the burst
rewrote (an event that names the file alone) would be read in its damaged state.
A journaled path is named only if the burst cannot have reached it, because the burst goes on after the
finding and a file it reaches later may still have only its row from before the burst when this storage
time reads the journal (it would be stored deleted or damaged): so it must still be there (one gone may have
been renamed away by the burst), be unchanged since the burst's first event (`LAG_NS`), and lie in a folder
the burst did not touch (a file there could be reached while it is read). Left out, a path
keeps its state in the snapshot before and stays journaled for the first storage time after the all-clear:
at worst "before" lacks a change made just before the burst, or still holds a file deleted just before it,
but it never stores the burst's work.
A path the burst touches while it is read is read again or recorded as an error by the engine, as always;
one it rewrote before its first event was judged is why "began" is the window's oldest event, not the
first that looked like damage (`timekeep.core.guard.detector`).
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Callable, Collection

from timekeep.core.agent.storage import named_paths
from timekeep.core.agent.where import Where
from timekeep.core.api import Timekeep
from timekeep.core.errors import NothingChanged
from timekeep.core.types import Progress, SnapshotInfo

log = logging.getLogger(__name__)
TRIGGER = "before-incident"
# File times are coarse (a clock tick) and the burst's first event is converted from the agent's clock: a change
# this near it may be the burst's. A file the burst changed before its first event reached the guard (events
# arrive late) is no concern: the finding saw it touched, so its folder is left out.
LAG_NS = 100_000_000


def store_before(path: Where, started_ns: int, burst: Collection[bytes], cancel: threading.Event | None = None,
                 progress: Callable[[Progress], None] | None = None) -> SnapshotInfo | None:
    """A snapshot of the paths journaled before `started_ns` that the burst cannot have reached; None when there
    are none."""
    with Timekeep.open(path, writer=True, progress=progress) as tk:
        mark = tk.journal.watermark()
        journaled = tk.journal.pending_before(mark, started_ns)
        dirty = {root: untouched(paths, burst, started_ns) for root, paths in journaled.items()}
        dirty = {root: paths for root, paths in dirty.items() if paths}
        if not dirty:
            return None
        try:
            snap = tk.backup(TRIGGER, progress, cancel, dirty=named_paths(dirty), skip_unchanged=True)
        except NothingChanged:
            snap = None
        tk.journal.clear_paths(mark, {p for paths in dirty.values() for p in paths})
        return snap


def untouched(paths: Collection[bytes], burst: Collection[bytes], started_ns: int) -> set[bytes]:
    """The journaled paths the storage time may name: files still there, unchanged since before the burst began,
    neither touched by it nor in a folder it touched."""
    touched, folders = set(burst), {os.path.dirname(p) for p in burst}
    kept = set()
    for path in paths:
        if path in touched or os.path.dirname(path) in folders:
            continue
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) and st.st_ctime_ns < started_ns - LAG_NS:
            kept.add(path)
    return kept
