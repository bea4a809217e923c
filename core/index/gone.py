"""What is gone from a folder: its children (or everything beneath it) whose newest version is a deletion,
newest deletion first, each as it was last stored, so "Restore deleted files here" and "Show deleted files"
can list them and restore each from its last version.

One indexed query per folder (each file row knows the snapshot of its newest version; the paths beneath a
folder are one range of the unique path index), never a walk of the history.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from peewee import SqliteDatabase

from timekeep.core.index.listing import live_held
from timekeep.core.index.summary import BEFORE
from timekeep.core.types import Entry, Gone

SELECT = (
    "SELECT f.path, p.kind, p.size, p.mode, p.mtime_ns, p.snapshot_id, p.link_target, sp.time_ns, v.snapshot_id, "
    "s.time_ns "
    "FROM file f JOIN version v ON v.file_id = f.id AND v.snapshot_id = f.head AND v.state = 'deleted' "
    "JOIN snapshot s ON s.id = v.snapshot_id AND s.state = 'complete' "
    f"JOIN version p ON p.id = {BEFORE.replace('?', 'v.snapshot_id')} "
    "JOIN snapshot sp ON sp.id = p.snapshot_id "
)
ORDER = " AND p.state != 'deleted' ORDER BY v.snapshot_id DESC, f.path"
GONE = SELECT + "WHERE f.parent_id = ? AND f.live = 0" + ORDER  # a folder's dead names alone (core/index/live.py)
BENEATH = SELECT + "WHERE f.path > ? AND f.path < ?" + ORDER  # '0' follows '/': every path below the folder


def gone_children(db: SqliteDatabase, parent_id: int) -> list[Gone]:
    """The folder's dead names; IndexDamaged when its live set does not hold (a dead name flagged live would be
    left out)."""
    live_held(db.connection(), parent_id)
    return _gone(db.execute_sql(GONE, (parent_id,)))


def gone_beneath(db: SqliteDatabase, folder: bytes) -> list[Gone]:
    """Everything that ever existed below `folder`, at any depth, and whose newest version is a deletion."""
    top = folder.rstrip(b"/")
    return _gone(db.execute_sql(BENEATH, (top + b"/", top + b"0")))


def _gone(rows: Iterable[tuple[Any, ...]]) -> list[Gone]:
    return [Gone(Entry(bytes(path), kind, size, mode, mtime_ns, before, True, target, "deleted"), int(stored),
                 int(sid), int(ns))
            for path, kind, size, mode, mtime_ns, before, target, stored, sid, ns in rows]
