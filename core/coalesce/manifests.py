"""Keep the drive's manifests in step with a coalesced index, even across a crash.

The fold changes the index in one transaction, giving each kept snapshot that took in a dropped one the next
manifest generation; the manifests (what rebuild-index reads) follow it. Before the transaction a marker
names the kept snapshots to write again and the dropped ones to remove; finishing reads the index, so running
it twice, or after a crash at any point, gives the same drive. A generation is written under a new name and
the older ones removed only after, so the drive holds a whole manifest of every snapshot at every moment.
Chunks are reclaimed only after the marker is gone: no manifest may name a chunk that is no more.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from typing import Any

from peewee import SqliteDatabase

from timekeep.core.errors import CorruptData, ObjectMissing
from timekeep.core.index.writer import manifest_records, salvage_header
from timekeep.core.storage.layout import COALESCING_NAME, Layout
from timekeep.core.storage.manifest import manifest_files, read_manifest, write_manifest


def mark(layout: Layout, rewrite: Iterable[int], remove: Iterable[int]) -> None:
    todo = {"rewrite": sorted(set(rewrite)), "remove": sorted(set(remove))}
    layout.store.write(COALESCING_NAME, json.dumps(todo).encode(), replace=True)


def finish(db: SqliteDatabase, layout: Layout) -> None:
    """Write the marked manifests' new generations from the index, remove the older generations and the
    manifests of snapshots the index no longer has, unmark."""
    try:
        todo = json.loads(layout.store.read(COALESCING_NAME))
        rewrite, remove = [int(i) for i in todo["rewrite"]], [int(i) for i in todo["remove"]]
    except ObjectMissing:
        return
    except (ValueError, KeyError, TypeError):
        rewrite, remove = [], []  # a damaged marker: the index and the drive agree on everything but leftovers
    gens = {int(i): int(g) for i, g in db.execute_sql("SELECT id, gen FROM snapshot WHERE state = 'complete'")}
    files = manifest_files(layout)
    for sid in rewrite:
        if sid in gens:
            _write_generation(db, layout, sid, gens[sid], files.get(sid, {}))
    files = manifest_files(layout)
    for sid, found in files.items():
        for gen, name in found.items():
            if (sid in remove and sid not in gens) or (sid in gens and gen < gens[sid] and sid in rewrite):
                layout.store.delete(name)
    unmark(layout)


def unmark(layout: Layout) -> None:
    """The thinning's manifests are all as the index says: the marker goes."""
    layout.store.delete(COALESCING_NAME)


def check_rows(db: SqliteDatabase, sid: int) -> None:
    """CorruptData unless every row a new manifest of `sid` would take in is as written: checked before a
    thinning commits, so a damaged index refuses it instead of leaving it half done."""
    for _ in manifest_records(db, sid):
        pass


def _write_generation(db: SqliteDatabase, layout: Layout, sid: int, gen: int, found: dict[int, Any]) -> None:
    if gen in found:
        return  # written before a crash: from the same committed index, so the same
    header = _header(db, layout, sid, found)
    write_manifest(layout, sid, header, manifest_records(db, sid), gen)


def _header(db: SqliteDatabase, layout: Layout, sid: int, found: dict[int, Any]) -> dict[str, Any]:
    """The snapshot's header as its manifest had it (the folders protected then), with what it absorbed now."""
    fresh = salvage_header(db, sid)
    for gen in sorted(found, reverse=True):
        with contextlib.suppress(CorruptData, StopIteration):
            old = next(read_manifest(layout.store, found[gen], layout.sealing))
            kept = {k: v for k, v in old.items() if k not in ("type", "format", "gen")}
            return {**kept, "absorbed": fresh["absorbed"]}
    return fresh
