"""One storage time: scan every protected folder, read changed files in threads, index what changed.

The main thread scans and commits; reader threads chunk, hash, compress and pack. In-flight work is
bounded, so memory stays flat however much there is to store. One bad file is recorded as an error
and never fails the snapshot; a failing drive does.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Literal

from peewee import SqliteDatabase

from timekeep.core.capture import attrs, prefetch
from timekeep.core.capture.arrivals import Arrivals, moved_version, unread
from timekeep.core.capture.excludes import Excludes
from timekeep.core.capture.procs import ReadProcs
from timekeep.core.capture.read import Changing, FileResult, ReadContext, read_ahead, read_file
from timekeep.core.capture.scan import FolderScan, ScanItem
from timekeep.core.capture.store import ChunkStore
from timekeep.core.errors import BackupCancelled, CorruptData
from timekeep.core.heap import release_free_memory
from timekeep.core.index.folder_digests import FolderDigests
from timekeep.core.index.writer import NewVersion, SnapshotWriter
from timekeep.core.paths import identity, is_inside
from timekeep.core.storage.layout import Layout, RepoConfig
from timekeep.core.storage.pack import PackWriter
from timekeep.core.types import FileError, Progress, SnapshotInfo

COMMIT_SECONDS = 2.0
TICK_SECONDS = 0.1  # how often the main thread wakes while files are read: progress reports, cancel checks
COMMIT_ROWS = 5000
TRIM_SECONDS = 1.0  # how often freed buffers are handed back to the system (core/heap.py)
READ_ATTEMPTS = 3
SMALL_BYTES = 64 * 1024  # files this small go to the readers in batches: one handoff per file costs more than it
BATCH_FILES = 64
BATCH_BYTES = 1 << 20
# files or batches handed to the readers and not collected yet, per reader (32 kept the readers fed through a
# commit, but was not shown faster on a loaded machine: bench/README.md, "Fourth pass: the parent's Python")
INFLIGHT_PER_WORKER = 2
CAPTURE_PROCS_VARIABLE = "TIMEKEEP_CAPTURE_PROCS"


@dataclass(frozen=True)
class FolderSpec:
    id: int
    path: bytes
    excludes: tuple[str, ...]


@dataclass
class Tally:
    files_scanned: int = 0
    files_read: int = 0
    files_changed: int = 0
    bytes_read: int = 0
    bytes_total: int = 0
    to_read: int = 0
    reads_done: int = 0
    errors: list[FileError] = field(default_factory=list)


def capture_procs() -> int:
    """How many capture processes a backup may start: TIMEKEEP_CAPTURE_PROCS, an experiment's switch (0 unset)."""
    value = os.environ.get(CAPTURE_PROCS_VARIABLE, "0")
    return int(value) if value.isdigit() else 0


def read_with_retry(item: ScanItem, ctx: ReadContext) -> FileResult | FileError:
    """Read a file, again if it changed underneath us; an unreadable or restless file becomes an error."""
    for attempt in range(READ_ATTEMPTS):
        try:
            return read_file(item, ctx)
        except Changing:
            time.sleep(0.05 * (attempt + 1))
        except FileNotFoundError:
            return FileError(item.path, "vanished", "removed before it could be read")
        except (OSError, CorruptData) as err:
            message = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            return FileError(item.path, "unreadable", message)
    return FileError(item.path, "changing", "kept changing while being read; it will be tried again next time")


def read_batch(items: list[ScanItem], ctx: ReadContext,
               lane: threading.Lock | None = None) -> list[FileResult | FileError]:
    """Read the items; inside `lane`, when given (see `Backup._send_small`), once the kernel was asked to read them
    all ahead: a cold disk then reads the batch's files together, and while another reader holds the lane."""
    if lane is None:
        return [read_with_retry(item, ctx) for item in items]
    read_ahead(item.path for item in items)
    with lane:
        return [read_with_retry(item, ctx) for item in items]


def plain_version(item: ScanItem) -> NewVersion:
    """A version that needs no reading: a deletion, a folder, a link, or a metadata change."""
    file_id = item.prev.file_id if item.prev is not None else None
    if item.observed is None:
        assert item.prev is not None
        return NewVersion(item.path, "deleted", item.prev.kind, full=False, file_id=file_id)
    o = item.observed
    return NewVersion(o.path, item.action, o.kind, size=o.size, mode=o.mode, mtime_ns=o.mtime_ns,
                      inode=o.inode, ctime_ns=o.ctime_ns, link_target=o.link_target, file_id=file_id,
                      origin=item.origin, uid=o.uid, gid=o.gid, xattrs=attrs.of_path(o.path))


def file_version(r: FileResult) -> NewVersion:
    o = r.observed
    return NewVersion(o.path, r.state, "file", size=o.size, mode=o.mode, mtime_ns=o.mtime_ns, inode=o.inode,
                      ctime_ns=o.ctime_ns, full=r.full, depth=r.depth, chain_rows=r.chain_rows,
                      content_id=r.content_id, extents=[r.chunks[i] for i in r.stored], racy=r.racy,
                      file_id=r.item.prev.file_id if r.item.prev is not None else None, origin=r.item.origin,
                      digest=r.digest, uid=o.uid, gid=o.gid, xattrs=r.xattrs)


class Backup:
    def __init__(self, db: SqliteDatabase, layout: Layout, config: RepoConfig, folders: list[FolderSpec],
                 progress: Callable[[Progress], None] | None = None, cancel: threading.Event | None = None,
                 workers: int | None = None, dirty: Mapping[bytes, Collection[bytes]] | None = None,
                 taken: Collection[int] = (), reread: Collection[bytes] = (), exact: bool = False,
                 procs: int | None = None, clock: Callable[[], int] = time.time_ns) -> None:
        self.db, self.layout, self.config, self.folders = db, layout, config, folders
        self.taken = taken  # snapshot ids the drive's manifests hold, whatever the index says
        # files to read even if unchanged: their lost pieces are stored again; racy ones are settled
        self.reread = frozenset(reread)
        self.progress = progress
        self.dirty = dirty  # folder root -> journaled paths; None scans every folder whole
        self.exact = exact  # only the journaled paths and the folders above them: no folder walked
        self.asked = cancel or threading.Event()  # the caller's: set when the person cancels
        self.cancel = threading.Event()  # this run's own: stops its readers when it ends for any reason
        self.workers = workers or min(4, os.cpu_count() or 2)
        self.writer = SnapshotWriter(db, layout, {f.path: f.id for f in folders}, drafts=True)
        self.store = ChunkStore(db, PackWriter(layout), config.compression_level, self.workers)
        # big files read in capture processes: none unless asked for, since they cost more CPU and memory than
        # they were shown to save (bench/README.md, "The first backup toward the machine's limits")
        self.procs = ReadProcs.make(config.chunker, self.store.ids, self.store.sealing, config.compression_level,
                                    capture_procs() if procs is None else procs)
        self.ctx = ReadContext(db, config.chunker, self.store, self.cancel, time.time_ns(), procs=self.procs,
                               clock=clock)
        self.arrivals = Arrivals(db)
        self.tally = Tally()
        self._ready: list[NewVersion] = []
        self._pending: list[FileResult] = []
        self._new_errors: list[FileError] = []
        self._inflight: set[Future[list[FileResult | FileError]]] = set()
        self._small: list[ScanItem] = []  # small files waiting to be handed to a reader together
        self._small_bytes = 0
        self._small_lane = threading.Lock()  # held by the reader of a batch of small files (`_send_small`)
        self._started = time.monotonic()
        self._last_commit = self._last_trim = self._started
        self._last_progress = self._started - TICK_SECONDS  # the first tick reports: a person sees work begin
        self.before_finish: Callable[[SnapshotInfo], None] | None = None  # may refuse it: the snapshot is dropped
        self._digests: list[FolderDigests] = []  # each full scan's, settled once the last commit is in

    def run(self, trigger: str = "manual") -> SnapshotInfo:
        sid = self.writer.begin(trigger, self.ctx.started_ns, self.taken)
        with ThreadPoolExecutor(self.workers, thread_name_prefix="timekeep-read") as pool:
            try:
                for folder in self.folders:
                    self._scan_folder(folder, pool)
                prefetch.stop()  # what no scan took of the prefetch (core/capture/prefetch.py) is let go
                self._send_small(pool)
                while self._inflight:
                    self._check_cancel()
                    self._collect(wait(self._inflight, timeout=TICK_SECONDS, return_when=FIRST_COMPLETED).done)
            except BaseException:
                self.cancel.set()
                for fut in self._inflight:
                    fut.cancel()
                pool.shutdown(wait=True)
                self._abandon()
                raise
            finally:
                if self.procs is not None:
                    self.procs.close()  # before the readers that forked them end, which would kill them
        try:
            self.store.close()
            self._commit(final=True)  # seals the last pack: on a full drive it is this write that fails
        except BaseException:
            self._abandon()
            raise
        for digests in self._digests:  # the folders this backup stored, now as the index holds them
            digests.settle()
        return self._finish(sid, trigger)

    def _abandon(self) -> None:
        """Drop the unsealed pack: on a full drive its space is what the next attempt needs."""
        try:
            self.store.close()
        except BaseException:
            pass  # the failure being raised already says what went wrong
        finally:
            self.store.writer.abort()
            self.writer.close()

    @property
    def _drive_identity(self) -> tuple[int, int] | None:
        """The repository folder's identity, so a scan skips it; None for a bucket, which no scan meets."""
        drive = self.layout.store.local_folder
        return None if drive is None else identity(drive)

    def _scan_folder(self, folder: FolderSpec, pool: ThreadPoolExecutor) -> None:
        digests = FolderDigests(self.db) if self.dirty is None else None  # a full scan's (folder_digests.py)
        if digests is not None:
            self._digests.append(digests)
        scan = FolderScan(self.db, folder.path, Excludes(folder.excludes), self._report, self.reread,
                          self._drive_identity, self.exact, digests)
        mine = {p for p in self.reread if is_inside(p, folder.path)}
        if self.dirty is None:
            items = scan.items()
        elif folder.path in self.dirty or mine:
            items = scan.dirty_items({*self.dirty.get(folder.path, ()), *mine})
        else:
            return
        for item in items:
            self._check_cancel()
            self._place(item, pool)
            self._tick()
        if digests is not None:
            digests.write()
        self.tally.files_scanned += scan.counts.files

    def _place(self, item: ScanItem, pool: ThreadPoolExecutor) -> None:
        """Read the item, or record it as it is; a file a watcher saw renamed and untouched since is
        recorded from its origin's stored pieces without being read."""
        arrival = self.arrivals.of(item, self.writer.snapshot_id)
        if arrival is not None:
            if item.action == "read" and unread(item, arrival):
                self._ready.append(moved_version(self.db, item, arrival))
                return
            item = dataclasses.replace(item, origin=arrival.origin)
        if item.action == "read":
            self._submit(item, pool)
        else:
            self._ready.append(plain_version(item))

    def _check_cancel(self) -> None:
        if self.asked.is_set():
            self.cancel.set()
        if self.cancel.is_set():
            raise BackupCancelled("backup cancelled; nothing was lost")

    def _submit(self, item: ScanItem, pool: ThreadPoolExecutor) -> None:
        assert item.observed is not None
        self.tally.to_read += 1
        self.tally.bytes_total += item.observed.size
        if item.observed.size > SMALL_BYTES:
            self._hand(pool, [item])
            return
        self._small.append(item)
        self._small_bytes += item.observed.size
        if len(self._small) >= BATCH_FILES or self._small_bytes >= BATCH_BYTES:
            self._send_small(pool)

    def _send_small(self, pool: ThreadPoolExecutor) -> None:
        """A batch of small files goes to the readers, to be read in the small-file lane: one batch at a time.
        Reading a small file is mostly the interpreter's work, with the GIL held between short system calls, so
        a second reader at it only passes the GIL to and fro (a context switch each time) and gains nothing; a
        big file's reader (chunking, hashing and compressing without the GIL) is never held up by the lane
        (bench/README.md, "Small files one batch at a time")."""
        if self._small:
            batch, self._small, self._small_bytes = self._small, [], 0
            self._hand(pool, batch, self._small_lane)

    def _hand(self, pool: ThreadPoolExecutor, items: list[ScanItem], lane: threading.Lock | None = None) -> None:
        while len(self._inflight) >= INFLIGHT_PER_WORKER * self.workers:
            self._check_cancel()
            self._collect(wait(self._inflight, timeout=TICK_SECONDS, return_when=FIRST_COMPLETED).done)
        self._inflight.add(pool.submit(read_batch, items, self.ctx, lane))

    def _collect(self, done: set[Future[list[FileResult | FileError]]]) -> None:
        for fut in done:
            self._inflight.discard(fut)
            for result in fut.result():
                self._take(result)
        self._tick()

    def _take(self, result: FileResult | FileError) -> None:
        self.tally.reads_done += 1
        self.ctx.flow.done(result.path if isinstance(result, FileError) else result.item.path)
        if isinstance(result, FileError):
            self._report(result)
            return
        self.tally.files_read += 1
        self.tally.bytes_read += result.observed.size
        self._pending.append(result)

    def _report(self, error: FileError) -> None:
        self.tally.errors.append(error)
        self._new_errors.append(error)

    def _tick(self) -> None:
        """Progress is reported before the commit it may share a tick with, so the first report always comes
        before anything of this snapshot is indexed, however late the first tick is."""
        now = time.monotonic()
        if now - self._last_trim >= TRIM_SECONDS:
            self._last_trim = now
            release_free_memory()
        if self.progress is not None and now - self._last_progress >= TICK_SECONDS:
            self._last_progress = now
            self.progress(self._progress("store", now))
        if now - self._last_commit >= COMMIT_SECONDS or len(self._ready) + len(self._pending) >= COMMIT_ROWS:
            self._commit()

    def _progress(self, phase: Literal["store", "commit"], now: float | None = None) -> Progress:
        """Bytes count finished files whole and the big files being read as far as their readers got; the time
        is the one the report was decided at."""
        t = self.tally
        return Progress(phase, t.reads_done, t.to_read, t.bytes_read + self.ctx.flow.total(), t.bytes_total,
                        (time.monotonic() if now is None else now) - self._started)

    def _commit(self, final: bool = False) -> None:
        packs = self.store.seal()
        ready: list[FileResult] = []
        waiting: list[FileResult] = []
        for result in self._pending:
            (ready if self.store.durable(result.depends) else waiting).append(result)
        if final and waiting:
            raise AssertionError("chunks of a finished backup are not all sealed")
        self._pending = waiting
        versions = self._ready + [file_version(r) for r in ready if r.state != "unchanged"]
        kept = [(r.item.path, prev) for r in ready
                if r.state == "unchanged" and not r.racy and (prev := r.item.prev) is not None]
        self.tally.files_changed += sum(1 for v in versions if v.kind != "dir")
        self.writer.commit(packs, versions, self._new_errors, [prev.id for _, prev in kept])
        for digests in self._digests:
            digests.committed(versions, kept)
        self.store.forget(packs)
        self._ready, self._new_errors = [], []
        self._last_commit = time.monotonic()

    def _finish(self, sid: int, trigger: str) -> SnapshotInfo:
        t = self.tally
        info = SnapshotInfo(
            id=sid, time_ns=self.ctx.started_ns, trigger=trigger, files_scanned=t.files_scanned,
            files_read=t.files_read, files_changed=t.files_changed, bytes_read=t.bytes_read,
            bytes_new=self.store.bytes_new, errors=sum(1 for e in t.errors if e.failed),
            duration_s=round(time.monotonic() - self._started, 3))
        if self.before_finish is not None:
            self.before_finish(info)
        if self.progress is not None:
            self.progress(self._progress("commit"))
        folders = [{"path": os.fsdecode(f.path), "excludes": list(f.excludes)} for f in self.folders]
        return self.writer.finish(info, folders)
