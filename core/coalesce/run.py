"""One run of the coalescer: choose what to drop, fold it in the index, follow on the drive, reclaim.

Its cost grows with the history it drops: the fold touches only the dropped snapshots' versions, and
reclaim reads only packs that lost most of their chunks.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from peewee import SqliteDatabase

from timekeep.core.coalesce import manifests
from timekeep.core.coalesce.fold import FoldStats, fold_snapshot, next_kept, spare_last_copies
from timekeep.core.coalesce.reclaim import durable, reclaim
from timekeep.core.coalesce.retention import HOUR_NS, kept
from timekeep.core.errors import BackupCancelled
from timekeep.core.index import chain, seal
from timekeep.core.index.chain import reseal_file
from timekeep.core.storage.layout import Layout
from timekeep.core.types import CoalesceReport, Progress, Retention


@dataclass(frozen=True)
class Thinning:
    """Which snapshots a run drops and which it keeps only because they hold a file's last copy."""

    dropped: list[int]
    spared: list[int]


def _snapshots(db: SqliteDatabase) -> list[tuple[int, int]]:
    return [(int(i), int(t)) for i, t in db.execute_sql(
        "SELECT id, time_ns FROM snapshot WHERE state = 'complete' ORDER BY id")]


def plan_thinning(db: SqliteDatabase, rule: Retention, now_ns: int, drop: Collection[int] | None = None
                  ) -> Thinning:
    """What a run would drop: what `rule` does not keep at `now_ns`, or exactly `drop`; either way a
    snapshot holding a file's only copy is spared."""
    snaps = _snapshots(db)
    ids = [sid for sid, _ in snaps]
    if drop is None:
        keep = kept(snaps, rule, now_ns)
        drop = [sid for sid in ids if sid not in keep]
    dropped, spared = spare_last_copies(db, ids, drop)
    return Thinning(dropped, spared)


def fold(db: SqliteDatabase, layout: Layout, drop: Collection[int], cancel: threading.Event | None = None
         ) -> FoldStats:
    """Fold `drop` into their kept successors in one durable transaction (finishing removes manifests),
    then bring the manifests along."""
    stats = FoldStats()
    if not drop:
        return stats
    ids = [sid for sid, _ in _snapshots(db)]
    kept_ids = sorted(set(ids) - set(drop))
    targets = {sid: next_kept(kept_ids, sid) for sid in drop}
    touched = checked_files(db, drop)
    for target in {t for t in targets.values() if t is not None}:
        manifests.check_rows(db, target)  # their next manifests are written from these rows after the commit
    manifests.mark(layout, [t for t in targets.values() if t is not None], drop)
    with durable(db):
        for sid in sorted(drop):
            if cancel is not None and cancel.is_set():
                raise BackupCancelled("thinning cancelled; nothing was changed")
            into = targets[sid]
            assert into is not None, "the newest snapshot is never dropped"
            absorb(db, sid, into)
            fold_snapshot(db, sid, into, stats)
        for fid in touched:
            reseal_file(db, fid)
    manifests.finish(db, layout)
    return stats


def checked_files(db: SqliteDatabase, drop: Collection[int]) -> list[int]:
    """The files whose versions a fold moves or merges, after checking that their rows are as written: the
    fold seals them again, and must never seal what a damaged index made of them."""
    marks = ",".join("?" * len(drop))
    rows = list(db.execute_sql(
        f"SELECT DISTINCT v.file_id FROM version v WHERE v.snapshot_id IN ({marks})", list(drop)))
    for (fid,) in rows:
        # by the row, not its path: a damaged path must fail its seal, not be resealed
        path, versions = chain.history_of(db, fid)
        for link in versions:  # and their extents, whose hash the new seals would otherwise take from the rows
            if seal.extents_hash(chain.extents_of(db, link.id)) != link.xhash:
                raise chain.damaged(path, f"the pieces of its version at snapshot {link.snapshot_id}")
    return [int(fid) for (fid,) in rows]


def absorb(db: SqliteDatabase, sid: int, into: int) -> None:
    """`into` takes in `sid` (and whatever `sid` had taken in): its manifest's next generation says so, which
    tells a rebuild that a version whose `prev` names `sid` comes after `into`'s."""
    rows = dict(db.execute_sql("SELECT id, absorbed FROM snapshot WHERE id IN (?, ?)", (sid, into)))
    taken = set(json.loads(rows[into] or "[]")) | set(json.loads(rows[sid] or "[]")) | {sid}
    db.execute_sql("UPDATE snapshot SET absorbed = ?, gen = gen + 1 WHERE id = ?", (json.dumps(sorted(taken)), into))


def coalesce(db: SqliteDatabase, layout: Layout, level: int, rule: Retention, *, now_ns: int | None = None,
             drop: Collection[int] | None = None, progress: Callable[[Progress], None] | None = None,
             cancel: threading.Event | None = None) -> CoalesceReport:
    """Thin history by `rule` (or drop exactly `drop`, still sparing last copies) and reclaim the space."""
    started = time.monotonic()
    plan = plan_thinning(db, rule, now_ns if now_ns is not None else time.time_ns(), drop)
    if progress is not None:
        progress(Progress("coalesce", 0, len(plan.dropped), 0, 0, 0.0))
    folded = fold(db, layout, plan.dropped, cancel)
    freed = reclaim(db, layout, level, progress, cancel)
    return CoalesceReport(
        snapshots_dropped=tuple(plan.dropped), snapshots_kept_for_last_copy=tuple(plan.spared),
        versions_folded=folded.versions_folded, versions_moved=folded.versions_moved,
        extent_rows_saved=folded.extent_rows_saved, chunks_reclaimed=freed.chunks_reclaimed,
        packs_rewritten=freed.packs_rewritten, packs_deleted=freed.packs_deleted, bytes_freed=freed.bytes_freed,
        problems=tuple(freed.problems), duration_s=time.monotonic() - started)


def make_room(db: SqliteDatabase, layout: Layout, level: int, rule: Retention, need_bytes: int,
              now_ns: int | None = None) -> CoalesceReport:
    """The drive is full: thin by the rule, then drop the oldest snapshots outside the rule's keep-all
    window one by one (last copies still spared) until `need_bytes` are free or nothing more may go."""
    now = now_ns if now_ns is not None else time.time_ns()
    report = coalesce(db, layout, level, rule, now_ns=now)
    dropped, freed = list(report.snapshots_dropped), report.bytes_freed
    recent_from = now - rule.keep_all_hours * HOUR_NS
    refused: set[int] = set(report.snapshots_kept_for_last_copy)
    while shutil.disk_usage(layout.root).free < need_bytes:
        snaps = _snapshots(db)
        old = [sid for sid, t in snaps[:-1] if t < recent_from and sid not in refused]
        if not old:
            break
        step = coalesce(db, layout, level, rule, drop=[old[0]])
        refused.update(step.snapshots_kept_for_last_copy)
        dropped += step.snapshots_dropped
        freed += step.bytes_freed
    return CoalesceReport(snapshots_dropped=tuple(dropped), snapshots_kept_for_last_copy=tuple(sorted(refused)),
                          bytes_freed=freed, duration_s=report.duration_s)
