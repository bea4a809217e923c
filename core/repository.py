"""An open repository: its folder, config, lock and index, and the pack reader everything is read through.

Opening for writing takes the writer lock and makes sure the index tells the truth about the drive
(core/index/trust.py), then makes the drive whole after a killed writer: temporaries removed, sealed packs
the index does not know adopted, an unfinished thinning finished. A pack is therefore adopted, and can later
be reclaimed, only by an index that was just found to know every manifest on the drive. Opening for reading
never writes: a missing or unopenable index is an error that says what to run. A repository that keeps its
index on this computer (config `"index": "local"`) is the exception: there a missing, damaged or behind index
is the normal lot of a second computer, so a reader first brings it up to the drive as a writer would
(core/index/local.py), when no writer runs.

The services (folders, storing, thinning, browsing, restoring, check) take a Repository; `timekeep.core.api.Timekeep`
is the one door to them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from peewee import SqliteDatabase

from timekeep.core.coalesce.manifests import finish as finish_manifests
from timekeep.core.errors import (
    AccessDenied,
    CorruptData,
    IndexDamaged,
    IndexMissing,
    RepositoryLocked,
    StorageError,
    UsageError,
)
from timekeep.core.index import checked, names, trust
from timekeep.core.index.beside import build_beside, put_in_place
from timekeep.core.index.listing import CheckedEntries
from timekeep.core.index.local_copy import open_copy
from timekeep.core.index.recovery import recover
from timekeep.core.index.schema import OlderSchema, close_all, open_index
from timekeep.core.restore.combine import ChunkSource
from timekeep.core.storage import layout as repo_layout
from timekeep.core.storage.backend import Lock
from timekeep.core.storage.failures import drive_errors
from timekeep.core.storage.layout import GENERATIONS_FORMAT, Layout, RepoConfig
from timekeep.core.storage.location import locate
from timekeep.core.storage.pack import PackReader
from timekeep.core.types import Progress

if TYPE_CHECKING:  # the rebuild loads when one is run
    from timekeep.core.index.rebuild import RebuildReport

ProgressCallback = Callable[[Progress], None]
log = logging.getLogger(__name__)


class Repository:
    """Use as a context manager, or close(); a writer holds the writer lock until then."""

    def __init__(self, root: Path, db: SqliteDatabase, lock: Lock | None, notes: list[str],
                 rebuilt: bool = False, index_copy: Path | None = None, config: RepoConfig | None = None) -> None:
        self.root = root
        # `config`: as the opener read it under the writer lock (each read also lists the key slots)
        self.config: RepoConfig = config if config is not None else repo_layout.load_config(root)
        self.layout = repo_layout.layout_of(root, self.config)
        self.db = db
        self.lock = lock
        self.notes = list(notes)  # what opening (or a rebuild since) found and did: one sentence each
        self.rebuilt = rebuilt  # the index was made anew from the drive: a journal it held is gone
        # a local copy of the index read instead of the drive's (a full or read-only drive); removed on close
        self.index_copy = index_copy
        self.reader = PackReader(self.layout)
        self.source = ChunkSource(db, self.reader)
        self.listed = CheckedEntries()  # the entries a listing checked, so one at another time reads fewer rows
        self._journaled: bool | None = None  # a reader wrote the journal: was the index as left before?

    @classmethod
    def open(cls, path: str | Path, writer: bool = False, progress: ProgressCallback | None = None) -> Repository:
        root = locate(path)
        repo_layout.load_config(root)
        if not writer:
            return _open_reader(root, progress)
        lock = Layout(root).store.writer_lock()
        lock.acquire()
        try:
            with drive_errors(root):
                return _open_writer(root, lock, progress)
        except BaseException:
            lock.release()
            raise

    def close(self) -> None:
        self.reader.close()
        if self.lock is not None:
            names.catch_up(self.db)  # every writer leaves the name index covering the files it added
        close_all(self.db)
        if self.lock is not None or self._journaled:
            checked.closed(self.layout, self.config.repository_id)  # as this writer leaves it (see checked.py)
        self._journaled = None
        if self.lock is not None:
            self.lock.release()
            self.lock = None
        if self.index_copy is not None:
            shutil.rmtree(self.index_copy, ignore_errors=True)
            self.index_copy = None

    def __enter__(self) -> Repository:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def journal_writing(self) -> None:
        """Called before each write of the agent's journal: a reader's journal writes keep the integrity
        check's stamp (core/index/checked.py) only when the index was as this computer left it before the first."""
        if self._journaled is None and self.lock is None and self.index_copy is None:
            self._journaled = checked.as_left(self.layout, self.config.repository_id)

    @property
    def writable(self) -> bool:
        return self.lock is not None

    def need_writer(self) -> None:
        if self.lock is None:
            raise UsageError("this needs the repository opened for writing")

    def save_config(self, config: RepoConfig) -> None:
        self.need_writer()
        self.config = config
        repo_layout.write_config(self.layout.store, config)

    def rebuild_live(self, reason: str, progress: ProgressCallback | None) -> None:
        """A writer met a row that fails its seal: rebuild the index under it, and say so."""
        notes: list[str] = []
        with drive_errors(self.root):
            trust.rebuild_live(self.layout, self.db, progress, notes, reason, self.config.repository_id)
        self.notes.extend(notes)
        self.rebuilt = True


def _open_writer(root: Path, lock: Lock, progress: ProgressCallback | None) -> Repository:
    config = repo_layout.load_config(root)
    layout = repo_layout.layout_of(root, config)
    notes: list[str] = []
    db, rebuilt, packs = trust.trusted_index(layout, progress, notes, config.repository_id)
    try:
        recover(db, layout, packs)
        finish_manifests(db, layout)
        sync_folders(db, layout, notes)
        return Repository(root, db, lock, notes, rebuilt, config=_upgrade_format(layout, config))
    except BaseException:
        db.close()
        raise


def _open_reader(root: Path, progress: ProgressCallback | None) -> Repository:
    """The index as it is; when the drive cannot open it in place (full: SQLite cannot create its -shm file
    there), a consistent local copy, so files can still be got back."""
    layout = repo_layout.layout_of(root, repo_layout.load_config(root))
    caught = []
    if layout.index_local:  # an index kept on this computer catches up with the drive first (loaded for it only)
        from timekeep.core.index.local import catch_up

        caught = catch_up(layout, lambda: _writer_notes(root, progress))
    try:
        with drive_errors(root):
            db = open_index(layout.index, reader=True)
            return Repository(root, db, None, caught + trust.behind_notes(db, layout))
    except OlderSchema as older:
        return _open_upgraded_copy(root, layout, older)
    except IndexMissing:
        if layout.index_local:
            raise IndexMissing(f"this computer holds no index of {root} yet; run `timekeep rebuild-index`, "
                               "which builds it from the drive") from None
        raise IndexMissing(f"{root} has no index (index.db); run `timekeep rebuild-index`, which rebuilds it "
                           "from the drive") from None
    except IndexDamaged as err:
        raise IndexDamaged(f"{err}; run `timekeep rebuild-index`, which rebuilds it from the drive") from None
    except StorageError as err:
        failure = err
    try:
        with drive_errors(root):
            db, scratch = open_copy(layout.index, layout.lock)
    except RepositoryLocked as busy:
        raise StorageError(f"{failure} ({busy})") from failure
    except (OSError, StorageError) as copy_err:
        raise failure from copy_err
    log.info("%s: %s; reading a local copy of the index", root, failure)
    return Repository(root, db, None, [], index_copy=scratch)


def _open_upgraded_copy(root: Path, layout: Layout, older: OlderSchema) -> Repository:
    """An index of an older schema, read from a local copy brought up to this schema: a reader never writes
    to the drive, and the copy answers as the index will once the next writer has upgraded it."""
    with drive_errors(root):
        db, scratch = open_copy(layout.index, layout.lock)
    try:
        notes = [f"{older}: read from an upgraded copy; the next backup upgrades it",
                 *trust.behind_notes(db, layout)]
    except BaseException:
        db.close()
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return Repository(root, db, None, notes, index_copy=scratch)


def _writer_notes(root: Path, progress: ProgressCallback | None) -> list[str]:
    with Repository.open(root, writer=True, progress=progress) as repo:
        return repo.notes


def sync_folders(db: SqliteDatabase, layout: Layout, notes: list[str]) -> None:
    """Bring the folder table in line with folders.json, the drive's record of what is protected; a damaged
    folders.json is written again from the index."""
    try:
        entries = repo_layout.read_folders(layout)
    except (ValueError, TypeError, AccessDenied, CorruptData) as err:
        entries = [{"path": os.fsdecode(path), "excludes": json.loads(ex)} for path, ex in db.execute_sql(
            "SELECT path, excludes FROM folder WHERE active = 1 ORDER BY path")]
        repo_layout.write_folders(layout, entries)
        notes.append(f"folders.json was damaged ({err}); written again from the index")
    wanted = {os.fsencode(str(e["path"])): json.dumps(list(e.get("excludes", []))) for e in entries}
    active = {bytes(path): str(excludes) for path, excludes in db.execute_sql(
        "SELECT path, excludes FROM folder WHERE active = 1")}
    if active == wanted:
        return  # as it was: no write, so no commit to wait for at every writer's open
    with db.atomic():
        db.execute_sql("UPDATE folder SET active = 0")
        for path, excludes in wanted.items():
            db.execute_sql(
                "INSERT INTO folder (path, excludes, active) VALUES (?, ?, 1) "
                "ON CONFLICT(path) DO UPDATE SET excludes = excluded.excludes, active = 1", (path, excludes))


def _upgrade_format(layout: Layout, config: RepoConfig) -> RepoConfig:
    """A format-1 repository becomes format 2 the first time this Timekeep writes to it: older readers
    would not know its manifests' generations. Never format 3, which only says its chunker may be one older
    readers cannot cut with: a repository that keeps fastcdc 1.7 stays readable by them. Returns the config in
    force (`config`, read under the writer lock, which nothing but this writer changes while it holds it)."""
    if config.format < GENERATIONS_FORMAT:
        config = dataclasses.replace(config, format=GENERATIONS_FORMAT)
        repo_layout.write_config(layout.store, config)
    return config


def rebuild_index(path: str | Path, progress: ProgressCallback | None = None) -> RebuildReport:
    """`timekeep rebuild-index`: a new index from the drive, built beside the old one, which lends what it
    still knows (a damaged manifest is written again from it) and is replaced only once the new is whole."""
    root = locate(path)
    config = repo_layout.load_config(root)
    layout = repo_layout.layout_of(root, config)
    rid = config.repository_id
    lock = layout.store.writer_lock()
    lock.acquire()
    try:
        with drive_errors(root):
            checked.forget(rid)
            old = trust.old_index(layout)
            try:
                built, report = build_beside(layout, progress, salvage=old)
            finally:
                if old is not None:
                    old.close()
            put_in_place(layout, built, old_healthy=old is not None)
            db = open_index(layout.index)
            try:
                recover(db, layout)
                finish_manifests(db, layout)
            finally:
                db.close()
    finally:
        lock.release()
    return report
