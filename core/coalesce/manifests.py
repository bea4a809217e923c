"""Keep the drive's manifests in step with a coalesced index, even across a crash.

The fold changes the index in one transaction; the manifests (what rebuild-index reads) follow it.
Before the transaction a marker names the kept snapshots to rewrite and the dropped ones to remove;
finishing reads the index, so running it twice, or after a crash at any point, gives the same drive.
Chunks are reclaimed only after the marker is gone: no manifest may name a chunk that is no more.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from peewee import SqliteDatabase

from core.index.writer import manifest_records
from core.storage.atomic import atomic_write, fsync_dir
from core.storage.layout import Layout
from core.storage.manifest import read_manifest, write_manifest


def mark(layout: Layout, rewrite: Iterable[int], remove: Iterable[int]) -> None:
    todo = {"rewrite": sorted(set(rewrite)), "remove": sorted(set(remove))}
    atomic_write(layout.coalescing, json.dumps(todo).encode())


def finish(db: SqliteDatabase, layout: Layout) -> None:
    """Rewrite the marked manifests from the index, remove those of snapshots it no longer has, unmark."""
    if not layout.coalescing.exists():
        return
    todo = json.loads(layout.coalescing.read_bytes())
    present = {row[0] for row in db.execute_sql("SELECT id FROM snapshot WHERE state = 'complete'")}
    for sid in todo["rewrite"]:
        if sid in present:
            _rewrite(db, layout, sid)
    for sid in todo["remove"]:
        if sid not in present:
            layout.manifest_path(sid).unlink(missing_ok=True)
    fsync_dir(layout.manifests)
    layout.coalescing.unlink()


def _rewrite(db: SqliteDatabase, layout: Layout, sid: int) -> None:
    header = next(read_manifest(layout.manifest_path(sid)))
    kept = {k: v for k, v in header.items() if k not in ("type", "format")}
    write_manifest(layout, sid, kept, manifest_records(db, sid))
