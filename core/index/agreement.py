"""Does the index say what the drive's manifests say? Each snapshot's manifest, read whole (its checksums
checked), against the index's rows for that snapshot, record by record in the order both keep."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any

from peewee import SqliteDatabase

from timekeep.core.crypto.sealing import Sealing
from timekeep.core.errors import CorruptData
from timekeep.core.index.writer import manifest_records
from timekeep.core.storage.backend import Backend
from timekeep.core.storage.manifest import read_manifest

COMPARED = ("path", "state", "kind", "size", "mode", "mtime_ns", "full", "digest", "link_target", "extents")


def _versions(records: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    return (r for r in records if r.get("type") == "version")


def disagreement(db: SqliteDatabase, snapshot_id: int, store: Backend, manifest: str,
                 sealing: Sealing | None = None) -> str | None:
    """None when the manifest and the index agree about the snapshot; else what differs, in one line."""
    try:
        on_drive = read_manifest(store, manifest, sealing)
        next(on_drive)
        pairs = itertools.zip_longest(_versions(on_drive), _versions(manifest_records(db, snapshot_id)))
        for written, indexed in pairs:
            if written is None or indexed is None:
                return f"the manifest of snapshot {snapshot_id} and the index hold different numbers of versions"
            differs = [k for k in COMPARED if written.get(k) != indexed.get(k)]
            if differs:
                return (f"the manifest of snapshot {snapshot_id} and the index disagree about "
                        f"{os.fsdecode(os.fsencode(str(written.get('path'))))} ({', '.join(differs)})")
    except CorruptData as err:
        return str(err)
    except StopIteration:
        return f"manifest {manifest.rpartition('/')[2]} is empty"
    return None
