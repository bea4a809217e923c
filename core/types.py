"""Plain frozen records the engine hands out; callers never see peewee rows.

Paths are bytes (os.fsencode) so names that are not UTF-8 survive every layer; times are UTC nanoseconds.
"""

from __future__ import annotations

import os
import stat
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

if TYPE_CHECKING:  # handed out on first use (below): the records of commands a backup never runs
    from timekeep.core.report_types import (
        Change,
        CheckReport,
        CoalesceReport,
        Diff,
        Found,
        FoundPage,
        KeySlotInfo,
        PassphraseChange,
        RestoreResult,
        SnapshotSummary,
    )

__all__ = [
    "CHANGE_KINDS", "SKIPPED", "Change", "ChangeKind", "CheckReport", "CoalesceReport", "Diff", "Entry", "FileError",
    "FolderInfo", "Found", "FoundPage", "Gone", "KeySlotInfo", "Kind", "Located", "Lost", "PassphraseChange", "Piece",
    "Plan", "Progress", "RestoreResult", "Retention", "SnapshotInfo", "SnapshotSummary", "State", "VersionInfo",
    "iso_utc", "kind_of", "ns_to_datetime",
]

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
class Lost:
    """Something the drive lost: a whole snapshot (`path` None), or what one file was at these snapshots."""

    snapshots: tuple[int, ...]
    path: bytes | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        path = os.fsdecode(self.path) if self.path is not None else None
        return {"snapshots": list(self.snapshots), "path": path, "reason": self.reason}



@dataclass(frozen=True)
class Retention:
    """How the coalescer thins history: every snapshot of the last `keep_all_hours`, then the
    last one of each day for `daily_days`, then the last one of each week for `weekly_weeks` (0: for ever).
    The newest snapshot is always kept."""

    keep_all_hours: int = 24
    daily_days: int = 30
    weekly_weeks: int = 0








ChangeKind = Literal["added", "changed", "attributes", "deleted", "renamed"]
CHANGE_KINDS: tuple[ChangeKind, ...] = ("added", "changed", "attributes", "deleted", "renamed")


_ON_FIRST_USE = frozenset(("Change", "CheckReport", "CoalesceReport", "Diff", "Found", "FoundPage", "KeySlotInfo",
                           "PassphraseChange", "RestoreResult", "SnapshotSummary"))


def __getattr__(name: str) -> object:
    """The records of core/report_types.py, made when first asked for (`from timekeep.core.types import Diff`)."""
    if name not in _ON_FIRST_USE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from timekeep.core import report_types

    return getattr(report_types, name)
