"""Rebuild the index beside the one in place and swap only when the new one is whole.

The new index is built as `index.db.rebuilding`; a rebuild killed at any moment leaves the old index (or
none) in place, never a partial one, and the next writer removes the leftover. A healthy old index takes
the new content through SQLite's backup API, in one transaction its other readers see as a whole (renaming
files under open connections could pair the new index with the old one's -wal). A damaged or missing one
is set aside as `index.db.damaged-<time>` and the new file renamed into place.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from peewee import DatabaseError, SqliteDatabase

from timekeep.core.index import names
from timekeep.core.index.schema import open_index
from timekeep.core.storage.atomic import fsync_dir
from timekeep.core.storage.layout import Layout, make_index_home
from timekeep.core.types import Progress

if TYPE_CHECKING:  # the rebuild loads only when one is built: every writer's start imports this module
    from timekeep.core.index.rebuild import RebuildReport

SIDES = ("", "-wal", "-shm", "-journal")


def building_path(layout: Layout) -> Path:
    return layout.index_dir / "index.db.rebuilding"


def remove_leftovers(layout: Layout) -> None:
    """A rebuild killed midway left its half-built index; it is never used."""
    for side in SIDES:
        Path(f"{building_path(layout)}{side}").unlink(missing_ok=True)


def build_beside(layout: Layout, progress: Callable[[Progress], None] | None = None,
                 salvage: SqliteDatabase | None = None) -> tuple[Path, RebuildReport]:
    """A complete new index from the drive, closed and synced, at `building_path`."""
    from timekeep.core.index.rebuild import rebuild

    make_index_home(layout)  # a computer that never held this repository's local index
    remove_leftovers(layout)
    path = building_path(layout)
    db = open_index(path, create=True)
    try:
        db.execute_sql("PRAGMA synchronous = OFF")  # a crash only costs this file, which is thrown away
        report = rebuild(db, layout, progress, salvage)
        names.catch_up(db)
        db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())
    return path, report


def put_in_place(layout: Layout, built: Path, old_healthy: bool) -> Path | None:
    """Make `built` the index. Returns where a damaged old index was set aside, if there was one."""
    live = layout.index
    if old_healthy and live.exists():
        try:
            _copy_into(built, live)
            remove_leftovers(layout)
            return None
        except (sqlite3.DatabaseError, DatabaseError):
            pass  # it was not healthy after all: set it aside below
    aside = None
    if live.exists():
        aside = live.with_name(f"index.db.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    for side in ("-wal", "-shm", "-journal", ""):  # its -wal first: it must never meet the new index
        old = Path(f"{live}{side}")
        if old.exists():
            if aside is not None:
                old.rename(f"{aside}{side}")
            else:
                old.unlink()
    built.rename(live)
    fsync_dir(layout.index_dir)
    return aside


def _copy_into(built: Path, live: Path) -> None:
    source = sqlite3.connect(built)
    try:
        target = sqlite3.connect(live, timeout=30)
        try:
            target.execute("PRAGMA synchronous = FULL")
            source.backup(target)
            with contextlib.suppress(sqlite3.DatabaseError):  # a reader holding the WAL only delays this
                target.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            target.close()
    finally:
        source.close()
