"""The one facade the CLI, the agent and the GUI use: open a repository, back up, browse, rebuild, restore.

Everything returned is a frozen record from `core.types`; paths are bytes (absolute, as protected).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from peewee import SqliteDatabase

from core import repository
from core.capture.excludes import DEFAULT_EXCLUDES
from core.errors import (
    DriveFull,
    IndexDamaged,
    NotInSnapshot,
    TimeBeforeFirstSnapshot,
    UsageError,
)
from core.index import losses, queries, summary
from core.index.rebuild import RebuildReport
from core.index.recovery import discard_snapshot
from core.index.schema import index_id, open_index
from core.journaling import JournalView
from core.paths import is_inside, within
from core.repository import Opened, ProgressCallback
from core.restore import build
from core.restore.combine import ChunkSource
from core.restore.combine import write_version as combine
from core.storage import layout as repo_layout
from core.storage.atomic import atomic_write
from core.storage.failures import drive_errors
from core.storage.layout import Layout
from core.storage.lock import WriterLock
from core.storage.manifest import manifest_ids
from core.storage.pack import PackReader
from core.timespec import parse_time_spec
from core.types import (
    CheckReport,
    CoalesceReport,
    Entry,
    FileError,
    FolderInfo,
    Plan,
    Progress,
    RestoreResult,
    Retention,
    SnapshotInfo,
    SnapshotSummary,
    VersionInfo,
)

if TYPE_CHECKING:
    from core.capture.backup import FolderSpec

ROOM_MARGIN = 16 << 20
log = logging.getLogger(__name__)


def _free_bytes(root: Path) -> int:
    try:
        return shutil.disk_usage(root).free
    except OSError:
        return 0


def _full_message(root: Path, free_before: int, snapshots: int, keep_all_hours: int) -> str:
    """Why a backup stopped on a full drive that thinning could not help: how much room there was, why
    nothing was thinned, and what to do."""
    def size(n: int) -> str:
        return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"

    try:
        of = f" of {size(shutil.disk_usage(root).total)}"
    except OSError:
        of = ""
    head = (f"the backup drive is full: this {'first ' if not snapshots else ''}backup needed more than the "
            f"{size(free_before)} that was free{of}")
    if not snapshots:
        return f"{head}. Free some space on the drive, or use a larger one, and back up again"
    return (f"{head}, and no snapshot could be thinned to make room: every snapshot is within the last "
            f"{keep_all_hours} hours or holds a file's only copy. Free some space on the drive, thin older "
            "history by hand, or use a larger drive, and back up again")


def init_repository(path: str | Path) -> None:
    """Create an empty repository at `path` (created if missing; must be empty if it exists)."""
    root = Path(path)
    repo_layout.create(root)
    open_index(Layout(root).index, create=True).close()


class Timekeep:
    """An open repository. Use as a context manager; `writer=True` takes the repository's writer lock."""

    def __init__(self, root: Path, opened: Opened, lock: WriterLock | None) -> None:
        self.root = root
        self.layout = Layout(root)
        self.config = repo_layout.load_config(root)
        self.db = opened.db
        self.lock = lock
        # what opening found and did (an index rebuilt, a lost manifest written again): one sentence each
        self.notes = tuple(opened.notes)
        # the index was made anew from the drive: a journal of changed paths it held is gone
        self.rebuilt = opened.rebuilt
        # set when the drive could not open its index (full, read-only): a local copy taken at open, which
        # later backups do not change; the folder is removed on close
        self.index_copy = opened.index_copy
        self.reader = PackReader(self.layout)
        self.source = ChunkSource(self.db, self.reader)

    @classmethod
    def open(cls, path: str | Path, *, writer: bool = False, progress: ProgressCallback | None = None) -> Timekeep:
        """Open for reading, or for writing (`writer`): a writer first makes sure the index tells the truth about
        the drive, rebuilding it (reporting `progress`) when it is missing, damaged or behind."""
        root = Path(path).absolute()
        repo_layout.load_config(root)
        if not writer:
            return cls(root, repository.open_reader(root), None)
        lock = WriterLock(Layout(root).lock)
        lock.acquire()
        try:
            with drive_errors(root):
                opened = repository.open_writer(root, lock, progress)
        except BaseException:
            lock.release()
            raise
        return cls(root, opened, lock)

    def close(self) -> None:
        self.reader.close()
        self.db.close()
        if self.lock is not None:
            self.lock.release()
            self.lock = None
        if self.index_copy is not None:
            shutil.rmtree(self.index_copy, ignore_errors=True)
            self.index_copy = None

    def __enter__(self) -> Timekeep:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def journal(self) -> JournalView:
        """The journal of changed paths the agent keeps in this repository's index."""
        return JournalView(self.db, on_copy=self.index_copy is not None)

    def index_id(self) -> str:
        """Changes when the index is rebuilt: whatever was journaled in the old one must be found again."""
        return index_id(self.db)

    # folders
    def folders(self) -> list[FolderInfo]:
        rows = self.db.execute_sql("SELECT id, path, excludes FROM folder WHERE active = 1 ORDER BY path")
        return [FolderInfo(fid, path, tuple(json.loads(ex))) for fid, path, ex in rows]

    def add_folder(self, path: bytes, excludes: tuple[str, ...] = (), default_excludes: bool = True) -> FolderInfo:
        self._need_writer()
        path = os.path.realpath(path)
        if not os.path.isdir(path):
            raise UsageError(f"{os.fsdecode(path)} is not a folder")
        for other in self.folders():
            if path == other.path:
                raise UsageError(f"{os.fsdecode(path)} is already protected")
            if is_inside(path, other.path) or is_inside(other.path, path):
                raise UsageError(f"{os.fsdecode(path)} overlaps the protected folder {os.fsdecode(other.path)}")
        if within(self.root, path):
            raise UsageError("the folder holds the backup repository itself; protect a folder beside it")
        if within(path, self.root):
            raise UsageError("the folder lies inside the backup repository; protect a folder outside it")
        patterns = (*DEFAULT_EXCLUDES, *excludes) if default_excludes else tuple(excludes)
        entries = repo_layout.read_folders(self.layout)
        entries.append({"path": os.fsdecode(path), "excludes": list(patterns)})
        repo_layout.write_folders(self.layout, entries)
        repository.sync_folders(self.db, self.layout, [])
        return next(f for f in self.folders() if f.path == path)

    def set_excludes(self, path: bytes, excludes: tuple[str, ...], default_excludes: bool = True) -> FolderInfo:
        """Change a protected folder's exclusion patterns; its history is untouched."""
        self._need_writer()
        path = os.path.realpath(path)
        entries = repo_layout.read_folders(self.layout)
        patterns = (*DEFAULT_EXCLUDES, *excludes) if default_excludes else tuple(excludes)
        for entry in entries:
            if os.fsencode(str(entry["path"])) == path:
                entry["excludes"] = list(patterns)
                repo_layout.write_folders(self.layout, entries)
                repository.sync_folders(self.db, self.layout, [])
                return next(f for f in self.folders() if f.path == path)
        raise UsageError(f"{os.fsdecode(path)} is not a protected folder")

    def set_compression_level(self, level: int) -> None:
        """zstd level for chunks stored from now on (1 fastest, 19 smallest); stored chunks stay as they are."""
        self._need_writer()
        if not 1 <= level <= 19:
            raise UsageError(f"compression level {level} is out of range; use 1 (fastest) to 19 (smallest)")
        self.config = dataclasses.replace(self.config, compression_level=level)
        atomic_write(self.layout.config, self.config.to_json())

    def retention(self) -> Retention:
        return self.config.retention

    def set_retention(self, rule: Retention) -> None:
        """How the coalescer thins this repository's history from now on (stored in config.json)."""
        self._need_writer()
        if rule.keep_all_hours < 1 or rule.daily_days < 0 or rule.weekly_weeks < 0:
            raise UsageError("retention: keep every snapshot for at least 1 hour; days and weeks cannot be negative")
        self.config = dataclasses.replace(self.config, retention=rule)
        atomic_write(self.layout.config, self.config.to_json())

    def thinning_plan(self, now_ns: int | None = None, drop: Collection[int] | None = None
                      ) -> tuple[list[int], list[int]]:
        """(snapshots `coalesce` would drop now — by the retention rule, or of `drop` — and those it keeps
        because they hold a file's last copy), changing nothing; `drop` is refused as `coalesce` refuses it."""
        if drop is not None:
            self._check_drop(drop)
        from core.coalesce import run as thinning  # loaded when thinning is asked for: commands start quicker

        plan = thinning.plan_thinning(self.db, self.config.retention, now_ns or time.time_ns(), drop)
        return plan.dropped, plan.spared

    def _check_drop(self, drop: Collection[int]) -> None:
        ids = [s.id for s in self.snapshots()]
        unknown = sorted(set(drop) - set(ids))
        if unknown:
            raise UsageError(f"there is no snapshot {unknown[0]}; `timekeep snapshots` lists them")
        if ids and ids[-1] in drop:
            raise UsageError("the newest snapshot is never thinned; take another backup first")

    def coalesce(self, progress: ProgressCallback | None = None, cancel: threading.Event | None = None,
                 now_ns: int | None = None, drop: Collection[int] | None = None) -> CoalesceReport:
        """Thin history by the retention rule (or drop the snapshots `drop`), folding what the kept
        snapshots need into them, and give the unused space back (claims 20–23). Never drops the newest
        snapshot or the only stored copy of a file."""
        self._need_writer()
        if drop is not None:
            self._check_drop(drop)
        from core.coalesce import run as thinning

        with drive_errors(self.root):
            report = thinning.coalesce(self.db, self.layout, self.config.compression_level, self.config.retention,
                                       now_ns=now_ns, drop=drop, progress=progress, cancel=cancel)
        self.reader.close()  # rewritten packs are gone from the drive
        return report

    def remove_folder(self, path: bytes) -> None:
        """Stop protecting a folder; its history stays browsable and restorable."""
        self._need_writer()
        path = os.path.realpath(path)
        entries = repo_layout.read_folders(self.layout)
        kept = [e for e in entries if os.fsencode(str(e["path"])) != path]
        if len(kept) == len(entries):
            raise UsageError(f"{os.fsdecode(path)} is not a protected folder")
        repo_layout.write_folders(self.layout, kept)
        repository.sync_folders(self.db, self.layout, [])

    def _need_writer(self) -> None:
        if self.lock is None:
            raise UsageError("this needs the repository opened for writing")

    # storing
    def backup(self, trigger: str = "manual", progress: ProgressCallback | None = None,
               cancel: threading.Event | None = None,
               dirty: Mapping[bytes, Collection[bytes]] | None = None, make_room: bool = True) -> SnapshotInfo:
        """Take a snapshot. `dirty` (folder root -> changed paths, as a watcher journaled them) limits
        the scan to those paths; folders not in it are not scanned. None scans everything.

        When the drive fills up, old snapshots are thinned to make room (the oldest outside the
        retention rule's keep-all window first, never a file's only copy) and the backup runs again.
        """
        self._need_writer()
        try:
            return self._backup_with_room(trigger, progress, cancel, dirty, make_room)
        except IndexDamaged as err:  # a row failed its seal midway: the snapshot was dropped; rebuild, go again
            self._rebuild_live(str(err), progress)
            return self._backup_with_room(trigger, progress, cancel, dirty, make_room)

    def _rebuild_live(self, reason: str, progress: ProgressCallback | None) -> None:
        notes: list[str] = []
        with drive_errors(self.root):
            repository.rebuild_live(self.layout, self.db, progress, notes, reason)
        self.notes = (*self.notes, *notes)
        self.rebuilt = True

    def _backup_with_room(self, trigger: str, progress: ProgressCallback | None, cancel: threading.Event | None,
                          dirty: Mapping[bytes, Collection[bytes]] | None, make_room: bool) -> SnapshotInfo:
        from core.capture.backup import FolderSpec

        folders = [FolderSpec(f.id, f.path, f.excludes) for f in self.folders()]
        if not folders:
            raise UsageError("no folder is protected yet; add one with `timekeep add FOLDER`")
        free_before = _free_bytes(self.root)
        try:
            return self._backup_once(folders, trigger, progress, cancel, dirty)
        except DriveFull as err:
            if not make_room:
                raise
            from core.coalesce import run as thinning

            need = 2 * free_before + ROOM_MARGIN
            with drive_errors(self.root):
                room = thinning.make_room(self.db, self.layout, self.config.compression_level,
                                          self.config.retention, need)
            if not room.snapshots_dropped:
                raise DriveFull(_full_message(self.root, free_before, len(self.snapshots()),
                                                 self.config.retention.keep_all_hours)) from err
            log.warning("drive full: thinned snapshots %s (%d bytes) to make room", room.snapshots_dropped,
                        room.bytes_freed)
            return self._backup_once(folders, trigger, progress, cancel, dirty)

    def _backup_once(self, folders: list[FolderSpec], trigger: str, progress: ProgressCallback | None,
                     cancel: threading.Event | None, dirty: Mapping[bytes, Collection[bytes]] | None) -> SnapshotInfo:
        from core.capture.backup import Backup  # the CLI's other commands need not load it

        first_free = max(manifest_ids(self.layout), default=0) + 1  # ids are never reused, whatever the index says
        job = Backup(self.db, self.layout, self.config, folders, progress, cancel, dirty=dirty, first_free=first_free,
                     reread=losses.to_store_again(self.db))
        try:
            with drive_errors(self.root):
                return job.run(trigger)
        except BaseException:
            if job.writer.snapshot_id:
                _discard_quietly(self.db, job.writer.snapshot_id)
            raise

    # browsing
    def snapshots(self) -> list[SnapshotInfo]:
        return queries.snapshots(self.db)

    def snapshot_errors(self, snapshot_id: int) -> list[FileError]:
        rows = self.db.execute_sql(
            "SELECT path, kind, message FROM snapshot_error WHERE snapshot_id = ? ORDER BY id", (snapshot_id,))
        return [FileError(*row) for row in rows]

    def resolve_time(self, spec: str) -> SnapshotInfo:
        """The snapshot in force at `spec` (ISO time, snapshot id, 'latest', '2 hours ago')."""
        parsed = parse_time_spec(spec, datetime.now(UTC))
        all_snaps = self.snapshots()
        if not all_snaps:
            raise UsageError("there are no snapshots yet; run `timekeep backup` first")
        if parsed.kind == "latest":
            return all_snaps[-1]
        if parsed.kind == "snapshot":
            found = queries.snapshot(self.db, int(parsed.snapshot_id or 0))
            if found is None:
                raise UsageError(self._unknown_snapshot(int(parsed.snapshot_id or 0)))
            return found
        found = queries.snapshot_at_time(self.db, min(int(parsed.time_ns or 0), 2**63 - 1))
        if found is None:
            first = datetime.fromtimestamp(all_snaps[0].time_ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")
            raise TimeBeforeFirstSnapshot(f"{spec!r} is before the first snapshot (taken {first})")
        return found

    def _unknown_snapshot(self, sid: int) -> str:
        if sid in manifest_ids(self.layout):
            return (f"snapshot {sid} is on the drive but not in the index (the index is behind the drive); run "
                    "`timekeep rebuild-index`")
        return f"there is no snapshot {sid}; `timekeep snapshots` lists them"

    def list_dir(self, path: bytes | None, snapshot_id: int) -> list[Entry]:
        """Children of `path` as they stood at the snapshot; `None` lists the protected folders."""
        if path is None:
            return queries.roots_at(self.db, snapshot_id)
        version = build.version_at(self.db, path, snapshot_id)
        if version.kind != "dir":
            raise UsageError(f"{os.fsdecode(path)} is not a folder at snapshot {snapshot_id}")
        return queries.children_at(self.db, version.file_id, snapshot_id)

    def snapshot_summary(self, snapshot_id: int) -> SnapshotSummary:
        """What the snapshot changed: files stored and deleted, new bytes, the busiest folders (a tooltip)."""
        return summary.snapshot_summary(self.db, snapshot_id)

    def deleted_at(self, path: bytes | None, snapshot_id: int) -> list[Entry]:
        """Children of `path` (None: the protected folders) deleted at the snapshot, each as it was just
        before (state "deleted"); a folder deleted at that snapshot lists what went with it."""
        if path is None:
            return summary.deleted_roots(self.db, snapshot_id)
        fid = queries.file_id(self.db, path)
        version = queries.version_at(self.db, fid, snapshot_id) if fid is not None else None
        if fid is None or version is None:
            raise NotInSnapshot(f"{os.fsdecode(path)} did not exist at snapshot {snapshot_id}")
        if version.kind != "dir":
            raise UsageError(f"{os.fsdecode(path)} is not a folder at snapshot {snapshot_id}")
        return summary.deleted_children(self.db, fid, snapshot_id)

    def versions(self, path: bytes) -> list[VersionInfo]:
        fid = queries.file_id(self.db, path)
        if fid is None:
            raise NotInSnapshot(f"{os.fsdecode(path)} was never backed up")
        return queries.versions_of(self.db, fid)

    # getting things back
    def plan(self, path: bytes, snapshot_id: int) -> Plan:
        return build.plan(self.db, path, snapshot_id)

    def read_chunk(self, digest: bytes) -> bytes:
        """One stored chunk's verified contents: with `plan`, enough for another process to build a version."""
        return self.source.chunk(digest)

    def write_version(self, plan: Plan, out: BinaryIO) -> None:
        if plan.kind != "file":
            raise UsageError(f"{os.fsdecode(plan.path)} is a {plan.kind}, not a file")
        combine(self.source, plan, out)

    def restore(self, path: bytes, snapshot_id: int, dest: bytes | None = None, overwrite: bool = False,
                progress: ProgressCallback | None = None) -> RestoreResult:
        from core.restore.restore import Restorer

        snap = queries.snapshot(self.db, snapshot_id)
        if snap is None:
            raise UsageError(f"there is no snapshot {snapshot_id}")
        started, done = time.monotonic(), [0]

        def on_bytes(n: int) -> None:
            done[0] += n
            if progress is not None:
                progress(Progress("restore", 0, 0, done[0], 0, time.monotonic() - started, path))

        return Restorer(self.db, self.source, snap, overwrite, on_bytes).restore(path, dest)

    def check(self, read_data: bool = False, progress: ProgressCallback | None = None) -> CheckReport:
        from core.check import Checker

        checker = Checker(self.db, self.layout)
        report = checker.run(read_data, progress)
        damaged = checker.damaged_packs()
        if damaged and self.index_copy is None:
            with drive_errors(self.root):
                said = repository.record_damage(self.layout, self.db, damaged, self.lock is not None)
            report = dataclasses.replace(report, notes=(*report.notes, *said))
        if self.index_copy is not None:
            note = "the index could not be opened on the drive (full or read-only), so a local copy was checked"
            report = dataclasses.replace(report, notes=(note, *report.notes))
        return report


def _discard_quietly(db: SqliteDatabase, snapshot_id: int) -> None:
    """Drop an unfinished snapshot; if even that fails (drive gone), the next writer's recovery will."""
    with contextlib.suppress(Exception):  # recovery on the next writer's open covers any failure here
        discard_snapshot(db, snapshot_id)


def rebuild_index(path: str | Path, progress: ProgressCallback | None = None) -> RebuildReport:
    """Recreate `index.db` from packs and manifests, beside the old one, which is replaced only once the new one
    is whole. The report says what was found lost and what was written again from the old index."""
    root = Path(path).absolute()
    with drive_errors(root):
        return repository.rebuild_index(root, progress)
