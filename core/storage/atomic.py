"""The one way to put a whole file on the drive: write a temporary, fsync, rename, fsync the directory.

Files that hold data (packs, manifests) are published with `publish_new`, which never replaces a file
already under the final name: a writer that is wrong about what the drive holds fails instead of
destroying history.

Everything created here is private to its owner whatever the umask: files 0600 (`create_private`),
folders 0700 (`make_private_dir`). On drives without Unix permissions (FAT, exFAT) the mount options decide
who can read, and the chmod that cannot apply there is not an error.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
NO_UNIX_MODES = (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS)  # chmod on FAT and the like
RENAME_NOREPLACE = 1
AT_FDCWD = -100
_libc = ctypes.CDLL(None, use_errno=True)
_renameat2 = getattr(_libc, "renameat2", None)


def fsync_dir(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def create_private(path: str | Path) -> int:
    """A new file at `path`, open for writing, readable by its owner alone (0600 whatever the umask).

    O_EXCL: FileExistsError rather than opening what is already there. The caller owns the descriptor.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != FILE_MODE:  # a umask that took the owner's bits
            _chmod_where_possible(lambda: os.fchmod(fd, FILE_MODE))
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    return fd


def make_private_dir(path: str | Path, exist_ok: bool = False) -> None:
    """Create the folder `path` (its parent must exist), 0700 whatever the umask. A folder already there
    is FileExistsError, or with `exist_ok` made 0700 itself."""
    try:
        os.mkdir(path, DIR_MODE)
    except FileExistsError:
        if not exist_ok:
            raise
    if stat.S_IMODE(os.stat(path).st_mode) != DIR_MODE:
        _chmod_where_possible(lambda: os.chmod(path, DIR_MODE))


def _chmod_where_possible(chmod: Callable[[], None]) -> None:
    try:
        chmod()
    except OSError as err:
        if err.errno not in NO_UNIX_MODES:
            raise


def atomic_write(path: str | Path, data: bytes, *, replace: bool = True) -> None:
    """Replace `path` with `data` so a crash leaves either the old or the new file, never a torn one.
    The new file is private (0600). With `replace=False` an existing `path` is FileExistsError instead."""
    target = Path(path)
    tmp = temp_name(target)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)  # left by a killed process that had our pid
    fd = create_private(tmp)
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)  # once, whatever happened: a failed close has released the descriptor too
        (publish if replace else publish_new)(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):  # the drive may be gone; the next writer removes temporaries
            os.unlink(tmp)
        raise


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def publish(tmp: Path, target: Path) -> None:
    """Rename an already-fsynced temporary into place and make the rename itself durable."""
    os.replace(tmp, target)
    fsync_dir(target.parent)


def publish_new(tmp: Path, target: Path) -> None:
    """Like `publish`, but FileExistsError if `target` exists: it is never replaced.

    renameat2(RENAME_NOREPLACE) does it in one step; where the filesystem refuses the flag (some FUSE
    filesystems), a hard link does (it fails on an existing name), and where neither works (FAT has no
    links) the name is looked at first, which the writer lock makes safe against other Timekeep writers.
    """
    if not _rename_noreplace(tmp, target):
        try:
            os.link(tmp, target)
        except OSError as err:
            if err.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL, errno.EMLINK):
                raise
            if os.path.lexists(target):
                raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(target)) from None
            os.rename(tmp, target)
        else:
            os.unlink(tmp)
    fsync_dir(target.parent)


def _rename_noreplace(tmp: Path, target: Path) -> bool:
    """True when renamed; False when this system or filesystem cannot rename without replacing."""
    if _renameat2 is None:
        return False
    if _renameat2(AT_FDCWD, os.fsencode(tmp), AT_FDCWD, os.fsencode(target), RENAME_NOREPLACE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(target))
