"""Getting things back through an open repository: a version's checked plan, verified chunks, a version
written out (checked against its whole-file digest), and restores of files and folders."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO

from timekeep.core.errors import CorruptData, UsageError
from timekeep.core.index import queries
from timekeep.core.repository import Repository
from timekeep.core.restore.combine import write_version as combine
from timekeep.core.types import Plan, Progress

if TYPE_CHECKING:
    from timekeep.core.types import RestoreResult

KIND_WORDS = {"dir": "folder", "symlink": "symbolic link"}  # what a stored kind is called in a sentence


def plan(repo: Repository, path: bytes, snapshot_id: int) -> Plan:
    """The checked plan; stored values of a type they can never have are one line too (CorruptData)."""
    from timekeep.core.restore.restore import checked_plan

    return checked_plan(repo.db, path, snapshot_id)


def read_chunk(repo: Repository, digest: bytes) -> bytes:
    """One stored chunk's verified contents: with `plan`, enough for another process to build a version."""
    return repo.source.chunk(digest)


def write_version(repo: Repository, version: Plan, out: BinaryIO) -> None:
    """Stream the version into `out`, checked as it goes; CorruptData names the file and the snapshot."""
    if version.kind != "file":
        raise UsageError(f"{os.fsdecode(version.path)} is a {KIND_WORDS.get(version.kind, version.kind)}, not a file; "
                         "`timekeep ls` lists a folder and `timekeep restore` brings either back")
    try:
        combine(repo.source, version, out)
    except CorruptData as err:
        name = os.fsdecode(version.path)
        said = str(err)
        raise CorruptData(said if name in said else f"{name} as it was at snapshot {version.snapshot_id} cannot "
                          f"be read back whole: {said}") from None


def restore(repo: Repository, path: bytes, snapshot_id: int, dest: bytes | None = None, overwrite: bool = False,
            progress: Callable[[Progress], None] | None = None, apart: bool = False,
            secret: str | None = None) -> RestoreResult:
    """`apart`: a caller that runs threads (the window) has a big folder restored by a `timekeep restore` of its
    own, which shares it over processes (core/restore/apart.py; `secret`, the passphrase it unlocks with)."""
    from timekeep.core.restore import shares  # loaded when something is restored: commands start quicker
    from timekeep.core.restore.restore import Restorer

    snap = queries.snapshot(repo.db, snapshot_id)
    if snap is None:
        raise UsageError(f"there is no snapshot {snapshot_id}")
    started, done = time.monotonic(), [0]

    def on_bytes(n: int) -> None:
        done[0] += n
        if progress is not None:
            progress(Progress("restore", 0, 0, done[0], 0, time.monotonic() - started, path))

    count = shares.share_count(repo, path)
    if count > 1:  # a big folder, in several processes (core/restore/shares.py)
        return shares.restore(repo, snap, path, dest, overwrite, on_bytes, count)
    if apart and not shares.alone() and shares.big_folder(repo, path):
        from timekeep.core.restore import apart as by_command

        result = by_command.restore(repo.root, path, snapshot_id, dest, overwrite, secret, progress)
        if result is not None:
            return result
    return Restorer(repo.db, repo.source, snap, overwrite, on_bytes).restore(path, dest)
