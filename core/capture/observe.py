"""What the disk shows for one path, and whether it differs from the stored version. Pure decisions."""

from __future__ import annotations

import os
from typing import NamedTuple

from timekeep.core.index.queries import VersionRow


class Observed(NamedTuple):
    """One path's stat as a scan saw it (a named tuple: a scan makes one per entry)."""

    path: bytes
    kind: str
    size: int
    mode: int
    mtime_ns: int
    inode: int
    ctime_ns: int
    link_target: bytes | None = None
    uid: int | None = None
    gid: int | None = None


def observe(path: bytes, st: os.stat_result, kind: str, link_target: bytes | None = None) -> Observed:
    size = st.st_size if kind == "file" else 0
    return Observed(path, kind, size, st.st_mode, st.st_mtime_ns, st.st_ino, st.st_ctime_ns, link_target,
                    st.st_uid, st.st_gid)


def same_stat(obs: Observed, prev: VersionRow) -> bool:
    """The file-is-unchanged test: size, mtime_ns, inode and ctime all match."""
    return (obs.size, obs.mtime_ns, obs.inode, obs.ctime_ns) == (
        prev.size, prev.mtime_ns, prev.inode, prev.ctime_ns)


def classify(obs: Observed, prev: VersionRow | None) -> str | None:
    """The version state this observation calls for, 'read' when only the content can tell, or None."""
    if prev is None or prev.state == "deleted":
        return "read" if obs.kind == "file" else "created"
    if obs.kind != prev.kind:
        return "read" if obs.kind == "file" else "modified"
    if obs.kind == "file":
        return None if same_stat(obs, prev) and not prev.racy else "read"
    if obs.kind == "symlink" and obs.link_target != prev.link_target:
        return "modified"
    # the ctime tells an owner or extended attributes changed (a chown, setfattr or setfacl), which
    # neither the mode nor the mtime shows
    if (obs.mode, obs.mtime_ns, obs.inode, obs.ctime_ns) != (prev.mode, prev.mtime_ns, prev.inode, prev.ctime_ns):
        return "metadata"
    return None
