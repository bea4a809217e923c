"""Recreate the index from the drive alone: pack footers give the chunks, manifests everything else."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from peewee import SqliteDatabase

from core.errors import CorruptData
from core.index.writer import NewVersion, SnapshotWriter, add_packs, mark_complete
from core.storage.layout import Layout, read_folders
from core.storage.manifest import decode_path, manifest_ids, read_manifest
from core.storage.pack import SealedPack, iter_pack_files, read_footer
from core.types import FileError, Progress, SnapshotInfo


def load_packs(db: SqliteDatabase, layout: Layout, problems: list[str]) -> None:
    packs = []
    for path in iter_pack_files(layout):
        try:
            packs.append(SealedPack(path.stem, path.stat().st_size, read_footer(path)))
        except CorruptData as err:
            problems.append(str(err))
    with db.atomic():
        add_packs(db, packs)


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


def _version(record: dict[str, Any]) -> NewVersion:
    target = record.get("link_target")
    return NewVersion(
        decode_path(record["path"]), record["state"], record["kind"], size=record["size"], mode=record["mode"],
        mtime_ns=record["mtime_ns"], inode=record["inode"], ctime_ns=record["ctime_ns"], full=record["full"],
        depth=record["depth"], chain_rows=record["chain_rows"],
        content_id=bytes.fromhex(record["content_id"]) if record.get("content_id") else None,
        link_target=decode_path(target) if target is not None else None, racy=bool(record.get("racy")),
        origin=decode_path(record["origin"]) if record.get("origin") is not None else None,
        extents=[(e[0], e[1], bytes.fromhex(e[2]), e[3] if len(e) > 3 else 0) for e in record["extents"]])


def load_snapshot(db: SqliteDatabase, layout: Layout, sid: int, writer: SnapshotWriter) -> SnapshotInfo:
    records = read_manifest(layout.manifest_path(sid))
    header = next(records)
    note_folders(db, writer.folder_id, header.get("folders", []), active=False)
    info = SnapshotInfo(**{k: header[k] for k in SnapshotInfo.__dataclass_fields__ if k in header})
    db.execute_sql("INSERT INTO snapshot (id, time_ns, trigger, state, files_scanned, files_read, files_changed, "
                   "bytes_read, bytes_new, errors, duration_s) VALUES (?, ?, ?, 'running', 0, 0, 0, 0, 0, 0, 0)",
                   (sid, info.time_ns, info.trigger))
    writer.snapshot_id = sid
    versions: list[NewVersion] = []
    errors: list[FileError] = []
    for record in records:
        if record["type"] == "version":
            versions.append(_version(record))
        elif record["type"] == "error":
            errors.append(FileError(decode_path(record["path"]), record["kind"], record["message"]))
    writer.commit([], versions, errors)
    mark_complete(db, info)
    return info


def rebuild(db: SqliteDatabase, layout: Layout, progress: Callable[[Progress], None] | None = None
            ) -> tuple[SnapshotInfo | None, list[str]]:
    """Fill an empty index from the drive; returns the latest snapshot and any problems met."""
    problems: list[str] = []
    load_packs(db, layout, problems)
    folder_ids: dict[bytes, int] = {}
    with db.atomic():
        note_folders(db, folder_ids, read_folders(layout), active=True)
    writer = SnapshotWriter(db, layout, folder_ids)
    latest = None
    ids = manifest_ids(layout)
    for n, sid in enumerate(ids):
        try:
            with db.atomic():
                latest = load_snapshot(db, layout, sid, writer)
        except CorruptData as err:
            problems.append(str(err))
        if progress is not None:
            progress(Progress("check", n + 1, len(ids), 0, 0, 0.0))
    return latest, problems
