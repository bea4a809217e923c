"""Thinning history through an open repository: which snapshots the retention rule (or a person's list)
would drop, and dropping them, folding what the kept snapshots need into them and giving the space back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection

from timekeep.core.errors import UsageError
from timekeep.core.index import queries
from timekeep.core.repository import Repository
from timekeep.core.storage.failures import drive_errors
from timekeep.core.types import CoalesceReport, Progress


def plan(repo: Repository, now_ns: int | None = None, drop: Collection[int] | None = None
         ) -> tuple[list[int], list[int]]:
    """(snapshots `coalesce` would drop now — by the retention rule, or of `drop` — and those it keeps
    because they hold a file's last copy), changing nothing; `drop` is refused as `coalesce` refuses it."""
    if drop is not None:
        _check_drop(repo, drop)
    from timekeep.core.coalesce import run as thinning  # loaded when thinning is asked for: commands start quicker

    found = thinning.plan_thinning(repo.db, repo.config.retention, now_ns or time.time_ns(), drop)
    return found.dropped, found.spared


def coalesce(repo: Repository, progress: Callable[[Progress], None] | None = None,
             cancel: threading.Event | None = None, now_ns: int | None = None,
             drop: Collection[int] | None = None) -> CoalesceReport:
    """Thin history by the retention rule (or drop the snapshots `drop`), folding what the kept snapshots need
    into them, and give the unused space back. Never drops the newest snapshot or a file's only copy."""
    repo.need_writer()
    if drop is not None:
        _check_drop(repo, drop)
    from timekeep.core.coalesce import run as thinning

    with drive_errors(repo.root):
        report = thinning.coalesce(repo.db, repo.layout, repo.config.compression_level, repo.config.retention,
                                   now_ns=now_ns, drop=drop, progress=progress, cancel=cancel)
    repo.reader.close()  # rewritten packs are gone from the drive
    return report


def _check_drop(repo: Repository, drop: Collection[int]) -> None:
    ids = [s.id for s in queries.snapshots(repo.db)]
    unknown = sorted(set(drop) - set(ids))
    if unknown:
        raise UsageError(f"there is no snapshot {unknown[0]}; `timekeep snapshots` lists them")
    if ids and ids[-1] in drop:
        raise UsageError("the newest snapshot is never thinned; take another backup first")
