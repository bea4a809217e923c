"""Restore a file or a folder as it stood at a snapshot, in place or into another folder.

Nothing is overwritten without asking: a file that differs from the stored version is kept, and the
stored one is written beside it as 'name (restored YYYY-MM-DD HHMM).ext' (the snapshot's local time),
unless `overwrite` is set. Files that exist now but did not then are left alone.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from datetime import datetime

from peewee import SqliteDatabase

from core.errors import CorruptData, TimekeepError, UnsafePath
from core.index import queries
from core.restore import safe_write as sw
from core.restore.build import plan_version, version_at
from core.restore.combine import ChunkSource, write_version
from core.types import FileError, Plan, RestoreResult, SnapshotInfo


def beside_name(name: bytes, snapshot_ns: int, n: int = 1) -> bytes:
    stem, ext = os.path.splitext(name)
    when = datetime.fromtimestamp(snapshot_ns / 1e9).strftime("%Y-%m-%d %H%M")
    extra = b"" if n == 1 else b" %d" % n
    return stem[:200] + b" (restored " + when.encode() + extra + b")" + ext[:40]


def _same_file(dir_fd: int, a: bytes, b: bytes) -> bool:
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    with open(os.open(a, flags, dir_fd=dir_fd), "rb") as fa, open(os.open(b, flags, dir_fd=dir_fd), "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


class Restorer:
    def __init__(self, db: SqliteDatabase, source: ChunkSource, snapshot: SnapshotInfo, overwrite: bool,
                 on_bytes: Callable[[int], None] | None = None) -> None:
        self.db, self.source, self.snapshot, self.overwrite = db, source, snapshot, overwrite
        self.on_bytes = on_bytes
        self.written: list[bytes] = []
        self.beside: list[tuple[bytes, bytes]] = []
        self.unchanged = 0
        self.errors: list[FileError] = []

    def restore(self, path: bytes, dest: bytes | None) -> RestoreResult:
        version = version_at(self.db, path, self.snapshot.id)
        root = dest if dest is not None else os.path.dirname(path)
        with sw.ConfinedDir(root) as target:
            self._restore(target, path, plan_version(self.db, path, version), (os.path.basename(path),))
        return RestoreResult(tuple(self.written), tuple(self.beside), self.unchanged, tuple(self.errors))

    def _restore(self, target: sw.ConfinedDir, path: bytes, plan: Plan, parts: tuple[bytes, ...]) -> None:
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
            for entry in queries.children_at(self.db, fid, self.snapshot.id) if fid is not None else []:
                self._child(target, path, entry.path, parts)
            sw.set_dir_metadata(fd, plan.mode, plan.mtime_ns)
        finally:
            os.close(fd)

    def _child(self, target: sw.ConfinedDir, parent: bytes, path: bytes, parts: tuple[bytes, ...]) -> None:
        """Restore one child of a folder; a bad child is an error of its own, never its siblings'."""
        try:
            rel = path[len(parent) + 1 :] if path.startswith(parent + b"/") else path
            child_parts = parts + sw.split_relative(rel)
            if len(child_parts) != len(parts) + 1:
                raise UnsafePath(f"refusing stored path {os.fsdecode(path)!r}: it is not a child of its folder")
            plan = plan_version(self.db, path, version_at(self.db, path, self.snapshot.id))
        except TimekeepError as err:
            self.errors.append(FileError(path, "restore", str(err)))
            return
        self._restore(target, path, plan, child_parts)

    def _leaf(self, target: sw.ConfinedDir, plan: Plan, parts: tuple[bytes, ...]) -> None:
        dir_fd = target.open_dir(parts[:-1])
        try:
            name = parts[-1]
            tmp = b".%s.%d.restoring" % (name[:180], os.getpid())
            self._write_temp(dir_fd, tmp, plan)
            try:
                self._place(dir_fd, tmp, parts, plan, target.root)
            except BaseException:
                os.unlink(tmp, dir_fd=dir_fd)
                raise
        finally:
            os.close(dir_fd)

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

    def _place(self, dir_fd: int, tmp: bytes, parts: tuple[bytes, ...], plan: Plan, root: bytes) -> None:
        """Move the restored temporary to its name, or beside what is there (see the module docstring)."""
        name = parts[-1]
        existing = sw.lstat_at(dir_fd, name)
        shown = os.path.join(root, *parts)
        if existing is not None and self._identical(dir_fd, tmp, name, existing, plan):
            os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            self.unchanged += 1
        elif existing is None or (self.overwrite and not stat.S_ISDIR(existing.st_mode)):
            os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            self.written.append(shown)
        else:
            beside = self._free_beside_name(dir_fd, name)
            os.rename(tmp, beside, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            self.beside.append((shown, os.path.join(root, *parts[:-1], beside)))

    def _identical(self, dir_fd: int, tmp: bytes, name: bytes, existing: os.stat_result, plan: Plan) -> bool:
        if plan.kind == "symlink":
            return stat.S_ISLNK(existing.st_mode) and os.readlink(name, dir_fd=dir_fd) == plan.link_target
        return stat.S_ISREG(existing.st_mode) and existing.st_size == plan.size and _same_file(dir_fd, tmp, name)

    def _free_beside_name(self, dir_fd: int, name: bytes) -> bytes:
        for n in range(1, 1000):
            candidate = beside_name(name, self.snapshot.time_ns, n)
            if sw.lstat_at(dir_fd, candidate) is None:
                return candidate
        raise CorruptData(f"no free name beside {os.fsdecode(name)}")
