"""Recreate the index from the drive alone: pack footers give the chunks, manifests everything else.

Damage costs only what depended on it. A pack whose footer is unreadable loses its chunks, and a manifest
that names a chunk no pack holds still loads: the chunk is indexed as lost (in a placeholder pack whose
state is `missing`), so the versions that need it are known and reported, and a later backup that meets
the same content stores it again and heals them. A manifest that cannot be read is rewritten from the old
index when that still holds the snapshot intact (`salvage`); otherwise the snapshot is recorded as lost,
and each later version whose `prev` points at it is recorded as having lost its version there.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from peewee import DatabaseError, SqliteDatabase

from timekeep.core.errors import CorruptData, StorageError
from timekeep.core.index import chain, losses
from timekeep.core.index.queries import chunk_places, known_digests
from timekeep.core.index.survey import DriveView, survey
from timekeep.core.index.writer import NewVersion, SnapshotWriter, add_packs, mark_complete, salvage_header
from timekeep.core.restore.combine import ChunkSource
from timekeep.core.storage import xattrs as xattrs_codec
from timekeep.core.storage.layout import Layout, read_folders
from timekeep.core.storage.manifest import decode_path, read_manifest, write_manifest
from timekeep.core.storage.pack import PackReader, SealedPack, read_footer
from timekeep.core.types import FileError, Lost, Progress, SnapshotInfo


@dataclass
class RebuildReport:
    latest: SnapshotInfo | None = None
    snapshots: int = 0
    problems: list[str] = field(default_factory=list)  # damage met, one line each
    lost: list[Lost] = field(default_factory=list)
    repaired: list[int] = field(default_factory=list)  # snapshots whose manifest was written again from the old index


def load_packs(db: SqliteDatabase, view: DriveView, report: RebuildReport, layout: Layout) -> None:
    store, sealing = layout.store, layout.sealing
    packs = []
    for name, size in sorted(view.packs.items()):
        try:
            packs.append(SealedPack(name, size, read_footer(store, name, sealing)))
        except (CorruptData, StorageError) as err:
            report.problems.append(f"{err}; the chunks it held are lost")
            db.execute_sql("INSERT INTO pack (name, size, state) VALUES (?, ?, 'damaged')", (name, size))
    with db.atomic():
        add_packs(db, packs)
        db.execute_sql("INSERT INTO pack (name, size, state) VALUES ('', 0, 'missing')")  # chunks no pack holds


def add_folder_row(db: SqliteDatabase, entry: dict[str, Any], active: bool) -> int:
    cursor = db.execute_sql("INSERT INTO folder (path, excludes, active) VALUES (?, ?, ?)", (
        os.fsencode(str(entry["path"])), json.dumps(list(entry.get("excludes", []))), int(active)))
    return int(cursor.lastrowid)


def note_folders(db: SqliteDatabase, folder_ids: dict[bytes, int], folders: list[dict[str, Any]],
                 active: bool) -> None:
    """Folder rows for folders not seen yet: active from folders.json, inactive from old manifests."""
    for entry in folders:
        path = os.fsencode(str(entry["path"]))
        if path not in folder_ids:
            folder_ids[path] = add_folder_row(db, entry, active)


def version_from(record: dict[str, Any]) -> NewVersion:
    """A manifest's version record as the writer takes it; CorruptData for a record that does not decode."""
    try:
        target = record.get("link_target")
        digest = record.get("digest")
        return NewVersion(
            decode_path(record["path"]), record["state"], record["kind"], size=record["size"], mode=record["mode"],
            mtime_ns=record["mtime_ns"], inode=record["inode"], ctime_ns=record["ctime_ns"], full=record["full"],
            depth=record["depth"], chain_rows=record["chain_rows"],
            content_id=bytes.fromhex(record["content_id"]) if record.get("content_id") else None,
            link_target=decode_path(target) if target is not None else None, racy=bool(record.get("racy")),
            origin=decode_path(record["origin"]) if record.get("origin") is not None else None,
            digest=bytes.fromhex(digest) if digest else None, uid=record.get("uid"), gid=record.get("gid"),
            xattrs=xattrs_codec.from_json(record.get("xattrs")),
            extents=[(e[0], e[1], bytes.fromhex(e[2]), e[3] if len(e) > 3 else 0) for e in record["extents"]])
    except (KeyError, ValueError, TypeError, IndexError, xattrs_codec.BadXattrs) as err:
        raise CorruptData(f"a version record does not decode: {err!r}") from None


class Loader:
    """Loads manifests into the new index one snapshot at a time, each in its own transaction."""

    def __init__(self, db: SqliteDatabase, layout: Layout, view: DriveView, report: RebuildReport,
                 salvage: SqliteDatabase | None) -> None:
        self.db, self.layout, self.view, self.report, self.salvage = db, layout, view, report, salvage
        self.folder_ids: dict[bytes, int] = {}
        self.writer = SnapshotWriter(db, layout, self.folder_ids)
        self.absorbed_into: dict[int, int] = {}  # a thinned snapshot -> the kept one that took it in
        self.lost: set[int] = set()

    def headers(self, ids: list[int]) -> dict[int, dict[str, Any]]:
        """Each snapshot's header, read first: which snapshots a thinning folded into which."""
        found = {}
        for sid in ids:
            try:
                found[sid] = next(read_manifest(self.layout.store, self._current(sid), self.layout.sealing))
            except (CorruptData, StopIteration, StorageError):
                continue
            for gone in found[sid].get("absorbed") or []:
                self.absorbed_into[int(gone)] = sid
        return found

    def missing(self, headers: dict[int, dict[str, Any]]) -> list[int]:
        """Snapshot ids with no manifest at all that no thinning took in: lost with their manifest. Counted
        from the first format-2 manifest on (format 1 did not record what thinning took in) up to the newest
        manifest that opens: an object that only bears a manifest's name proves no snapshot below it."""
        since = min((sid for sid, h in headers.items() if int(h.get("format", 1)) >= 2), default=None)
        if since is None:
            return []
        present = set(self.view.manifests)
        return [sid for sid in range(since + 1, max(headers)) if sid not in present and sid not in self.absorbed_into]

    def lose_missing(self, sid: int) -> None:
        with self.db.atomic():
            self.db.execute_sql(
                "INSERT INTO snapshot (id, time_ns, trigger, state, gen, absorbed, files_scanned, files_read, "
                "files_changed, bytes_read, bytes_new, errors, duration_s) "
                "VALUES (?, 0, '', 'lost', -1, '[]', 0, 0, 0, 0, 0, 0, 0)", (sid,))
            reason = "its manifest is missing from the drive"
            self.db.execute_sql("INSERT INTO loss (snapshot_id, path, reason) VALUES (?, NULL, ?)", (sid, reason))
        self.lost.add(sid)
        self.report.problems.append(f"snapshot {sid} is lost: its manifest is missing from the drive")

    def _current(self, sid: int) -> str:
        gens = self.view.manifests[sid]
        return gens[max(gens)]

    def load(self, sid: int) -> SnapshotInfo | None:
        if sid in self.absorbed_into:  # left by an unfinished thinning: its versions live on in the kept one
            return None
        path = self._current(sid)
        try:
            with self.db.atomic():
                return self._load(sid, path, max(self.view.manifests[sid]))
        except CorruptData as err:
            repaired = self._repair(sid, str(err))
            if repaired is not None:
                return repaired
            self._lose(sid, path, str(err))
            return None

    def _load(self, sid: int, path: str, gen: int) -> SnapshotInfo:
        records = read_manifest(self.layout.store, path, self.layout.sealing)
        header = next(records)
        note_folders(self.db, self.folder_ids, header.get("folders", []), active=False)
        info = _info(header, sid)
        self.db.execute_sql(
            "INSERT INTO snapshot (id, time_ns, trigger, state, gen, absorbed, files_scanned, files_read, "
            "files_changed, bytes_read, bytes_new, errors, duration_s) "
            "VALUES (?, ?, ?, 'running', ?, ?, 0, 0, 0, 0, 0, 0, 0)",
            (sid, info.time_ns, info.trigger, gen, json.dumps(sorted(header.get("absorbed") or []))))
        self.writer.snapshot_id = sid
        versions: list[NewVersion] = []
        errors: list[FileError] = []
        prevs: list[int] = []
        for record in records:
            if record.get("type") == "version":
                versions.append(version_from(record))
                prevs.append(int(record.get("prev") or 0))
            elif record.get("type") == "error":
                errors.append(FileError(decode_path(record["path"]), record["kind"], record["message"]))
        self._placeholders(versions)
        had = self.writer.commit([], versions, errors)
        if header.get("format", 1) >= 2:  # format-1 manifests did not record `prev`
            self._check_prevs(versions, prevs, had)
        mark_complete(self.db, info)
        return info

    def _placeholders(self, versions: list[NewVersion]) -> None:
        """Index every chunk these versions name that no readable pack footer lists: where the old index knew
        it (a pack cut short still holds its first frames; a lost pack is named), as it knew it, in a pack
        marked missing or damaged; else as lost in no pack."""
        wanted = list({e[2] for v in versions for e in v.extents})
        unknown = set(wanted) - known_digests(self.db, wanted)
        if not unknown:
            return
        known = self._salvaged_places(unknown)
        for digest in unknown:
            name, size, *place = known.get(digest, ("", 0, 0, 0, 0, 0))
            self.db.execute_sql("INSERT OR IGNORE INTO pack (name, size, state) VALUES (?, ?, 'missing')", (name, size))
            self.db.execute_sql(
                "INSERT OR IGNORE INTO chunk (digest, pack_id, offset, length, inner, raw_length) "
                "SELECT ?, id, ?, ?, ?, ? FROM pack WHERE name = ?", (digest, *place, name))

    def _salvaged_places(self, digests: set[bytes]) -> dict[bytes, tuple[Any, ...]]:
        if self.salvage is None:
            return {}
        try:
            return {bytes(row[0]): tuple(row[1:]) for row in chunk_places(self.salvage, list(digests))}
        except (DatabaseError, sqlite3.DatabaseError):
            return {}

    def _check_prevs(self, versions: list[NewVersion], recorded: list[int], had: list[int]) -> None:
        """Each version's recorded `prev` against the version the index holds before it: one that points past
        it, at a snapshot that is lost, means the file's version there is lost with it."""
        for version, prev, have in zip(versions, recorded, had, strict=True):
            wanted = self.absorbed_into.get(prev, prev)
            if wanted > have:
                self._lose_path(wanted, version.path, f"its version at snapshot {wanted} was lost with that "
                                                      "snapshot's manifest")

    def _lose_path(self, sid: int, path: bytes, reason: str) -> None:
        self.db.execute_sql("INSERT INTO loss (snapshot_id, path, reason) VALUES (?, ?, ?)", (sid, path, reason))
        self.report.lost.append(Lost((sid,), path, reason))

    def _lose(self, sid: int, path: str, reason: str) -> None:
        gen = max(self.view.manifests[sid])
        with self.db.atomic():
            self.db.execute_sql(
                "INSERT INTO snapshot (id, time_ns, trigger, state, gen, absorbed, files_scanned, files_read, "
                "files_changed, bytes_read, bytes_new, errors, duration_s) "
                "VALUES (?, 0, '', 'lost', ?, '[]', 0, 0, 0, 0, 0, 0, 0)", (sid, gen))
            self.db.execute_sql("INSERT INTO loss (snapshot_id, path, reason) VALUES (?, NULL, ?)", (sid, reason))
        self.lost.add(sid)
        self.report.lost.append(Lost((sid,), None, reason))
        self.report.problems.append(f"snapshot {sid} is lost: {reason}")

    def _repair(self, sid: int, reason: str) -> SnapshotInfo | None:
        """Write the manifest again from the old index when that holds the snapshot whole and checked."""
        if self.salvage is None or not chain.snapshot_intact(self.salvage, sid):
            return None
        gen = max(self.view.manifests.get(sid, {0: ""})) + 1
        header = salvage_header(self.salvage, sid)
        from timekeep.core.index.writer import manifest_records

        path = write_manifest(self.layout, sid, header, manifest_records(self.salvage, sid), gen)
        self.view.manifests.setdefault(sid, {})[gen] = path
        self.report.repaired.append(sid)
        self.report.problems.append(f"snapshot {sid}: {reason}; written again from the old index")
        with self.db.atomic():
            return self._load(sid, path, gen)


def _info(header: dict[str, Any], sid: int) -> SnapshotInfo:
    try:
        fields = {k: header[k] for k in SnapshotInfo.__dataclass_fields__ if k in header}
        fields["id"] = sid
        return SnapshotInfo(**fields)
    except TypeError as err:
        raise CorruptData(f"its header does not decode: {err}") from None


def _folders(layout: Layout, report: RebuildReport) -> list[dict[str, Any]]:
    try:
        return read_folders(layout)
    except (OSError, ValueError) as err:
        report.problems.append(f"folders.json is damaged ({err}); the folders of the latest snapshot are used")
        return []


def rebuild(db: SqliteDatabase, layout: Layout, progress: Callable[[Progress], None] | None = None,
            salvage: SqliteDatabase | None = None) -> RebuildReport:
    """Fill an empty index from the drive; `salvage` is the old index, if it still opens."""
    report = RebuildReport()
    view = survey(layout)
    load_packs(db, view, report, layout)
    loader = Loader(db, layout, view, report, salvage)
    folders = _folders(layout, report)
    with db.atomic():
        note_folders(db, loader.folder_ids, folders, active=True)
    ids = sorted(view.manifests)
    headers = loader.headers(ids)
    if not folders and headers:  # folders.json unreadable: what the latest snapshot protected
        with db.atomic():
            note_folders(db, loader.folder_ids, headers[max(headers)].get("folders", []), active=True)
    started = time.monotonic()
    gone = set(loader.missing(headers))
    todo = sorted(set(_missing_too(ids, salvage, loader)) | gone)
    for n, sid in enumerate(todo):
        if sid in view.manifests:
            info = loader.load(sid)
        else:
            info = loader._repair(sid, "its manifest is missing")
            if info is None and sid in gone:
                loader.lose_missing(sid)
        if info is not None:
            report.latest, report.snapshots = info, report.snapshots + 1
        if progress is not None:
            progress(Progress("rebuild", n + 1, len(todo), 0, 0, time.monotonic() - started))
    source = ChunkSource(db, PackReader(layout))
    try:
        report.lost = losses.lost(db, losses.bad_chunks(db, source))
    finally:
        source.reader.close()
    return report


def _missing_too(ids: list[int], salvage: SqliteDatabase | None, loader: Loader) -> Iterator[int]:
    """The drive's snapshots in order, and among them those the old index holds whole whose manifest is
    gone and which no thinning took in (a thinned snapshot is named by the kept one's `absorbed`)."""
    extra: set[int] = set()
    if salvage is not None:
        known = {int(r[0]) for r in salvage.execute_sql("SELECT id FROM snapshot WHERE state = 'complete'")}
        extra = {sid for sid in known - set(ids) if sid not in loader.absorbed_into and sid < max(ids, default=0)}
    yield from sorted(set(ids) | extra)
