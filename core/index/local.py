"""Bring an index kept on this computer up to the drive before it is read.

A repository whose config keeps its index locally is shared by every computer that backs up to the drive,
each with its own index in its cache folder: a computer that never held it has none, and one that did falls
behind whenever another backs up. Readers must not show a history that silently lacks snapshots the drive
has, so a reader that finds the local index missing, damaged or behind first opens the repository as a
writer (the writer's checks rebuild or catch it up, with progress) and reads after. While a writer runs, or
where the drive cannot be written (the lock lives there), the reader reads what there is and says so. When
the drive went back to an older copy (see catchup.py), no writer may open it: the reader reads what this
computer's index knows, every byte still checked against its seal and digest, and says what went back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from peewee import DatabaseError

from timekeep.core.errors import DriveWentBack, IndexDamaged, IndexMissing, RepositoryLocked, StorageError
from timekeep.core.index.catchup import foreign_running, went_back
from timekeep.core.index.schema import OlderSchema, open_index
from timekeep.core.index.survey import compare, survey
from timekeep.core.storage.layout import Layout

log = logging.getLogger(__name__)


def stale(layout: Layout) -> str | None:
    """Why the local index cannot be read as it is, or None when it tells the drive's whole history."""
    try:
        db = open_index(layout.index, reader=True)
    except (IndexMissing, IndexDamaged, OlderSchema) as err:
        return str(err)
    try:
        view = survey(layout)
        drift = compare(db, view)
        foreign = foreign_running(db, view, layout)
        back = went_back(db, view, drift)
    except DatabaseError as err:
        return f"the index is damaged: {err}"
    finally:
        db.close()
    if back is not None:
        return back  # the writer refuses, saying so; the index is then read as it is
    if drift.behind:
        return f"the index is behind the drive ({drift.behind[0]})"
    if drift.missing_packs or drift.resized_packs:
        return "the drive's packs changed since this computer's index saw them"
    if foreign:
        return f"snapshot {foreign[0]} was taken by another computer"
    return None


def catch_up(layout: Layout, open_writer: Callable[[], list[str]]) -> list[str]:
    """What opening as a writer did to bring the local index up to the drive, when it had to (empty when
    it did not, or could not: a writer runs, or the drive is read-only or full)."""
    reason = stale(layout)
    if reason is None:
        return []
    log.info("%s: %s; bringing it up to the drive", layout.store.where, reason)
    try:
        return open_writer()
    except DriveWentBack as err:
        return [str(err)]
    except RepositoryLocked:
        return ["a backup is running, so this computer's index was not brought up to the drive"]
    except StorageError as err:
        return [f"this computer's index could not be brought up to the drive ({err})"]
