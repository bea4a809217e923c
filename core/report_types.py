"""The records of the commands other than a backup: a restore's result, a check's report, what thinning did,
a snapshot's summary, the key slots, find's and diff's answers. Kept apart from core/types.py, which hands each
out on first use, so that a backup does not create them: a frozen dataclass costs most of a millisecond to make
at import (bench/README.md, "Start-up, second pass")."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from timekeep.core.types import CHANGE_KINDS, ChangeKind, FileError, Kind, Lost, SnapshotInfo, iso_utc


@dataclass(frozen=True)
class RestoreResult:
    written: tuple[bytes, ...] = ()
    kept_beside: tuple[tuple[bytes, bytes], ...] = ()
    unchanged: int = 0
    errors: tuple[FileError, ...] = ()
    already_beside: tuple[tuple[bytes, bytes], ...] = ()  # (differing file, the earlier restored copy beside it)
    metadata_kept: int = 0  # of `unchanged`: left with other permissions, owner, attributes or times (no overwrite)
    warnings: tuple[str, ...] = ()  # what may not be as it was (a lost snapshot came before): the exit is not 0


@dataclass(frozen=True)
class CheckReport:
    packs: int
    chunks: int
    snapshots: int
    chunks_read: int
    problems: tuple[str, ...] = field(default_factory=tuple)
    notes: tuple[str, ...] = field(default_factory=tuple)
    lost: tuple[Lost, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.lost


@dataclass(frozen=True)
class SnapshotSummary:
    """What one snapshot changed, for the timeline's tooltip: counts, bytes and the busiest folders."""

    snapshot_id: int
    files_changed: int
    files_deleted: int
    bytes_new: int
    top_folders: tuple[tuple[bytes, int], ...]  # (folder path, changed entries under it), busiest first


@dataclass(frozen=True)
class CoalesceReport:
    """What one run of the coalescer did: what it dropped and folded, and the space it gave back."""

    snapshots_dropped: tuple[int, ...] = ()
    snapshots_kept_for_last_copy: tuple[int, ...] = ()
    versions_folded: int = 0
    versions_moved: int = 0
    extent_rows_saved: int = 0  # net index rows the folds saved (adjacent parts of one chunk merge)
    chunks_reclaimed: int = 0
    packs_rewritten: int = 0
    packs_deleted: int = 0
    bytes_freed: int = 0
    problems: tuple[str, ...] = ()
    duration_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class KeySlotInfo:
    """One wrapped copy of an encrypted repository's key: what opens it ("passphrase" or "recovery") and when
    it was made (ISO UTC). Removing slots never loses data, only ways in."""

    slot_id: str
    kind: str
    created: str


@dataclass(frozen=True)
class PassphraseChange:
    """What a passphrase change did to the system keyring: `kept` when it now holds the new passphrase (a
    window that handed the old one to the agent hands the new one unless it is kept), `note` the sentence to
    say about it (None: the keyring held no passphrase for this repository)."""

    kept: bool
    note: str | None


@dataclass(frozen=True)
class Found:
    """A path whose name matched `find`: the snapshots in which it existed as ranges of snapshot ids (first,
    last), its last stored version (snapshot, time, kind, size, mtime) and, when the latest snapshot no longer
    holds it, the snapshot that found it deleted."""

    path: bytes
    kind: Kind
    size: int
    mtime_ns: int
    spans: tuple[tuple[int, int], ...]
    changed_snapshot: int
    changed_ns: int
    deleted_snapshot: int | None = None
    deleted_ns: int | None = None

    @property
    def name(self) -> bytes:
        return os.path.basename(self.path)

    @property
    def present(self) -> bool:
        """Whether the latest snapshot holds it."""
        return self.deleted_snapshot is None

    @property
    def last_seen(self) -> int:
        """The last snapshot that held it: where the timeline goes to show it."""
        return self.spans[-1][1]

    def to_json(self) -> dict[str, Any]:
        return {"path": os.fsdecode(self.path), "name": os.fsdecode(self.name), "kind": self.kind,
                "size": self.size, "mtime": iso_utc(self.mtime_ns), "present": self.present,
                "snapshots": [list(span) for span in self.spans], "last_seen": self.last_seen,
                "changed_snapshot": self.changed_snapshot, "changed": iso_utc(self.changed_ns),
                "deleted_snapshot": self.deleted_snapshot,
                "deleted": None if self.deleted_ns is None else iso_utc(self.deleted_ns)}


@dataclass(frozen=True)
class FoundPage:
    """The first `found` of a find's answer, and how many more the whole answer holds."""

    found: tuple[Found, ...]
    more: int


@dataclass(frozen=True)
class Change:
    """One path that differs between two moments: `changed` is content, `attributes` permissions, owner, times
    or extended attributes only; `renamed` the same content under a new path, moved from `origin`. A size is
    None on the side where the path did not exist."""

    path: bytes
    change: ChangeKind
    kind: Kind
    size_before: int | None
    size_after: int | None
    origin: bytes | None = None

    def to_json(self) -> dict[str, Any]:
        return {"path": os.fsdecode(self.path), "change": self.change, "kind": self.kind,
                "size_before": self.size_before, "size_after": self.size_after,
                "origin": None if self.origin is None else os.fsdecode(self.origin)}


@dataclass(frozen=True)
class Diff:
    """What changed from snapshot `before` to snapshot `after` (None: the live folders now), by path."""

    before: SnapshotInfo
    after: SnapshotInfo | None
    changes: tuple[Change, ...]

    def count(self, change: ChangeKind) -> int:
        return sum(1 for c in self.changes if c.change == change)

    def to_json(self) -> dict[str, Any]:
        return {"before": self.before.to_json(), "after": None if self.after is None else self.after.to_json(),
                "summary": {kind: self.count(kind) for kind in CHANGE_KINDS},
                "changes": [c.to_json() for c in self.changes]}
