"""Hard links come back as hard links.

Two paths of one restore whose stored versions have the same inode and ctime were one file at backup time
(a ctime is the inode's, so its names were seen between the same two changes); if their contents also
have the same digest, the second is made a hard link to the copy written for the first, rather than a
second copy. Only copies this restore wrote are linked to: a file already in place is left untouched.
Where linking fails (another filesystem, no links, too many), the second is written as a copy.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass

from timekeep.core.errors import UnsafePath
from timekeep.core.restore import safe_write as sw
from timekeep.core.types import Plan

Key = tuple[int, int, bytes, int]  # inode, ctime_ns, whole-content digest, size at backup time
CANNOT_LINK = (errno.EXDEV, errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOENT)


@dataclass(frozen=True)
class Copy:
    parts: tuple[bytes, ...]  # where the copy was written, from the target's root
    dev: int
    ino: int


def key_of(plan: Plan, inode: int, ctime_ns: int) -> Key | None:
    """The key of a plan whose version was backed up with this inode and ctime; None for anything that cannot be
    linked."""
    if plan.kind != "file" or plan.digest is None or not inode:
        return None
    return inode, ctime_ns, plan.digest, plan.size


class HardLinks:
    def __init__(self) -> None:
        self.copies: dict[Key, Copy] = {}

    def remember(self, key: Key | None, parts: tuple[bytes, ...], dir_fd: int,
                 st: os.stat_result | None = None) -> None:
        """Note the copy just written at `parts` (in the folder `dir_fd`) as the one to link to; `st` is its
        status if its writer has it (else looked up)."""
        if key is None or key in self.copies:
            return
        st = st if st is not None else sw.lstat_at(dir_fd, parts[-1])
        if st is not None:
            self.copies[key] = Copy(parts, st.st_dev, st.st_ino)

    def link(self, key: Key | None, target: sw.ConfinedDir, dir_fd: int, name: bytes) -> bool:
        """Make `name` in `dir_fd` a hard link to the copy written for `key`, if there is one and it is
        still that file; False if nothing was made."""
        copy = self.copies.get(key) if key is not None else None
        if copy is None:
            return False
        try:
            src_fd = target.open_dir(copy.parts[:-1], create=False)
        except (OSError, UnsafePath):
            return False
        try:
            return self._link_from(copy, src_fd, dir_fd, name)
        finally:
            os.close(src_fd)

    def _link_from(self, copy: Copy, src_fd: int, dir_fd: int, name: bytes) -> bool:
        st = sw.lstat_at(src_fd, copy.parts[-1])
        if st is None or (st.st_dev, st.st_ino) != (copy.dev, copy.ino):
            return False  # replaced since: never link to a file this restore did not write
        try:
            os.link(copy.parts[-1], name, src_dir_fd=src_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
        except OSError as err:
            if err.errno in CANNOT_LINK:
                return False
            raise
        made = sw.lstat_at(dir_fd, name)
        if made is None or (made.st_dev, made.st_ino) != (copy.dev, copy.ino):  # swapped in that instant
            os.unlink(name, dir_fd=dir_fd)
            return False
        return True
