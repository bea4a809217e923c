"""Paths that arrived by a rename a watcher saw: they take their origin's stored content and history.

When the file at the new path is the very one stored at the old (same inode, size and mtime; a rename changes
only its ctime), its first version there is recorded from the origin's stored pieces, without reading it. A
file edited since is read, and still named after its origin so its history follows (FORMAT.md, `origin`). A rename
found only by a scan has no journaled origin and stays a deletion plus a creation whose content dedups.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from peewee import SqliteDatabase

from timekeep.core.capture import attrs
from timekeep.core.capture.scan import ScanItem
from timekeep.core.index import journal, queries
from timekeep.core.index.moves import ELSEWHERE, NEW, traced
from timekeep.core.index.queries import VersionRow
from timekeep.core.index.writer import NewVersion
from timekeep.core.restore.plan import paint


@dataclass(frozen=True)
class Arrival:
    origin: bytes  # the path it had before the rename
    before: VersionRow  # the origin's version in force before this storage time


class Arrivals:
    """The journal's renames, resolved against the index as it stood before this storage time (a deletion
    of the origin recorded earlier in the same snapshot changes nothing)."""

    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db
        self.origins = journal.origins(db)
        self._gone: dict[int, bytes] | None = None

    def of(self, item: ScanItem, snapshot_id: int) -> Arrival | None:
        """Where a path new to the index came from, when something of its kind was stored there. The journal
        marks paths created since as new, so a stale origin does not outlive the file that was renamed."""
        obs = item.observed
        if not self.origins or obs is None or (item.prev is not None and item.prev.state != "deleted"):
            return None
        found = traced(self.origins, item.path)
        if found is None or found[1] == NEW:
            return None
        at, origin = found
        if origin == ELSEWHERE:
            paired = self._paired(at, snapshot_id)
            if paired is None:
                return None
            origin = paired + item.path[len(at):]
        fid = queries.file_id(self.db, origin)
        before = queries.version_at(self.db, fid, snapshot_id - 1) if fid is not None else None
        if before is None or before.state == "deleted" or before.kind != obs.kind:
            return None
        return Arrival(origin, before)

    def _paired(self, path: bytes, snapshot_id: int) -> bytes | None:
        """Where a path renamed in from an unpaired place came from: the journaled path, gone now, whose
        stored version has its inode (the kernel keeps the inode through a rename)."""
        try:
            inode = os.lstat(path).st_ino
        except OSError:
            return None
        if self._gone is None:
            self._gone = self._gone_inodes(snapshot_id)
        return self._gone.get(inode)

    def _gone_inodes(self, snapshot_id: int) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        for paths in journal.pending(self.db).values():
            for path in paths:
                fid = None if os.path.lexists(path) else queries.file_id(self.db, path)
                version = queries.version_at(self.db, fid, snapshot_id - 1) if fid is not None else None
                if version is not None and version.state != "deleted":
                    found[version.inode] = path
        return found


def unread(item: ScanItem, arrival: Arrival) -> bool:
    """Whether the renamed file is still the one stored at its origin, unchanged (same inode, size and
    mtime: observe.same_stat's test without the ctime a rename changes), so it need not be read. A version stored
    racy (touched as it was read) proves nothing: such a file is read."""
    obs, before = item.observed, arrival.before
    return obs is not None and obs.kind == "file" and not before.racy and (obs.inode, obs.size, obs.mtime_ns) == (
        before.inode, before.size, before.mtime_ns)


def moved_version(db: SqliteDatabase, item: ScanItem, arrival: Arrival) -> NewVersion:
    """The renamed file's first version at its new path: a full version made of the pieces its origin's
    version is built from (each a chunk, or the part of one still seen), with the metadata seen now."""
    obs, before = item.observed, arrival.before
    assert obs is not None
    pieces = paint(queries.chain_extents(db, before), before.size)
    return NewVersion(obs.path, "created", "file", size=obs.size, mode=obs.mode, mtime_ns=obs.mtime_ns,
                      inode=obs.inode, ctime_ns=obs.ctime_ns, full=True, depth=0, chain_rows=len(pieces),
                      content_id=before.content_id, origin=arrival.origin, digest=before.digest,
                      uid=obs.uid, gid=obs.gid, xattrs=attrs.of_path(obs.path),
                      extents=[(p.offset, p.length, p.digest, p.chunk_offset) for p in pieces],
                      file_id=item.prev.file_id if item.prev is not None else None)
