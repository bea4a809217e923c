"""The one way to put a whole file on the drive: write a temporary, fsync, rename, fsync the directory.

Files that hold data (packs, manifests) are published with `publish_new`, which never replaces a file
already under the final name: a writer that is wrong about what the drive holds fails instead of
destroying history.
"""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

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


def atomic_write(path: str | Path, data: bytes) -> None:
    """Replace `path` with `data` so a crash leaves either the old or the new file, never a torn one."""
    target = Path(path)
    tmp = temp_name(target)
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    publish(tmp, target)


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
