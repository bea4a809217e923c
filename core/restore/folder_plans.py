"""A folder restore's plans, made a batch of entries at a time: a few index statements for a few hundred files
(their versions, extents and chunk places: core/index/histories.py) instead of six to eight for each.

The entries of a folder are planned in its order, `BATCH` ahead of the one being restored, so a big folder
holds at most a batch of plans in waiting (and a folder being restored inside it, its own batch), and the
version lists of its entries not yet planned, read with its listing (`children`: each row read and checked
once, not once to list and again to plan). Every plan is checked as one made alone is (build.plan): an entry
whose rows fail their seals gets its own error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from peewee import SqliteDatabase

from timekeep.core.errors import CorruptData
from timekeep.core.index import histories
from timekeep.core.index.chain import Link
from timekeep.core.index.histories import IMPOSSIBLE_VALUES, Histories, Owns
from timekeep.core.index.listing import Damaged
from timekeep.core.index.queries import ChunkLocation
from timekeep.core.restore import build
from timekeep.core.restore.combine import ChunkSource
from timekeep.core.restore.links import Key, key_of
from timekeep.core.types import Entry, Plan

BATCH = 256
SMALL = 1 << 20  # the files whose chunk places are looked up with the batch (see small_files.SMALL)
Where = dict[bytes, ChunkLocation]


class Ahead(NamedTuple):
    """One entry, planned: its hard-link key, and for a small file the places of its chunks (None: looked up
    when it is written, where a missing one is then named)."""

    plan: Plan
    key: Key | None = None
    where: Where | None = None


class FolderPlans:
    def __init__(self, db: SqliteDatabase, snapshot_id: int, owns: Owns | None = None) -> None:
        self.db, self.snapshot_id, self.owns = db, snapshot_id, owns  # `owns`: a share's entries (shares.py)
        self.lost = build.lost_between(db, 0, snapshot_id)
        self.ready: dict[bytes, Ahead | Exception] = {}
        self.known: dict[bytes, list[Link] | Exception] = {}  # version lists read with their folder's listing
        self.inodes: dict[int, tuple[int, int]] = {}

    def children(self, parent_id: int, damaged: Damaged) -> list[Entry]:
        """A folder's entries at the snapshot, each checked (a row that fails its seal handed to `damaged`); their
        version lists, read and checked with them (histories.children), are kept to plan them from rather than
        read again. Taking an entry's plan forgets its list."""
        entries, found = histories.children(self.db, parent_id, self.snapshot_id, damaged, self.owns)
        self.known.update(found.found)
        self.inodes.update(found.inodes)
        return entries

    def take(self, siblings: Sequence[bytes], index: int) -> Ahead:
        """The plan of `siblings[index]`, planned with the batch after it if it is not yet; raises what
        `restore.checked_plan` would for it."""
        path = siblings[index]
        if path not in self.ready:
            self._plan(siblings[index : index + BATCH])
        found = self.ready.pop(path)
        if isinstance(found, IMPOSSIBLE_VALUES):
            raise build.impossible(path, found)
        if isinstance(found, Exception):
            raise found
        return found

    def _plan(self, paths: Sequence[bytes]) -> None:
        places: Where = {}
        known = None
        if all(path in self.known for path in paths):
            known = Histories({path: self.known.pop(path) for path in paths}, self.inodes)
        planned = build.plan_many(self.db, paths, self.snapshot_id, self.lost, places, known)
        if known is not None:
            for links in known.found.values():
                for link in links if isinstance(links, list) else ():
                    self.inodes.pop(link.id, None)
        for path, got in planned.items():
            if isinstance(got, Exception):
                self.ready[path] = got
            else:
                where = _usable(got.plan, places) if _small(got.plan) else None
                self.ready[path] = Ahead(got.plan, key_of(got.plan, got.inode, got.ctime_ns), where)


def _small(plan: Plan) -> bool:
    return plan.kind == "file" and plan.size <= SMALL


def _usable(plan: Plan, places: Where) -> Where | None:
    try:
        return ChunkSource.usable([piece.digest for piece in plan.pieces], places)
    except CorruptData:
        return None
