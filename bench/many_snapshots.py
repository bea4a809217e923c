"""A history of thousands of snapshots, made fast: one real backup of a folder, then each further snapshot
records one small change (a log file's new modification time) through the index writer every backup uses
(`SnapshotWriter`: its row, the version, the manifest on the drive, then complete). Reading the files is what
makes a real backup slow; what the timeline and the listings read, the index and the manifests, is the same.
Used by the timeline-drag test (tests/test_gui_timeline_drag.py) and bench (bench/timeline_drag.py).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import blake3

from timekeep.core.api import Timekeep
from timekeep.core.index.writer import NewVersion, SnapshotWriter
from timekeep.core.storage.manifest import manifest_ids
from timekeep.core.types import SnapshotInfo

LOG = "activity.log"  # the file each generated snapshot touches (empty: no content to store)
EMPTY = blake3.blake3(b"").digest()


def add_snapshots(repo: Path, folder: Path, count: int, first_ns: int, step_ns: int) -> list[int]:
    """`count` snapshots of `folder` (protected in `repo`, with an empty LOG file backed up), `step_ns` apart
    from `first_ns`, each recording the log file's modification time at its own time. Returns their ids."""
    log = os.fsencode(folder / LOG)
    st = os.stat(log)
    with Timekeep.open(repo, writer=True) as tk:
        inner = tk._repo
        folders = [{"path": os.fsdecode(f.path), "excludes": list(f.excludes)} for f in tk.folders()]
        writer = SnapshotWriter(inner.db, inner.layout, {f.path: f.id for f in tk.folders()})
        taken = set(manifest_ids(inner.layout))
        made = []
        for i in range(count):
            when = first_ns + i * step_ns
            sid = writer.begin("schedule", when, taken)
            writer.commit([], [NewVersion(log, "metadata", "file", size=0, mode=stat.S_IFREG | 0o644, mtime_ns=when,
                                          inode=st.st_ino, ctime_ns=when, full=False, content_id=EMPTY,
                                          digest=EMPTY, uid=st.st_uid, gid=st.st_gid)])
            writer.finish(SnapshotInfo(sid, when, "schedule", files_scanned=1, files_changed=1), folders)
            made.append(sid)
    return made
