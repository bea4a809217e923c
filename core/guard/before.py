"""The storage time "just before" a suspected incident: only the journaled paths whose last change came before
the burst began, so what changed since the last snapshot and was not touched by the burst is kept too.

A snapshot stored with `dirty=` carries every other file over from the snapshot before it, so the folder as
this snapshot holds it is the folder as it was when the burst began: the last snapshot, plus the changes
made before the burst. The burst's own paths stay journaled for the first storage time after the all-clear.
Folders are left out of it: a storage time compares a named folder's children, and a child the burst
rewrote (an event that names the file alone) would be read in its damaged state.
A path the burst touches while it is read is read again or recorded as an error by the engine, as always;
one it rewrote before its first event was judged is why "began" is the window's oldest event, not the
first that looked like damage (`timekeep.core.guard.detector`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Collection

from timekeep.core.agent.storage import named_paths
from timekeep.core.agent.where import Where
from timekeep.core.api import Timekeep
from timekeep.core.errors import NothingChanged
from timekeep.core.types import Progress, SnapshotInfo

log = logging.getLogger(__name__)
TRIGGER = "before-incident"


def store_before(path: Where, started_ns: int, burst: Collection[bytes], cancel: threading.Event | None = None,
                 progress: Callable[[Progress], None] | None = None) -> SnapshotInfo | None:
    """A snapshot of the paths journaled before `started_ns` and not among `burst`; None when there are none."""
    with Timekeep.open(path, writer=True, progress=progress) as tk:
        mark = tk.journal.watermark()
        dirty = {root: {p for p in paths - set(burst) if not os.path.isdir(p)}
                 for root, paths in tk.journal.pending_before(mark, started_ns).items()}
        dirty = {root: paths for root, paths in dirty.items() if paths}
        if not dirty:
            return None
        try:
            snap = tk.backup(TRIGGER, progress, cancel, dirty=named_paths(dirty), skip_unchanged=True)
        except NothingChanged:
            snap = None
        tk.journal.clear_paths(mark, {p for paths in dirty.values() for p in paths})
        return snap
