"""Writing beneath a restore target without ever leaving it.

Every path is walked from the target's directory descriptor one component at a time with O_NOFOLLOW,
so a symlink on the way — one that was there already or one this very restore created — stops the
write instead of redirecting it. Stored names are checked first: no '..', '.', '/', NUL or empty names.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence

from core.errors import UnsafePath

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def split_relative(rel: bytes) -> tuple[bytes, ...]:
    """The components of a stored relative path; UnsafePath if any could escape the target."""
    if not rel or rel.startswith(b"/"):
        raise UnsafePath(f"refusing stored path {os.fsdecode(rel)!r}: it is absolute or empty")
    parts = tuple(rel.split(b"/"))
    for part in parts:
        if part in (b"", b".", b"..") or b"\0" in part:
            raise UnsafePath(f"refusing stored path {os.fsdecode(rel)!r}: it would leave the restore target")
    return parts


class ConfinedDir:
    """A directory that restores write into; use as a context manager."""

    def __init__(self, root: bytes) -> None:
        os.makedirs(root, exist_ok=True)
        self.root = root
        self.fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def __enter__(self) -> ConfinedDir:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)

    def open_dir(self, parts: Sequence[bytes], create: bool = True) -> int:
        """A descriptor of the directory `parts`, creating missing ones; never through a symlink."""
        fd = os.dup(self.fd)
        for part in parts:
            try:
                child = self._open_child_dir(fd, part, create)
            finally:
                os.close(fd)
            fd = child
        return fd

    def _open_child_dir(self, fd: int, name: bytes, create: bool) -> int:
        try:
            return os.open(name, DIR_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            if not create:
                raise
            os.mkdir(name, 0o700, dir_fd=fd)
            return os.open(name, DIR_FLAGS, dir_fd=fd)
        except OSError as err:
            if err.errno in (errno.ELOOP, errno.ENOTDIR):
                raise UnsafePath(f"{os.fsdecode(name)!r} is a link or a file where a folder should be; "
                                 "not writing through it") from None
            raise


def lstat_at(dir_fd: int, name: bytes) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def create_file(dir_fd: int, name: bytes) -> int:
    """A new file opened for writing; fails rather than follow or reuse anything already there."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.open(name, flags, 0o600, dir_fd=dir_fd)


def set_link_times(dir_fd: int, name: bytes, mtime_ns: int) -> None:
    os.utime(name, ns=(mtime_ns, mtime_ns), dir_fd=dir_fd, follow_symlinks=False)


def set_metadata(fd: int, mode: int, mtime_ns: int) -> None:
    """A file's or folder's permission bits and mtime, each set only if it differs: a chmod or utime, even
    to the values already there, changes the ctime, and the next backup would store a version of a file
    nobody touched."""
    st = os.fstat(fd)
    if stat.S_IMODE(st.st_mode) != mode & 0o7777:
        os.fchmod(fd, mode & 0o7777)
    if st.st_mtime_ns != mtime_ns:
        os.utime(fd, ns=(st.st_atime_ns, mtime_ns))
