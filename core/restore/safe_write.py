"""Writing beneath a restore target without ever leaving it, and without replacing what is not ours to.

Every path is walked from the target's directory descriptor one component at a time with O_NOFOLLOW,
so a symlink on the way — one that was there already or one this very restore created — stops the
write instead of redirecting it, and no path is ever longer than one name. Stored names are checked
first: no '..', '.', '/', NUL or empty names. A temporary is moved to a name that is free with
renameat2(RENAME_NOREPLACE), so a file that appears there meanwhile is never replaced; replacing (asked
for with --overwrite) fsyncs the new file first and the folder after.

Where the filesystem allows it, a new file is made without a name (O_TMPFILE) and given its name once it is
whole (`name_unnamed`, a link that fails on a taken name): a process killed while writing it leaves nothing
behind at all, and the folder is changed once a file instead of twice (create, then rename).
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Sequence

from timekeep.core.errors import UnsafePath

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
RENAME_NOREPLACE = 1
AT_EMPTY_PATH = 0x1000
_libc = ctypes.CDLL(None, use_errno=True)
_renameat2 = getattr(_libc, "renameat2", None)
if _renameat2 is not None:
    _renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
_linkat = getattr(_libc, "linkat", None)
if _linkat is not None:
    _linkat.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
# no O_TMPFILE here (the filesystem: FAT, NFS, FUSE, ...; or the kernel): the file is made under a temporary name
NO_UNNAMED = (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT)
UNNAMED = getattr(os, "O_TMPFILE", 0)
NO_FLAG = (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP)  # the filesystem (or libc) refuses RENAME_NOREPLACE
NO_LINKS = (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL, errno.EMLINK)


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
                child, _ = open_child_dir(fd, part, create)
            finally:
                os.close(fd)
            fd = child
        return fd


def open_child_dir(fd: int, name: bytes, create: bool = True, mode: int = 0o700) -> tuple[int, bool]:
    """A descriptor of the folder `name` in the folder `fd`, and whether it was created just now (with
    `mode`, less the umask)."""
    try:
        return os.open(name, DIR_FLAGS, dir_fd=fd), False
    except FileNotFoundError:
        if not create:
            raise
        try:
            os.mkdir(name, mode, dir_fd=fd)
        except FileExistsError:  # made meanwhile (by another share of this restore: shares.py): opened as found
            return open_child_dir(fd, name, create=False)
        return os.open(name, DIR_FLAGS, dir_fd=fd), True
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


def create_file(dir_fd: int, name: bytes, mode: int = 0o600) -> int:
    """A new file opened for writing, with the permission bits `mode` (less the umask, and never a set-id
    bit); fails rather than follow or reuse anything already there."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.open(name, flags, mode & 0o777, dir_fd=dir_fd)


def create_unnamed(dir_fd: int, mode: int = 0o600) -> int | None:
    """A new file without a name in the folder, opened for writing (named later by `name_unnamed`); None where
    the filesystem cannot make one. It vanishes with its last descriptor unless it was named."""
    if not UNNAMED:
        return None
    try:
        return os.open(b".", os.O_WRONLY | UNNAMED | os.O_CLOEXEC, mode & 0o777, dir_fd=dir_fd)
    except OSError as err:
        if err.errno in NO_UNNAMED:
            return None
        raise


def name_unnamed(fd: int, dir_fd: int, name: bytes) -> None:
    """Give the unnamed file `fd` the name `name` in the folder; FileExistsError if the name is taken (what is
    there stays as it is). Linked from its descriptor where the kernel lets this process (root; any user on
    recent kernels, as on 6.18 here), else through /proc."""
    if _linkat is not None and _linkat(fd, b"", dir_fd, name, AT_EMPTY_PATH) == 0:
        return
    err = ctypes.get_errno() if _linkat is not None else errno.ENOSYS
    if err not in (errno.ENOENT, errno.EPERM, errno.ENOSYS):  # ENOENT: AT_EMPTY_PATH wants a capability
        raise OSError(err, os.strerror(err), os.fsdecode(name))
    os.link(b"/proc/self/fd/%d" % fd, name, dst_dir_fd=dir_fd, follow_symlinks=True)


def rename_noreplace(dir_fd: int, src: bytes, dst: bytes) -> None:
    """Move `src` to `dst` in the same folder; FileExistsError if `dst` exists, which stays as it is.

    Where the filesystem refuses RENAME_NOREPLACE, a hard link does the same (it fails on an existing
    name); where it has no links either (FAT), the name is looked at first, and only there can a file
    appearing in that instant be replaced."""
    if _renameat2 is not None:
        if _renameat2(dir_fd, src, dir_fd, dst, RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err not in NO_FLAG:
            raise OSError(err, os.strerror(err), os.fsdecode(dst))
    try:
        os.link(src, dst, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
    except OSError as err:
        if err.errno not in NO_LINKS:
            raise
        if lstat_at(dir_fd, dst) is not None:
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), os.fsdecode(dst)) from None
        os.rename(src, dst, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        return
    os.unlink(src, dir_fd=dir_fd)


def replace(dir_fd: int, src: bytes, dst: bytes) -> None:
    """Move `src`, already fsynced by its writer, over `dst`, and make the rename itself durable: the new
    file is on the disk before the old one's name is taken from it, so a power cut leaves one or the
    other, never an empty file."""
    os.rename(src, dst, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    os.fsync(dir_fd)
