"""Looking through history: the snapshots, the snapshot at a time, a folder as it was, what a snapshot
changed or deleted, a file's versions. Read from the index; listings check every row against its seal."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from timekeep.core.errors import NotInSnapshot, TimeBeforeFirstSnapshot, UsageError
from timekeep.core.index import gone, listing, queries, summary
from timekeep.core.repository import Repository
from timekeep.core.restore import build
from timekeep.core.storage.manifest import manifest_ids
from timekeep.core.types import Entry, FileError, Gone, Located, SnapshotInfo, VersionInfo

if TYPE_CHECKING:
    from timekeep.core.types import SnapshotSummary


def lost_snapshots(repo: Repository) -> list[int]:
    return [int(r[0]) for r in repo.db.execute_sql("SELECT id FROM snapshot WHERE state = 'lost' ORDER BY id")]


def snapshot_errors(repo: Repository, snapshot_id: int) -> list[FileError]:
    rows = repo.db.execute_sql(
        "SELECT path, kind, message FROM snapshot_error WHERE snapshot_id = ? ORDER BY id", (snapshot_id,))
    return [FileError(*row) for row in rows]


def resolve_time(repo: Repository, spec: str) -> SnapshotInfo:
    """The snapshot in force at `spec` (ISO time, snapshot id, 'latest', '2 hours ago')."""
    from timekeep.core.timespec import parse_time_spec  # loaded when a time is asked for: a backup never does

    parsed = parse_time_spec(spec, datetime.now(UTC))
    every = queries.snapshots(repo.db)
    if not every:
        raise UsageError("there are no snapshots yet; run `timekeep backup` first")
    if parsed.kind == "latest":
        return every[-1]
    if parsed.kind == "snapshot":
        sid = int(parsed.snapshot_id or 0)
        found = queries.snapshot(repo.db, sid)
        if found is None:
            raise UsageError(_unknown_snapshot(repo, sid))
        return found
    found = queries.snapshot_at_time(repo.db, min(int(parsed.time_ns or 0), 2**63 - 1))
    if found is None:
        first = datetime.fromtimestamp(every[0].time_ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")
        raise TimeBeforeFirstSnapshot(f"{spec!r} is before the first snapshot (taken {first})")
    return found


def _unknown_snapshot(repo: Repository, sid: int) -> str:
    if sid in manifest_ids(repo.layout):
        return (f"snapshot {sid} is on the drive but not in the index (the index is behind the drive); run "
                "`timekeep rebuild-index`")
    return f"there is no snapshot {sid}; `timekeep snapshots` lists them"


def list_dir(repo: Repository, path: bytes | None, snapshot_id: int) -> list[Entry]:
    """Children of `path` as they stood at the snapshot; `None` lists the protected folders."""
    if path is None:
        return queries.roots_at(repo.db, snapshot_id)
    version = build.version_at(repo.db, path, snapshot_id)
    if version.kind != "dir":
        raise UsageError(f"{os.fsdecode(path)} is not a folder at snapshot {snapshot_id}")
    return listing.children_at(repo.db, version.file_id, snapshot_id, remembered=repo.listed)


def changed_folders(repo: Repository, snapshot_id: int) -> frozenset[bytes]:
    return summary.changed_folders(repo.db, snapshot_id)


def snapshot_summary(repo: Repository, snapshot_id: int) -> SnapshotSummary:
    return summary.snapshot_summary(repo.db, snapshot_id)


def deleted_at(repo: Repository, path: bytes | None, snapshot_id: int) -> list[Entry]:
    """Children of `path` (None: the protected folders) deleted at the snapshot, each as it was just before
    (state "deleted"); a folder deleted at that snapshot lists what went with it."""
    if path is None:
        return summary.deleted_roots(repo.db, snapshot_id)
    fid = queries.file_id(repo.db, path)
    version = queries.version_at(repo.db, fid, snapshot_id) if fid is not None else None
    if fid is None or version is None:
        raise NotInSnapshot(f"{os.fsdecode(path)} did not exist at snapshot {snapshot_id}")
    if version.kind != "dir":
        raise UsageError(f"{os.fsdecode(path)} is not a folder at snapshot {snapshot_id}")
    return summary.deleted_children(repo.db, fid, snapshot_id)


def gone_from(repo: Repository, path: bytes) -> list[Gone]:
    """What was in the folder at some snapshot and is deleted now, newest deletion first."""
    fid = queries.file_id(repo.db, path)
    if fid is None:
        raise NotInSnapshot(f"{os.fsdecode(path)} was never backed up")
    return gone.gone_children(repo.db, fid)


def gone_beneath(repo: Repository, path: bytes) -> list[Gone]:
    """Everything below the folder that is deleted now, newest deletion first (nothing for a folder never
    backed up)."""
    return gone.gone_beneath(repo.db, path)


def versions(repo: Repository, path: bytes) -> list[VersionInfo]:
    fid = queries.file_id(repo.db, path)
    if fid is None:
        raise NotInSnapshot(f"{os.fsdecode(path)} was never backed up")
    return queries.versions_of(repo.db, fid)


def locate(repo: Repository, path: bytes, snapshot_id: int) -> Located:
    """The snapshot to read `path` from when asked for it at `snapshot_id`: that one while it existed there,
    the one just before its deletion when it had been deleted (as the window shows a deleted file). One line
    (NotInSnapshot) for a path never backed up, or not yet at that snapshot."""
    fid = queries.file_id(repo.db, path)
    rows = [] if fid is None else [(int(sid), str(state)) for sid, state in repo.db.execute_sql(
        "SELECT v.snapshot_id, v.state FROM version v JOIN snapshot s ON s.id = v.snapshot_id "
        "WHERE v.file_id = ? AND s.state = 'complete' ORDER BY v.snapshot_id", (fid,))]
    if not rows:
        raise NotInSnapshot(f"{os.fsdecode(path)} was never backed up")
    asked = _complete(repo, snapshot_id)
    until = [(sid, state) for sid, state in rows if sid <= snapshot_id]
    if not until:
        first = _complete(repo, rows[0][0])
        raise NotInSnapshot(f"{os.fsdecode(path)} did not exist yet at {_named(asked)}; its first version is "
                            f"from {_named(first)}")
    deleted_sid, state = until[-1]
    if state != "deleted":
        return Located(asked)
    (before,) = repo.db.execute_sql("SELECT max(id) FROM snapshot WHERE state = 'complete' AND id < ?",
                                    (deleted_sid,)).fetchone()
    if before is None or all(state == "deleted" for _, state in until):
        raise NotInSnapshot(f"{os.fsdecode(path)} was deleted before any snapshot held it")
    return Located(_complete(repo, int(before)), _complete(repo, deleted_sid))


def _complete(repo: Repository, snapshot_id: int) -> SnapshotInfo:
    found = queries.snapshot(repo.db, snapshot_id)
    if found is None:
        raise UsageError(_unknown_snapshot(repo, snapshot_id))
    return found


def _named(snap: SnapshotInfo) -> str:
    """`snapshot 12 (2026-11-20 14:03:05)`, the time local, as errors name a snapshot."""
    return f"snapshot {snap.id} ({datetime.fromtimestamp(snap.time_ns / 1e9).strftime('%Y-%m-%d %H:%M:%S')})"
