"""Give a restored file, folder or link its stored owner, permission bits, extended attributes and mtime.

Never a set-id file owned by someone other than its owner at backup time: as root the numeric owner is
restored first and the permission bits after, and a set-id bit is kept only when the file's owner (for
set-user-id) or group (for set-group-id) is then the recorded one. So when the chown fails, or when not
running as root (a restored file belongs to whoever restores it), the bit is cleared unless that person is
the recorded owner. Extended attributes: `user.*` and POSIX ACLs always (a file's owner may set them),
`trusted.*` and `security.*` only as root (a `security.*` label this system's policy refuses is skipped);
a filesystem without them gets none, silently. The mtime goes last, since nothing after it changes it.

Each value is set only where it differs: a chmod, chown or utime, even to the value already there, changes
the ctime, and the next backup would store a version of a file nobody touched.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

from timekeep.core.capture.attrs import ACL_NAMES
from timekeep.core.types import Plan

SETID = stat.S_ISUID | stat.S_ISGID
DEFAULT_ACL = b"system.posix_acl_default"
_NOT_HERE = (errno.ENOTSUP, errno.EOPNOTSUPP)  # this filesystem has no extended attributes
_NOT_ALLOWED = (errno.EPERM, errno.EACCES)  # not this one, here (a link takes no user.*, an LSM refuses)
Where = int | bytes  # a descriptor, or a path never followed at its end (a link's)


def is_root() -> bool:
    return os.geteuid() == 0


def wanted_mode(plan: Plan, st: os.stat_result) -> int:
    """The permission bits to give a file now owned as `st` says: the stored ones, less any set-id bit
    whose recorded owner it is not."""
    mode = plan.mode & 0o7777
    if mode & stat.S_ISUID and (plan.uid is None or st.st_uid != plan.uid):
        mode &= ~stat.S_ISUID
    if mode & stat.S_ISGID and (plan.gid is None or st.st_gid != plan.gid):
        mode &= ~stat.S_ISGID
    return mode


def restorable(name: bytes, as_root: bool) -> bool:
    if name.startswith(b"user.") or name in ACL_NAMES:
        return True
    return as_root and name.startswith((b"trusted.", b"security."))


def _owner_differs(plan: Plan, st: os.stat_result, as_root: bool) -> bool:
    return as_root and plan.uid is not None and plan.gid is not None and (st.st_uid, st.st_gid) != (
        plan.uid, plan.gid)


def apply(fd: int, plan: Plan, as_root: bool, bare: bool = False) -> os.stat_result:
    """Owner, bits, extended attributes and mtime of an open file or folder; returns what `fstat` found on the
    way (its device and inode name the file for a hard link to it, without another system call). `bare`: the
    file was just created in a folder that gives its new files no attribute (`gives_attributes`), so one
    stored without any needs no look at them."""
    st = os.fstat(fd)
    if _owner_differs(plan, st, as_root):
        with contextlib.suppress(OSError):  # a filesystem without owners: wanted_mode drops set-id bits
            assert plan.uid is not None and plan.gid is not None
            os.fchown(fd, plan.uid, plan.gid)
        st = os.fstat(fd)
    mode = wanted_mode(plan, st)
    if stat.S_IMODE(st.st_mode) != mode:
        os.fchmod(fd, mode)
    if plan.xattrs or not bare:
        set_xattrs(fd, plan.xattrs, as_root)
    if st.st_mtime_ns != plan.mtime_ns:
        os.utime(fd, ns=(st.st_atime_ns, plan.mtime_ns))
    return st


def gives_attributes(dir_fd: int) -> bool:
    """Whether a file created in this folder may start with an attribute a restore would remove: an ACL from
    the folder's default ACL (a `user.*` one is never inherited). Asked once a folder, so that its new files
    need no look at their attributes (one system call each)."""
    try:
        os.getxattr(dir_fd, DEFAULT_ACL)
    except OSError as err:
        return err.errno not in (errno.ENODATA, *_NOT_HERE)
    return True


def apply_link(dir_fd: int, name: bytes, plan: Plan, as_root: bool) -> None:
    """Owner, extended attributes and mtime of a symbolic link (Linux has no link permissions)."""
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    if _owner_differs(plan, st, as_root):
        with contextlib.suppress(OSError):
            assert plan.uid is not None and plan.gid is not None
            os.chown(name, plan.uid, plan.gid, dir_fd=dir_fd, follow_symlinks=False)
    if as_root and plan.xattrs:  # a link takes only trusted.* and security.*
        set_xattrs(link_path(dir_fd, name), plan.xattrs, as_root)
    if st.st_mtime_ns != plan.mtime_ns:
        os.utime(name, ns=(st.st_atime_ns, plan.mtime_ns), dir_fd=dir_fd, follow_symlinks=False)


def link_path(dir_fd: int, name: bytes) -> bytes:
    """A path to `name` in the folder open as `dir_fd` (the xattr calls take no dir_fd); it resolves no
    link but the folder's own descriptor, so it cannot lead anywhere else."""
    return b"/proc/self/fd/%d/%s" % (dir_fd, name)


def differs(fd: int, plan: Plan, as_root: bool) -> bool:
    """Whether `apply` would change anything on this open file or folder."""
    st = os.fstat(fd)
    return (_owner_differs(plan, st, as_root) or stat.S_IMODE(st.st_mode) != wanted_mode(plan, st)
            or st.st_mtime_ns != plan.mtime_ns or _xattrs_differ(fd, plan.xattrs, as_root))


def link_differs(dir_fd: int, name: bytes, plan: Plan, as_root: bool) -> bool:
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    if _owner_differs(plan, st, as_root) or st.st_mtime_ns != plan.mtime_ns:
        return True
    return as_root and _xattrs_differ(link_path(dir_fd, name), plan.xattrs, as_root)


def _present(where: Where, as_root: bool) -> dict[bytes, bytes] | None:
    """The restorable attributes there now; None where the filesystem has none."""
    follow = isinstance(where, int)
    try:
        names = [os.fsencode(n) for n in os.listxattr(where, follow_symlinks=follow)]
    except OSError as err:
        if err.errno in _NOT_HERE:
            return None
        raise
    found = {}
    for name in names:
        if restorable(name, as_root):
            with contextlib.suppress(OSError):  # gone since it was listed
                found[name] = os.getxattr(where, name, follow_symlinks=follow)
    return found


def _xattrs_differ(where: Where, stored: tuple[tuple[bytes, bytes], ...], as_root: bool) -> bool:
    present = _present(where, as_root)
    return present is not None and present != {n: v for n, v in stored if restorable(n, as_root)}


def set_xattrs(where: Where, stored: tuple[tuple[bytes, bytes], ...], as_root: bool) -> None:
    """Make the restorable attributes there the stored ones: set those that differ, and remove a `user.*`
    or ACL the stored version did not have (an ACL inherited from the folder's default ACL)."""
    present = _present(where, as_root)
    if present is None:
        return
    wanted = {n: v for n, v in stored if restorable(n, as_root)}
    for name, value in wanted.items():
        if present.get(name) != value:
            _change(where, name, value)
    for name in present.keys() - wanted.keys():
        if name.startswith(b"user.") or name in ACL_NAMES:
            _change(where, name, None)


def _change(where: Where, name: bytes, value: bytes | None) -> None:
    """Set (or with None remove) one attribute. What this filesystem or this user cannot do is skipped;
    anything else is an error naming the attribute."""
    follow = isinstance(where, int)
    try:
        if value is None:
            os.removexattr(where, name, follow_symlinks=follow)
        else:
            os.setxattr(where, name, value, follow_symlinks=follow)
    except OSError as err:
        if err.errno in (*_NOT_HERE, *_NOT_ALLOWED, errno.ENODATA):
            return
        if err.errno == errno.EINVAL and name.startswith(b"security."):  # a label this system's policy refuses
            return
        raise OSError(err.errno, f"cannot set its extended attribute {os.fsdecode(name)}: {err.strerror}") from None
