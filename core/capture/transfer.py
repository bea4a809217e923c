"""Store a snapshot of another repository as a snapshot of this one: what the computer's own disk kept
while the drive was away (timekeep.core.away) goes onto the drive with its original time.

It is a storage time whose source is the other repository's snapshot instead of the folders: each version
that snapshot recorded is read back from the other repository, verified against its whole-file digest
(a damaged one costs that file alone and is recorded as the new snapshot's error), chunked and stored here
against this repository's own history (its previous version, its chunks: dedup and changed locations as in
any backup). Each copied file is staged in an unnamed temporary file on the source's disk, so memory stays
flat and a killed copy leaves nothing behind. The manifest's header names where the snapshot came from
(`copied_from`), so a copy interrupted after it was sealed is recognised and never made twice.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from peewee import DatabaseError

from timekeep.core.capture.observe import Observed, classify
from timekeep.core.capture.read import ReadContext, _chunk_and_store, _result
from timekeep.core.capture.scan import ScanItem
from timekeep.core.capture.store import ChunkStore
from timekeep.core.errors import BackupCancelled, CorruptData, IndexDamaged, StorageError, UsageError
from timekeep.core.folders import folders
from timekeep.core.index import queries
from timekeep.core.index.queries import VersionRow, damaged_at
from timekeep.core.index.recovery import discard_snapshot
from timekeep.core.index.writer import NewVersion, SnapshotWriter
from timekeep.core.paths import is_inside
from timekeep.core.repository import Repository
from timekeep.core.storage.failures import drive_errors
from timekeep.core.storage.manifest import current_manifest, manifest_ids, read_manifest
from timekeep.core.storage.pack import PackWriter
from timekeep.core.types import FileError, Progress, SnapshotInfo

COPIED_FROM = "copied_from"  # the manifest header's field: {"repository": id, "snapshot": id, "time_ns": ns}
SOURCE_FAULTS = (CorruptData, IndexDamaged, StorageError, DatabaseError, OSError)


@dataclass(frozen=True)
class SourceVersion:
    """One version the source snapshot recorded, as checked against its seal there."""

    path: bytes
    row: VersionRow


def copied_from(source: Repository, snapshot_id: int, time_ns: int) -> dict[str, Any]:
    return {"repository": source.config.repository_id, "snapshot": snapshot_id, "time_ns": time_ns}


def already_copied(dest: Repository, mark: dict[str, Any]) -> SnapshotInfo | None:
    """The snapshot of `dest` made from the source snapshot `mark` names, if one was sealed: read from the
    manifests on the drive (the truth), among the snapshots at that very time."""
    for snap in queries.snapshots(dest.db):
        if snap.time_ns != mark["time_ns"]:
            continue
        name = current_manifest(dest.layout, snap.id)
        if name is None:
            continue
        try:
            header = next(read_manifest(dest.layout.store, name, dest.layout.sealing))
        except (StorageError, CorruptData, StopIteration):
            continue
        if header.get(COPIED_FROM) == mark:
            return snap
    return None


def source_versions(source: Repository, snapshot_id: int, report: list[FileError]) -> Iterator[SourceVersion]:
    """The versions the source snapshot recorded, each checked against its seal; a damaged row is reported."""
    rows = source.db.execute_sql(
        f"SELECT f.path, {queries.VERSION_COLUMNS} FROM version v JOIN file f ON f.id = v.file_id "
        "WHERE v.snapshot_id = ? ORDER BY f.path", (snapshot_id,)).fetchall()
    for path, *values in rows:
        row = VersionRow._make(values)
        if row.sealed(bytes(path)):
            yield SourceVersion(bytes(path), row)
        else:
            report.append(FileError(bytes(path), "unreadable", "its record in the copy it came from is damaged"))


class Transfer:
    """One copy of `snapshot_id` of `source` into the writer `dest`."""

    def __init__(self, source: Repository, snapshot_id: int, dest: Repository,
                 cancel: threading.Event | None = None, progress: Callable[[Progress], None] | None = None) -> None:
        dest.need_writer()
        snap = queries.snapshot(source.db, snapshot_id)
        if snap is None:
            raise UsageError(f"{source.root} has no snapshot {snapshot_id}")
        self.source, self.snap, self.dest = source, snap, dest
        self.cancel = cancel or threading.Event()
        self.roots = {f.path: f.id for f in folders(dest)}
        self.specs = [{"path": os.fsdecode(f.path), "excludes": list(f.excludes)} for f in folders(dest)]
        self.writer = SnapshotWriter(dest.db, dest.layout, self.roots)
        self.store = ChunkStore(dest.db, PackWriter(dest.layout), dest.config.compression_level, 1)
        self.ctx = ReadContext(dest.db, dest.config.chunker, self.store, self.cancel, snap.time_ns)
        self.errors: list[FileError] = []
        self.files_read = self.bytes_read = 0
        self.progress = progress
        self.started = time.monotonic()

    def run(self, trigger: str) -> SnapshotInfo:
        mark = copied_from(self.source, self.snap.id, self.snap.time_ns)
        done = already_copied(self.dest, mark)
        if done is not None:
            return done
        started = time.monotonic()
        sid = self.writer.begin(trigger, self.snap.time_ns, set(manifest_ids(self.dest.layout)))
        try:
            with drive_errors(self.dest.root):
                versions = [v for v in self._versions() if v is not None]
                self.store.close()
                self.writer.commit(self.store.seal(), versions, self.errors)
                info = SnapshotInfo(sid, self.snap.time_ns, trigger, len(versions), self.files_read,
                                    sum(1 for v in versions if v.kind != "dir"), self.bytes_read,
                                    self.store.bytes_new, len(self.errors), round(time.monotonic() - started, 3))
                return self.writer.finish(info, self.specs, {COPIED_FROM: mark})
        except BaseException:
            self.store.writer.abort()
            with contextlib.suppress(Exception):  # the next writer's recovery drops it when this cannot
                discard_snapshot(self.dest.db, sid)
            raise

    def _versions(self) -> Iterator[NewVersion | None]:
        found_all = [f for f in source_versions(self.source, self.snap.id, self.errors)
                     if any(is_inside(f.path, root) for root in self.roots)]
        total = sum(f.row.size for f in found_all if f.row.kind == "file" and f.row.state != "deleted")
        for done, found in enumerate(found_all):
            if self.cancel.is_set():
                raise BackupCancelled("copy cancelled; nothing was lost")
            if self.progress is not None:
                self.progress(Progress("store", done, len(found_all), self.bytes_read, total,
                                       time.monotonic() - self.started, found.path))
            yield self._version(found)

    def _prev(self, path: bytes) -> VersionRow | None:
        fid = queries.file_id(self.dest.db, path)
        prev = None if fid is None else queries.latest_version(self.dest.db, fid)
        if prev is not None and not prev.sealed(path):
            raise damaged_at(path)
        return prev

    def _version(self, found: SourceVersion) -> NewVersion | None:
        row, path = found.row, found.path
        prev = self._prev(path)
        if row.state == "deleted":
            if prev is None or prev.state == "deleted":
                return None
            return NewVersion(path, "deleted", prev.kind, full=False, file_id=prev.file_id)
        observed = Observed(path, row.kind, row.size, row.mode, row.mtime_ns, row.inode, row.ctime_ns,
                            row.link_target, row.uid, row.gid)
        if row.kind == "file":
            return self._file(found, observed, prev)
        state = classify(observed, prev)
        if state is None:
            return None
        return NewVersion(path, state, row.kind, size=0, mode=row.mode, mtime_ns=row.mtime_ns, inode=row.inode,
                          ctime_ns=row.ctime_ns, link_target=row.link_target, uid=row.uid, gid=row.gid,
                          xattrs=row.xattrs, file_id=prev.file_id if prev is not None else None)

    def _file(self, found: SourceVersion, observed: Observed, prev: VersionRow | None) -> NewVersion | None:
        """The file's content read back from the source (verified whole), then stored here like a file read."""
        from timekeep.core import restoring

        with tempfile.TemporaryFile(dir=self.source.layout.index_dir) as staged:
            try:
                restoring.write_version(self.source, restoring.plan(self.source, found.path, self.snap.id), staged)
                staged.flush()
            except SOURCE_FAULTS as err:
                self.errors.append(FileError(found.path, "unreadable",
                                             f"its copy on this computer cannot be read: {err}"))
                return None
            os.lseek(staged.fileno(), 0, os.SEEK_SET)
            chunks, depends, digest = _chunk_and_store(staged.fileno(), self.ctx, found.path, observed.size)
        if found.row.digest and digest != found.row.digest:
            self.errors.append(FileError(found.path, "unreadable", "its copy on this computer changed while copied"))
            return None
        self.files_read += 1
        self.bytes_read += observed.size
        result = _result(ScanItem(found.path, observed, prev, "read"), observed, chunks, depends, self.dest.db)
        if result.state == "unchanged":
            return None
        return NewVersion(found.path, result.state, "file", size=observed.size, mode=observed.mode,
                          mtime_ns=observed.mtime_ns, inode=observed.inode, ctime_ns=observed.ctime_ns,
                          full=result.full, depth=result.depth, chain_rows=result.chain_rows,
                          content_id=result.content_id, extents=[chunks[i] for i in result.stored],
                          racy=bool(found.row.racy), file_id=prev.file_id if prev is not None else None,
                          digest=digest, uid=observed.uid, gid=observed.gid, xattrs=found.row.xattrs)


def transfer(source: Repository, snapshot_id: int, dest: Repository, trigger: str = "away",
             cancel: threading.Event | None = None, progress: Callable[[Progress], None] | None = None
             ) -> SnapshotInfo:
    """Store snapshot `snapshot_id` of `source` as a snapshot of the writer `dest` at the same time, with
    `trigger`; the snapshot made before from the same source snapshot when there is one (nothing twice)."""
    return Transfer(source, snapshot_id, dest, cancel, progress).run(trigger)
