"""Plans for stored versions: resolve a path at a snapshot and paint its chain (claims 15–17)."""

from __future__ import annotations

import os

from peewee import SqliteDatabase

from core.errors import NotInSnapshot
from core.index import queries
from core.index.queries import VersionRow
from core.restore.plan import paint
from core.types import Plan


def version_at(db: SqliteDatabase, path: bytes, snapshot_id: int) -> VersionRow:
    """The version of `path` in force at the snapshot; NotInSnapshot if it did not exist then."""
    fid = queries.file_id(db, path)
    version = queries.version_at(db, fid, snapshot_id) if fid is not None else None
    if version is None or version.state == "deleted":
        raise NotInSnapshot(f"{os.fsdecode(path)} did not exist at snapshot {snapshot_id}")
    return version


def plan_version(db: SqliteDatabase, path: bytes, version: VersionRow) -> Plan:
    pieces = paint(queries.chain_extents(db, version), version.size) if version.kind == "file" else []
    return Plan(path, version.snapshot_id, version.kind, version.size, version.mode,  # type: ignore[arg-type]
                version.mtime_ns, version.link_target, tuple(pieces))


def plan(db: SqliteDatabase, path: bytes, snapshot_id: int) -> Plan:
    return plan_version(db, path, version_at(db, path, snapshot_id))
