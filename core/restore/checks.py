"""Stored values a restore refuses before acting on them, and a written file held to its version's size.
A damaged or hostile index or manifest (whose seals are checksums, not signatures) must cost the one entry,
with a one-line error, never a traceback, a write outside the target, or a file with absurd permissions,
owner or times.
"""

from __future__ import annotations

import os
import stat

from timekeep.core.errors import CorruptData, TimekeepError
from timekeep.core.types import Plan

INT64 = 2**63
ID_LIMIT = 2**32 - 1  # chown takes (uid_t)-1 as "leave as it is": no owner may be it
PATH_MAX = 4096
XATTR_NAME_MAX = 255
XATTR_SIZE_MAX = 65536
KIND_BITS = {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "symlink": stat.S_IFLNK}


def check(plan: Plan) -> None:
    """CorruptData naming the entry and what is wrong with it, if anything is."""
    problem = _numbers(plan) or _link(plan) or _xattrs(plan)
    if problem is not None:
        raise CorruptData(f"refusing the stored {plan.kind} {os.fsdecode(plan.path)!r}: {problem}")


def written(st: os.stat_result, plan: Plan) -> None:
    """TimekeepError when a restored file came out another size than its version: the stream was checked whole
    before it was written, and this checks what reached the file (a writer that loses bytes)."""
    if st.st_size != plan.size:
        raise TimekeepError(f"the restored file came out {st.st_size} bytes where the version has {plan.size}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _numbers(plan: Plan) -> str | None:
    if plan.kind not in KIND_BITS:
        return "its kind is unknown"
    if not _is_int(plan.size) or not 0 <= plan.size < INT64:
        return f"its size ({plan.size!r}) is impossible"
    if not _is_int(plan.mode) or not 0 <= plan.mode < 2**32 or stat.S_IFMT(plan.mode) not in (
            0, KIND_BITS[plan.kind]):
        return f"its mode ({plan.mode!r}) is impossible"
    if not _is_int(plan.mtime_ns) or not -INT64 <= plan.mtime_ns < INT64:
        return f"its modification time ({plan.mtime_ns!r}) is impossible"
    for owner in (plan.uid, plan.gid):
        if owner is not None and (not _is_int(owner) or not 0 <= owner < ID_LIMIT):
            return f"its owner ({owner!r}) is impossible"
    return None


def _link(plan: Plan) -> str | None:
    if plan.kind != "symlink":
        return None
    target = plan.link_target
    if not isinstance(target, bytes) or not target:
        return "it has no link target"
    if b"\0" in target or len(target) >= PATH_MAX:
        return "its link target holds a NUL byte or is too long"
    return None


def _xattrs(plan: Plan) -> str | None:
    for name, value in plan.xattrs:
        if not name or b"\0" in name or len(name) > XATTR_NAME_MAX or len(value) > XATTR_SIZE_MAX:
            return f"its extended attribute {os.fsdecode(name[:64])!r} is impossible"
    return None
