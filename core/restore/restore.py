"""Restore a file or a folder as it stood at a snapshot, in place or into another folder.

Nothing is overwritten without asking: a file that differs from the stored version is kept, and the
stored one is written beside it as 'name (restored YYYY-MM-DD HHMM).ext' (the snapshot's local time),
unless `overwrite` is set. Files that exist now but did not then are left alone, and so is whatever is
already as it was: not renamed, chmodded or touched, since a new inode or ctime would make the next
backup store a version of a file nobody changed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from datetime import datetime
from typing import BinaryIO, cast

from peewee import SqliteDatabase

from core.errors import CorruptData, TimekeepError, UnsafePath
from core.index import queries
from core.restore import build
from core.restore import safe_write as sw
from core.restore.build import lost_between
from core.restore.combine import ChunkSource, write_version
from core.types import FileError, Plan, RestoreResult, SnapshotInfo

O_NOATIME = getattr(os, "O_NOATIME", 0)


def beside_name(name: bytes, snapshot_ns: int, n: int = 1) -> bytes:
    stem, ext = os.path.splitext(name)
    when = datetime.fromtimestamp(snapshot_ns / 1e9).strftime("%Y-%m-%d %H%M")
    extra = b"" if n == 1 else b" %d" % n
    return stem[:200] + b" (restored " + when.encode() + extra + b")" + ext[:40]


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


def _open_existing(dir_fd: int, name: bytes) -> int:
    """The file already at `name`, for reading only; its access time is left alone where allowed."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # a FIFO swapped in must not block
    try:
        return os.open(name, flags | O_NOATIME, dir_fd=dir_fd)
    except PermissionError:
        if not O_NOATIME:
            raise
        return os.open(name, flags, dir_fd=dir_fd)


class Restorer:
    def __init__(self, db: SqliteDatabase, source: ChunkSource, snapshot: SnapshotInfo, overwrite: bool,
                 on_bytes: Callable[[int], None] | None = None) -> None:
        self.db, self.source, self.snapshot, self.overwrite = db, source, snapshot, overwrite
        self.on_bytes = on_bytes
        self.written: list[bytes] = []
        self.beside: list[tuple[bytes, bytes]] = []
        self.unchanged = 0
        self.already_beside: list[tuple[bytes, bytes]] = []
        self.errors: list[FileError] = []
        self.doubts: list[str] = []

    def restore(self, path: bytes, dest: bytes | None) -> RestoreResult:
        first = build.plan(self.db, path, self.snapshot.id)
        root = dest if dest is not None else os.path.dirname(path)
        with sw.ConfinedDir(root) as target:
            self._restore(target, path, first, (os.path.basename(path),))
        return RestoreResult(tuple(self.written), tuple(self.beside), self.unchanged, tuple(self.errors),
                             tuple(self.already_beside), self._warnings(first))

    def _warnings(self, first: Plan) -> tuple[str, ...]:
        """What a lost snapshot before this one may have cost the restore, said once."""
        lost = lost_between(self.db, 0, self.snapshot.id)
        if not lost:
            return ()
        said = [f"snapshot {', '.join(map(str, lost))} {'is' if len(lost) == 1 else 'are'} lost (manifest and index "
                "both gone): what was created or changed there and not changed since is missing or older here"]
        if len(self.doubts) == 1:
            said.append(self.doubts[0])
        elif self.doubts:
            said.append(f"{len(self.doubts)} files restored may have changed in a lost snapshot")
        return tuple(said) if first.kind == "dir" or self.doubts else ()

    def _restore(self, target: sw.ConfinedDir, path: bytes, plan: Plan, parts: tuple[bytes, ...]) -> None:
        if plan.doubt is not None:
            self.doubts.append(plan.doubt)
        try:
            if plan.kind == "dir":
                self._directory(target, path, plan, parts)
            else:
                self._leaf(target, plan, parts)
        except (OSError, TimekeepError) as err:
            message = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            self.errors.append(FileError(path, "restore", message))

    def _directory(self, target: sw.ConfinedDir, path: bytes, plan: Plan, parts: tuple[bytes, ...]) -> None:
        fd = target.open_dir(parts)
        try:
            fid = queries.file_id(self.db, path)
            for entry in queries.children_at(self.db, fid, self.snapshot.id, self._damaged) if fid is not None else []:
                self._child(target, path, entry.path, parts)
            sw.set_metadata(fd, plan.mode, plan.mtime_ns)
        finally:
            os.close(fd)

    def _damaged(self, path: bytes) -> None:
        self.errors.append(FileError(path, "restore", "its record in the index is not what was written (damaged); "
                                     "run `timekeep rebuild-index`"))

    def _child(self, target: sw.ConfinedDir, parent: bytes, path: bytes, parts: tuple[bytes, ...]) -> None:
        """Restore one child of a folder; a bad child is an error of its own, never its siblings'."""
        try:
            rel = path[len(parent) + 1 :] if path.startswith(parent + b"/") else path
            child_parts = parts + sw.split_relative(rel)
            if len(child_parts) != len(parts) + 1:
                raise UnsafePath(f"refusing stored path {os.fsdecode(path)!r}: it is not a child of its folder")
            child = build.plan(self.db, path, self.snapshot.id)
        except TimekeepError as err:
            self.errors.append(FileError(path, "restore", str(err)))
            return
        self._restore(target, path, child, child_parts)

    def _leaf(self, target: sw.ConfinedDir, plan: Plan, parts: tuple[bytes, ...]) -> None:
        dir_fd = target.open_dir(parts[:-1])
        try:
            name = parts[-1]
            if self._already_there(dir_fd, name, plan):
                self.unchanged += 1
                return
            earlier = None if self.overwrite else self._restored_beside(dir_fd, name, plan)
            if earlier is not None:  # restored beside before: a second identical copy helps nobody
                self.already_beside.append((os.path.join(target.root, *parts),
                                            os.path.join(target.root, *parts[:-1], earlier)))
                return
            tmp = b".%s.%d.restoring" % (name[:180], os.getpid())
            self._write_temp(dir_fd, tmp, plan)
            try:
                self._place(dir_fd, tmp, parts, target.root)
            except BaseException:
                os.unlink(tmp, dir_fd=dir_fd)
                raise
        finally:
            os.close(dir_fd)

    def _already_there(self, dir_fd: int, name: bytes, plan: Plan) -> bool:
        """True when `name` already holds the stored version's content; only metadata that differs is
        set on it. It is never replaced: a new inode or ctime would make the next backup store a version."""
        existing = sw.lstat_at(dir_fd, name)
        if existing is None:
            return False
        if plan.kind == "symlink":
            if not stat.S_ISLNK(existing.st_mode) or os.readlink(name, dir_fd=dir_fd) != plan.link_target:
                return False
            if existing.st_mtime_ns != plan.mtime_ns:
                sw.set_link_times(dir_fd, name, plan.mtime_ns)
            return True
        if not stat.S_ISREG(existing.st_mode) or existing.st_size != plan.size:
            return False
        fd = _open_existing(dir_fd, name)
        try:
            if not self._same_content(fd, plan):
                return False
            sw.set_metadata(fd, plan.mode, plan.mtime_ns)
            return True
        finally:
            os.close(fd)

    def _same_content(self, fd: int, plan: Plan) -> bool:
        """Stream the version against the open file, stopping at the first difference."""
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        with open(fd, "rb", closefd=False) as fh:
            sink = _CompareSink(fh)
            try:
                write_version(self.source, plan, cast(BinaryIO, sink))
            except _Differs:
                return False
            if fh.read(1):
                return False
        if self.on_bytes is not None:
            self.on_bytes(sink.compared)
        return True

    def _write_temp(self, dir_fd: int, tmp: bytes, plan: Plan) -> None:
        if plan.kind == "symlink":
            assert plan.link_target is not None
            os.symlink(plan.link_target, tmp, dir_fd=dir_fd)
            sw.set_link_times(dir_fd, tmp, plan.mtime_ns)
            return
        fd = sw.create_file(dir_fd, tmp)
        try:
            with open(fd, "wb", closefd=False) as out:
                write_version(self.source, plan, out, self.on_bytes)
            os.fchmod(fd, plan.mode & 0o7777)
            os.utime(fd, ns=(plan.mtime_ns, plan.mtime_ns))
        except BaseException:
            os.close(fd)
            os.unlink(tmp, dir_fd=dir_fd)
            raise
        os.close(fd)

    def _place(self, dir_fd: int, tmp: bytes, parts: tuple[bytes, ...], root: bytes) -> None:
        """Move the restored temporary to its name, or beside what is there (see the module docstring)."""
        name = parts[-1]
        existing = sw.lstat_at(dir_fd, name)
        shown = os.path.join(root, *parts)
        if existing is None or (self.overwrite and not stat.S_ISDIR(existing.st_mode)):
            os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            self.written.append(shown)
        else:
            beside = self._free_beside_name(dir_fd, name)
            os.rename(tmp, beside, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            self.beside.append((shown, os.path.join(root, *parts[:-1], beside)))

    def _restored_beside(self, dir_fd: int, name: bytes, plan: Plan) -> bytes | None:
        """The name beside `name` that already holds this version (an earlier restore wrote it), if any."""
        if plan.kind != "file" or sw.lstat_at(dir_fd, name) is None:
            return None
        for n in range(1, 1000):
            candidate = beside_name(name, self.snapshot.time_ns, n)
            if sw.lstat_at(dir_fd, candidate) is None:
                return None
            if self._already_there(dir_fd, candidate, plan):
                return candidate
        return None

    def _free_beside_name(self, dir_fd: int, name: bytes) -> bytes:
        for n in range(1, 1000):
            candidate = beside_name(name, self.snapshot.time_ns, n)
            if sw.lstat_at(dir_fd, candidate) is None:
                return candidate
        raise CorruptData(f"no free name beside {os.fsdecode(name)}")
