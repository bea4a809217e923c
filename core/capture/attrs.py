"""Read a path's extended attributes at backup time, in the index's encoding (core/storage/xattrs.py).

Kept: `user.*`, and whatever of `trusted.*`, `security.*` and the POSIX ACLs (`system.posix_acl_access`,
`system.posix_acl_default`) this process can read (the kernel lists `trusted.*` to root alone). Other
`system.*` names are views the filesystem computes, not attributes anyone set. A filesystem without
extended attributes simply has none.
"""

from __future__ import annotations

import errno
import os

from timekeep.core.storage import xattrs as xattrs_codec

KEPT_PREFIXES = (b"user.", b"trusted.", b"security.")
ACL_NAMES = (b"system.posix_acl_access", b"system.posix_acl_default")
# none here: the filesystem has no extended attributes, or the attribute went between listing and reading
_NONE_HERE = (errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENODATA)


def kept(name: bytes) -> bool:
    return name.startswith(KEPT_PREFIXES) or name in ACL_NAMES


def of_fd(fd: int) -> bytes | None:
    """The extended attributes of an open file (the one being read: no race with a rename). An error
    other than 'none here' is raised, so the read fails like any other unreadable file."""
    return _read(fd, True)


def of_path(path: bytes) -> bytes | None:
    """The extended attributes of a folder or link, never following a link. Best effort: a path gone or
    unreadable since the scan looked at it records none rather than failing the snapshot."""
    try:
        return _read(path, False)
    except OSError:
        return None


def _read(where: int | bytes, follow: bool) -> bytes | None:
    try:
        names = [os.fsencode(n) for n in os.listxattr(where, follow_symlinks=follow)]
    except OSError as err:
        if err.errno in _NONE_HERE:
            return None
        raise
    found: list[tuple[bytes, bytes]] = []
    for name in sorted(n for n in names if kept(n)):
        try:
            found.append((name, os.getxattr(where, name, follow_symlinks=follow)))
        except OSError as err:
            if err.errno not in (*_NONE_HERE, errno.EPERM, errno.EACCES):
                raise
    return xattrs_codec.encode(tuple(found))
