"""Bring an index kept on this computer up to the drive when other computers only added snapshots since.

Each computer sharing a drive keeps its own index (config `"index": "local"`), so one falls behind whenever
another backs up. A full rebuild reads every manifest and forgets this computer's journal of dirty paths;
when all that happened is new snapshots above every id the index knows (no thinning, no rewritten or lost
manifest, no pack gone), loading just those manifests gives the same index a rebuild would. Anything else,
or any trouble on the way, is left to the rebuild (the caller's).

A snapshot this computer left running (its writer killed) whose id another computer has since used shows on
the drive under that id: `foreign_running` tells the two apart by the snapshot's start time, which its
manifest records, so a killed backup is never completed with another computer's manifest.

The index this computer keeps also remembers how far the drive had got, which the seals cannot: an older
generation of a manifest put back under its own name, or the whole drive put back from an older copy, is sealed
as well as the newer was. `went_back` names that, so no writer builds on it and no rebuild forgets the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from peewee import SqliteDatabase

from timekeep.core.errors import CorruptData, StorageError
from timekeep.core.index.rebuild import Loader, RebuildReport
from timekeep.core.index.recovery import adopt_orphan_packs
from timekeep.core.index.survey import Drift, DriveView
from timekeep.core.storage.layout import Layout
from timekeep.core.storage.manifest import read_manifest
from timekeep.core.types import Progress


def foreign_running(db: SqliteDatabase, view: DriveView, layout: Layout) -> list[int]:
    """Snapshots the index has running whose manifest on the drive is another writer's."""
    found = []
    for sid, started in db.execute_sql("SELECT id, time_ns FROM snapshot WHERE state = 'running'").fetchall():
        gens = view.manifests.get(int(sid))
        if not gens:
            continue
        try:
            header = next(read_manifest(layout.store, gens[max(gens)], layout.sealing))
        except (CorruptData, StopIteration, StorageError):
            continue  # the rebuild a damaged manifest brings decides
        if int(header.get("time_ns", -1)) != int(started):
            found.append(int(sid))
    return found


def went_back(db: SqliteDatabase, view: DriveView, drift: Drift) -> str | None:
    """What of the drive is older than this index saw, in words; None when nothing went back. A snapshot
    the index knows at generation g went back when the drive holds only generations below g (an unfinished
    thinning's snapshots excepted: its writer writes them again). The newest snapshots the index knows went
    back when they are gone above every id left on the drive, and packs the index knows are gone too: a
    thinning never removes the newest snapshot, and a lost newest manifest alone is written again from the
    index."""
    busy = set(view.thinning["rewrite"]) | set(view.thinning["remove"]) if view.thinning else set()
    complete = {int(i): int(g) for i, g in db.execute_sql("SELECT id, gen FROM snapshot WHERE state = 'complete'")}
    for sid, gen in sorted(complete.items()):
        gens = view.manifests.get(sid)
        if gens and max(gens) < gen and sid not in busy:
            return (f"the drive holds an older copy of snapshot {sid} than this computer saw (generation "
                    f"{max(gens)}, after {gen}): was it restored from an older copy?")
    gone = sorted(sid for sid in complete if sid > view.highest_id)
    if gone and drift.missing_packs:
        one = len(gone) == 1
        named = f"snapshot {gone[0]}" if one else f"snapshots {gone[0]}-{gone[-1]}"
        return (f"{named}, which this computer saw, {'is' if one else 'are'} gone from the drive with the packs "
                f"{'it' if one else 'they'} stored: was the drive restored from an older copy?")
    return None


def only_added(db: SqliteDatabase, view: DriveView, drift: Drift) -> list[int] | None:
    """The new snapshots to load, when all the drive gained is those (each above every id the index knows,
    contiguous, first generation); None otherwise."""
    if view.thinning is not None or drift.missing_packs or drift.resized_packs or drift.missing_manifests:
        return None
    (top,) = db.execute_sql("SELECT coalesce(max(id), 0) FROM snapshot").fetchone()
    new = sorted(drift.unknown_snapshots)
    if not new or len(drift.behind) != len(new) or new != list(range(int(top) + 1, new[-1] + 1)):
        return None  # something else changed too, or an id the index knows (a lost one) came back
    if any(list(view.manifests[sid]) != [0] for sid in new):
        return None
    return new


def load_added(db: SqliteDatabase, layout: Layout, view: DriveView, new: list[int],
               progress: Callable[[Progress], None] | None) -> RebuildReport | None:
    """Load the new snapshots' manifests into the index, as a rebuild would have; None (nothing half done
    that matters: the caller rebuilds) when one of them is damaged or thinned others in."""
    report = RebuildReport()
    loader = Loader(db, layout, view, report, salvage=None)
    headers = loader.headers(new)
    if sorted(headers) != new or loader.absorbed_into:
        return None
    loader.folder_ids.update({bytes(p): int(i) for p, i in db.execute_sql("SELECT path, id FROM folder")})
    adopt_orphan_packs(db, layout)
    started = time.monotonic()
    for n, sid in enumerate(new):
        info = loader.load(sid)
        if info is None or loader.lost:
            return None
        report.latest, report.snapshots = info, report.snapshots + 1
        if progress is not None:
            progress(Progress("rebuild", n + 1, len(new), 0, 0, time.monotonic() - started))
    return None if report.problems or report.lost else report
