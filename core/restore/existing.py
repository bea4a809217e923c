"""What a restore finds already at a name: the stored content (left in place), or something else (kept, and
the stored version written beside it under a free 'restored' name).

Comparing streams the stored version against the file on disk and stops at the first difference, so a file
that differs early costs little; the file is opened read-only, without following a link, and without
blocking on a FIFO swapped in.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from typing import BinaryIO, Literal, TypeVar, cast

from timekeep.core.errors import TimekeepError
from timekeep.core.restore import metadata, names
from timekeep.core.restore import safe_write as sw
from timekeep.core.restore.combine import ChunkSource, write_version
from timekeep.core.types import Plan

T = TypeVar("T")

O_NOATIME = getattr(os, "O_NOATIME", 0)
BESIDE_TRIES = 1000


class _Differs(Exception):
    """The file on disk is not the stored version; raised to stop streaming the version early."""


class _CompareSink:
    """Takes a version's bytes as `write_version` streams them and checks them against an open file."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.compared = 0

    def write(self, data: bytes | memoryview) -> int:
        if self.fh.read(len(data)) != data:
            raise _Differs
        self.compared += len(data)
        return len(data)


def open_existing(dir_fd: int, name: bytes) -> int:
    """The file already at `name`, for reading only; its access time is left alone where allowed."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # a FIFO swapped in must not block
    try:
        return os.open(name, flags | O_NOATIME, dir_fd=dir_fd)
    except PermissionError:
        if not O_NOATIME:
            raise
        return os.open(name, flags, dir_fd=dir_fd)


def same_link(dir_fd: int, name: bytes, plan: Plan, st: os.stat_result) -> bool:
    return stat.S_ISLNK(st.st_mode) and os.readlink(name, dir_fd=dir_fd) == plan.link_target


def same_content(source: ChunkSource, fd: int, plan: Plan, on_bytes: Callable[[int], None] | None) -> bool:
    """Stream the version against the open file, stopping at the first difference."""
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        return False
    with open(fd, "rb", closefd=False) as fh:
        sink = _CompareSink(fh)
        try:
            write_version(source, plan, cast(BinaryIO, sink))
        except _Differs:
            return False
        if fh.read(1):
            return False
    if on_bytes is not None:
        on_bytes(sink.compared)
    return True


def open_if_same(source: ChunkSource, dir_fd: int, name: bytes, plan: Plan, st: os.stat_result,
                 on_bytes: Callable[[int], None] | None) -> int | None:
    """A read-only descriptor of `name` if it is a regular file holding the stored content, else None."""
    if plan.kind != "file" or not stat.S_ISREG(st.st_mode) or st.st_size != plan.size:
        return None
    fd = open_existing(dir_fd, name)
    try:
        if same_content(source, fd, plan, on_bytes):
            return fd
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    return None


def already_there(source: ChunkSource, dir_fd: int, name: bytes, plan: Plan, st: os.stat_result, overwrite: bool,
                  as_root: bool, on_bytes: Callable[[int], None] | None) -> Literal["same", "metadata kept"] | None:
    """Whether `name` already holds the stored content (None when it does not). It is then left in place: its
    metadata set back only with `overwrite`, and otherwise said to be kept when it differs."""
    if plan.kind == "symlink":
        if not same_link(dir_fd, name, plan, st):
            return None
        if overwrite:
            metadata.apply_link(dir_fd, name, plan, as_root)
        elif metadata.link_differs(dir_fd, name, plan, as_root):
            return "metadata kept"
        return "same"
    fd = open_if_same(source, dir_fd, name, plan, st, on_bytes)
    if fd is None:
        return None
    try:
        if overwrite:
            metadata.apply(fd, plan, as_root)
        elif metadata.differs(fd, plan, as_root):
            return "metadata kept"
    finally:
        os.close(fd)
    return "same"


def move_beside(dir_fd: int, tmp: bytes, name: bytes, time_ns: int) -> bytes:
    """Give the temporary the first free 'restored' name beside `name`; returns it."""
    for n in range(1, BESIDE_TRIES):
        candidate = names.beside_name(name, time_ns, n)
        try:
            sw.rename_noreplace(dir_fd, tmp, candidate)
            return candidate
        except FileExistsError:
            continue
    raise TimekeepError(f"no free name beside {os.fsdecode(name)}")


def restored_beside(source: ChunkSource, dir_fd: int, name: bytes, plan: Plan, time_ns: int,
                    on_bytes: Callable[[int], None] | None) -> bytes | None:
    """The name beside `name` that already holds this version (an earlier restore wrote it), if any."""
    if plan.kind != "file":
        return None
    for n in range(1, BESIDE_TRIES):
        candidate = names.beside_name(name, time_ns, n)
        st = sw.lstat_at(dir_fd, candidate)
        if st is None:
            return None
        fd = open_if_same(source, dir_fd, candidate, plan, st, on_bytes)
        if fd is not None:
            os.close(fd)
            return candidate
    return None


def or_remove(dir_fd: int, tmp: bytes, work: Callable[[], T]) -> T:
    """Do `work` on the temporary; if it fails, remove the temporary: never keep a half-made one."""
    try:
        return work()
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
