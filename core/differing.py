"""What changed between two moments: two snapshots, or a snapshot and the live folders ("now").

Between snapshots it is read from the index alone (core/index/between.py): the versions in force at either
end of every file stored in between, compared by their digests and metadata. For now, the metadata scan
a backup starts with (core/capture/scan.py) says what differs on disk from the latest snapshot, without
reading any file.
"""

from __future__ import annotations

from timekeep.core import folders
from timekeep.core.capture.excludes import Excludes
from timekeep.core.capture.scan import FolderScan
from timekeep.core.changes import Side, compare, live, stored
from timekeep.core.errors import UsageError
from timekeep.core.index import between, queries
from timekeep.core.paths import identity, is_inside
from timekeep.core.repository import Repository
from timekeep.core.types import Diff, FileError, SnapshotInfo

Ends = dict[bytes, tuple[Side | None, Side | None]]


def diff(repo: Repository, before: int, after: int | None, path: bytes | None = None) -> Diff:
    """Paths that differ from snapshot `before` to snapshot `after` (None: the live folders), at or under
    `path` when given."""
    first = _complete(repo, before)
    every = queries.snapshots(repo.db)
    last = _complete(repo, after) if after is not None else every[-1]
    ends: Ends = {p: (stored(a), stored(b)) for p, (a, b) in between.changed_between(repo.db, first.id, last.id).items()
                  if path is None or is_inside(p, path)}
    if after is None:
        _scan_live(repo, first.id, ends, path)
    return Diff(first, None if after is None else last, tuple(compare(ends)))


def _complete(repo: Repository, snapshot_id: int) -> SnapshotInfo:
    found = queries.snapshot(repo.db, snapshot_id)
    if found is None:
        raise UsageError(f"there is no snapshot {snapshot_id}; `timekeep snapshots` lists them")
    return found


def _scan_live(repo: Repository, before: int, ends: Ends, path: bytes | None) -> None:
    """Replace the after side with what the disk shows now, for each path the scan finds changed since the
    latest snapshot."""
    skipped: list[FileError] = []
    for folder in folders.folders(repo):
        if path is not None and not (is_inside(path, folder.path) or is_inside(folder.path, path)):
            continue
        scan = FolderScan(repo.db, folder.path, Excludes(folder.excludes), skipped.append,
                          repository=_folder_identity(repo))
        items = [item for item in scan.items() if path is None or is_inside(item.path, path)]
        earlier = between.paths_in_force(repo.db, [i.path for i in items if i.path not in ends], before)
        for item in items:
            start = ends[item.path][0] if item.path in ends else stored(earlier.get(item.path))
            ends[item.path] = (start, live(item.observed))


def _folder_identity(repo: Repository) -> tuple[int, int] | None:
    """The repository's own folder, left out of the scan; a bucket has none on this computer."""
    local = repo.layout.store.local_folder
    return None if local is None else identity(local)
