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
from timekeep.core.index.seal import version_holds
from timekeep.core.lifespan import overlaps, spans
from timekeep.core.name_pattern import parse
from timekeep.core.paths import is_inside
from timekeep.core.repository import Repository
from timekeep.core.types import Found, FoundPage, Kind, SnapshotInfo

BATCH = 500


def find(repo: Repository, pattern: str, deleted: bool = False, inside: bytes | None = None,
         between: tuple[int, int] | None = None) -> list[Found]:
    """Paths whose name matches `pattern` (core/name_pattern.py), by path; only those the latest snapshot no
    longer holds when `deleted`; only at or under `inside`; only those that existed in some snapshot from
    `between[0]` to `between[1]` (ids)."""
    snaps = queries.snapshots(repo.db)
    if not snaps:
        return []
    found = [item for item in _described(repo, _hits(repo, pattern, inside), snaps) if not (deleted and item.present)]
    if between is not None:
        low, high = sorted(between)
        found = [item for item in found if overlaps(item.spans, low, high)]
    return found


def find_first(repo: Repository, pattern: str, limit: int, deleted: bool = False, inside: bytes | None = None,
               between: tuple[int, int] | None = None) -> FoundPage:
    """The first `limit` of what `find` answers, and how many more. Only the first are described (their
    versions read and checked against their seals); the rest are counted from their versions' states, as
    nothing of them is handed back. `between` needs every path's snapshots, so it describes all."""
    if between is not None:
        every = find(repo, pattern, deleted, inside, between)
        return FoundPage(tuple(every[:limit]), max(0, len(every) - limit))
    snaps = queries.snapshots(repo.db)
    if not snaps:
        return FoundPage((), 0)
    hits = _hits(repo, pattern, inside)
    found: list[Found] = []
    start = 0
    while start < len(hits) and len(found) < limit:
        found.extend(item for item in _described(repo, hits[start : start + BATCH], snaps)
                     if not (deleted and item.present))
        start += BATCH
    return FoundPage(tuple(found[:limit]), max(0, len(found) - limit) + _counted(repo, hits[start:], deleted))


def _hits(repo: Repository, pattern: str, inside: bytes | None) -> list[tuple[int, bytes]]:
    """(file id, path) of every file row whose name matches, by path."""
    wanted = parse(pattern)
    hits = [(fid, path) for fid, path in names.candidates(repo.db, wanted.like, wanted.literal_run, repo.writable)
            if (inside is None or is_inside(path, inside)) and wanted.matches(os.path.basename(path))]
    return sorted(hits, key=lambda hit: hit[1])


# per file: the state of its newest version in a complete snapshot (SQLite gives a bare column the values of
# the row max() chose), and how many of its versions hold it
COUNTED = ("SELECT v.state, max(v.snapshot_id), sum(v.state != 'deleted') FROM version v "
           "JOIN snapshot s ON s.id = v.snapshot_id AND s.state = 'complete' WHERE v.file_id IN ({}) "
           "GROUP BY v.file_id")


def _counted(repo: Repository, hits: list[tuple[int, bytes]], deleted: bool) -> int:
    """How many of `hits` `find` would answer: held by some complete snapshot (and gone from the latest
    when `deleted`), as `_found` decides."""
    count = 0
    for start in range(0, len(hits), BATCH):
        ids = [fid for fid, _ in hits[start : start + BATCH]]
        rows = repo.db.execute_sql(COUNTED.format(",".join("?" * len(ids))), ids).fetchall()
        count += sum(1 for state, _, held in rows if held and (not deleted or state == "deleted"))
    return count


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


# what a version's seal covers, in version_holds' order after the path; then the file it belongs to
SEALED = ("v.seal, v.snapshot_id, v.prev, v.state, v.kind, v.size, v.mode, v.mtime_ns, v.uid, v.gid, v.full, "
          "v.digest, v.link_target, v.xattrs, v.xhash, v.file_id")
Stored = tuple[int, str, str, int, int]  # snapshot id, state, kind, size, mtime_ns


def _versions(repo: Repository, batch: list[tuple[int, bytes]], times: dict[int, int]) -> dict[int, list[Stored]]:
    """Each file's versions in complete snapshots, oldest first, every row checked against its seal (only the
    columns the seal covers are read: an answer may hold a hundred thousand versions)."""
    paths = dict(batch)
    marks = ",".join("?" * len(batch))
    rows = repo.db.execute_sql(f"SELECT {SEALED} FROM version v WHERE v.file_id IN ({marks}) "
                               "ORDER BY v.file_id, v.snapshot_id", [fid for fid, _ in batch]).fetchall()
    found: dict[int, list[Stored]] = {}
    holds = version_holds
    for seal, sid, prev, state, kind, size, mode, mtime, uid, gid, full, digest, target, xattrs, xhash, fid in rows:
        if sid not in times:
            continue
        if not holds(seal, paths[fid], sid, prev, state, kind, size, mode, mtime, uid, gid, full, digest, target,
                     xattrs, xhash):
            raise queries.damaged_at(paths[fid])
        found.setdefault(fid, []).append((sid, state, kind, size, mtime))
    return found


def _found(path: bytes, versions: list[Stored], ids: list[int], times: dict[int, int]) -> Found | None:
    lived = spans([(sid, state) for sid, state, *_ in versions], ids)
    stored = [v for v in versions if v[1] != "deleted"]
    if not lived or not stored:
        return None  # never held by a complete snapshot
    sid, _, kind, size, mtime_ns = stored[-1]
    gone = versions[-1][0] if versions[-1][1] == "deleted" else None
    return Found(path, cast(Kind, kind), size, mtime_ns, lived, sid, times[sid], gone,
                 None if gone is None else times[gone])
