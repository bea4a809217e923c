"""Plain frozen records the engine hands out; callers never see peewee rows.

Paths are bytes (os.fsencode) so names that are not UTF-8 survive every layer; times are UTC nanoseconds.
"""

from __future__ import annotations

import os
import stat
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

Kind = Literal["file", "dir", "symlink"]
State = Literal["created", "modified", "metadata", "deleted"]


def kind_of(mode: int) -> Kind | None:
    """'file', 'dir' or 'symlink'; None for sockets, FIFOs and devices, which are never stored."""
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    return None


def ns_to_datetime(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


def iso_utc(ns: int) -> str:
    """ISO 8601 in UTC with a Z, to the second: the one date format scripts see."""
    return ns_to_datetime(ns).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class FolderInfo:
    id: int
    path: bytes
    excludes: tuple[str, ...]


@dataclass(frozen=True)
class SnapshotInfo:
    id: int
    time_ns: int
    trigger: str
    files_scanned: int = 0
    files_read: int = 0
    files_changed: int = 0
    bytes_read: int = 0
    bytes_new: int = 0
    errors: int = 0
    duration_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["time"] = iso_utc(self.time_ns)
        return data


@dataclass(frozen=True)
class Located:
    """Where to read a path asked for at a snapshot: that snapshot while the path existed there; else, when it
    had been deleted, the snapshot just before its deletion (`deleted_in`), which still holds its last version."""

    snapshot: SnapshotInfo
    deleted_in: SnapshotInfo | None = None


SKIPPED = "skipped"  # the FileError kind of sockets, FIFOs and devices: passed over by design, not failures


@dataclass(frozen=True)
class FileError:
    path: bytes
    kind: str
    message: str

    @property
    def failed(self) -> bool:
        """Whether it left the snapshot incomplete (a special file skipped by design did not)."""
        return self.kind != SKIPPED

    def to_json(self) -> dict[str, Any]:
        return {"path": os.fsdecode(self.path), "kind": self.kind, "message": self.message}


class Entry(NamedTuple):
    """One item of a folder as it stood at a snapshot. A named tuple, not a frozen dataclass: a listing makes
    one per entry, and a frozen dataclass costs about ten times as much to make (bench/README.md, "A folder
    of 10,000 entries")."""

    path: bytes
    kind: Kind
    size: int
    mode: int
    mtime_ns: int
    snapshot_id: int
    changed: bool
    link_target: bytes | None = None
    state: State = "created"  # of the version in force: new, changed content, or metadata only

    @property
    def name(self) -> bytes:
        return os.path.basename(self.path)


@dataclass(frozen=True)
class Gone:
    """An item gone from its folder: as it was last stored (`entry`, taken at `stored_ns`), and the snapshot
    that found it deleted."""

    entry: Entry
    stored_ns: int
    deleted_snapshot: int
    deleted_ns: int


@dataclass(frozen=True)
class VersionInfo:
    snapshot_id: int
    time_ns: int
    state: State
    kind: Kind
    size: int
    mode: int
    mtime_ns: int
    content_id: bytes | None
    link_target: bytes | None = None
    origin: bytes | None = None  # the path it was renamed from, when it arrived by a rename a watcher saw


@dataclass(frozen=True)
class Piece:
    """`length` bytes at `offset` of the version come from `chunk_offset` of chunk `digest`."""

    offset: int
    length: int
    digest: bytes
    chunk_offset: int = 0


@dataclass(frozen=True)
class Plan:
    """Everything needed to rebuild one version: metadata plus the pieces that cover it. Whoever holds the chunks
    can combine it (the agent sends plans and chunks to another process: docs/ARCHITECTURE.md)."""

    path: bytes
    snapshot_id: int
    kind: Kind
    size: int
    mode: int
    mtime_ns: int
    link_target: bytes | None
    pieces: tuple[Piece, ...]
    digest: bytes | None = None  # BLAKE3-256 of the whole version, checked as it is built (None: not recorded)
    uid: int | None = None
    gid: int | None = None
    xattrs: tuple[tuple[bytes, bytes], ...] = ()  # extended attributes (POSIX ACLs among them), sorted by name
    # why this may not be how the file was at the snapshot asked for: a snapshot in between is lost (its
    # manifest and the index both gone) and nothing shows whether the file changed there
    doubt: str | None = None


@dataclass(frozen=True)
class Progress:
    phase: Literal["scan", "store", "commit", "restore", "check", "coalesce", "rebuild", "encrypt", "place"]
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    elapsed_s: float
    current: bytes | None = None


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
class Lost:
    """Something the drive lost: a whole snapshot (`path` None), or what one file was at these snapshots."""

    snapshots: tuple[int, ...]
    path: bytes | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        path = os.fsdecode(self.path) if self.path is not None else None
        return {"snapshots": list(self.snapshots), "path": path, "reason": self.reason}


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
class Retention:
    """How the coalescer thins history: every snapshot of the last `keep_all_hours`, then the
    last one of each day for `daily_days`, then the last one of each week for `weekly_weeks` (0: for ever).
    The newest snapshot is always kept."""

    keep_all_hours: int = 24
    daily_days: int = 30
    weekly_weeks: int = 0


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


ChangeKind = Literal["added", "changed", "attributes", "deleted", "renamed"]
CHANGE_KINDS: tuple[ChangeKind, ...] = ("added", "changed", "attributes", "deleted", "renamed")


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
