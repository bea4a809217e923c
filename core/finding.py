"""Find anything in all of history: every path whose name matches, with when it existed, when it last changed
and, for what the latest snapshot no longer holds, when it was deleted.

The name index (core/index/names.py) narrows the file rows to those whose name may match; each candidate's
path is then matched again on the file row itself, and its versions are read in batches and checked
against their seals, as a listing checks every row it shows.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import cast

from timekeep.core.index import names, queries
from timekeep.core.index.queries import VERSION_COLUMNS, VersionRow
from timekeep.core.lifespan import overlaps, spans
from timekeep.core.name_pattern import parse
from timekeep.core.paths import is_inside
from timekeep.core.repository import Repository
from timekeep.core.types import Found, Kind, SnapshotInfo

BATCH = 500


def find(repo: Repository, pattern: str, deleted: bool = False, inside: bytes | None = None,
         between: tuple[int, int] | None = None) -> list[Found]:
    """Paths whose name matches `pattern` (core/name_pattern.py), by path; only those the latest snapshot no
    longer holds when `deleted`; only at or under `inside`; only those that existed in some snapshot from
    `between[0]` to `between[1]` (ids)."""
    wanted = parse(pattern)
    snaps = queries.snapshots(repo.db)
    if not snaps:
        return []
    hits = [(fid, path) for fid, path in names.candidates(repo.db, wanted.like, wanted.literal_run, repo.writable)
            if (inside is None or is_inside(path, inside)) and wanted.matches(os.path.basename(path))]
    found = [item for item in _described(repo, sorted(hits, key=lambda hit: hit[1]), snaps)
             if not (deleted and item.present)]
    if between is not None:
        low, high = sorted(between)
        found = [item for item in found if overlaps(item.spans, low, high)]
    return found


def _described(repo: Repository, hits: list[tuple[int, bytes]], snaps: list[SnapshotInfo]) -> Iterator[Found]:
    ids = [s.id for s in snaps]
    times = {s.id: s.time_ns for s in snaps}
    for start in range(0, len(hits), BATCH):
        batch = hits[start : start + BATCH]
        versions = _versions(repo, batch, times)
        for fid, path in batch:
            item = _found(path, versions.get(fid, []), ids, times)
            if item is not None:
                yield item


def _versions(repo: Repository, batch: list[tuple[int, bytes]], times: dict[int, int]
              ) -> dict[int, list[VersionRow]]:
    """Each file's versions in complete snapshots, oldest first, every row checked against its seal."""
    paths = dict(batch)
    marks = ",".join("?" * len(batch))
    rows = repo.db.execute_sql(f"SELECT {VERSION_COLUMNS} FROM version v WHERE v.file_id IN ({marks}) "
                               "ORDER BY v.file_id, v.snapshot_id", [fid for fid, _ in batch]).fetchall()
    found: dict[int, list[VersionRow]] = {}
    for row in rows:
        version = VersionRow._make(row)
        if version.snapshot_id not in times:
            continue
        if not version.sealed(paths[version.file_id]):
            raise queries.damaged_at(paths[version.file_id])
        found.setdefault(version.file_id, []).append(version)
    return found


def _found(path: bytes, versions: list[VersionRow], ids: list[int], times: dict[int, int]) -> Found | None:
    lived = spans([(v.snapshot_id, v.state) for v in versions], ids)
    stored = [v for v in versions if v.state != "deleted"]
    if not lived or not stored:
        return None  # never held by a complete snapshot
    last = stored[-1]
    gone = versions[-1] if versions[-1].state == "deleted" else None
    return Found(path, cast(Kind, last.kind), last.size, last.mtime_ns, lived, last.snapshot_id,
                 times[last.snapshot_id], None if gone is None else gone.snapshot_id,
                 None if gone is None else times[gone.snapshot_id])


