"""An index as an older Timekeep left it: a copy of today's taken back, step by step, to an older schema.

Each step undoes one migration of core/index/schema.py exactly (what it added is dropped, what it dropped is
made again), so the file is the one that release would have written for the same history.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path


def _undo_live(conn: sqlite3.Connection) -> None:
    """6 -> 5: no `live` flag, its indexes and triggers; the index on the parent alone, as before."""
    for (trigger,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'file_live%'"):
        conn.execute(f"DROP TRIGGER {trigger}")
    conn.execute("DROP INDEX file_parent_id_live")
    conn.execute("DROP INDEX file_dead_parent_id_head")
    conn.execute("ALTER TABLE file DROP COLUMN live")
    conn.execute("CREATE INDEX file_parent_id ON file (parent_id)")


def _undo_live_sets(conn: sqlite3.Connection) -> None:
    """7 -> 6: no live sets; the triggers keep the flags alone, as schema 6's did."""
    flag = ("UPDATE file SET live = EXISTS (SELECT 1 FROM version v WHERE v.file_id = file.id AND v.snapshot_id = "
            "file.head AND v.state != 'deleted') WHERE id = {};")
    conn.execute("DROP TABLE live_set")
    conn.execute("DROP TRIGGER file_live_version_changed")
    conn.execute("DROP TRIGGER file_live_version_removed")
    conn.execute("CREATE TRIGGER file_live_version_changed AFTER UPDATE OF file_id, snapshot_id, state ON version "
                 f"BEGIN {flag.format('NEW.file_id')} {flag.format('OLD.file_id')} END")
    conn.execute(f"CREATE TRIGGER file_live_version_removed AFTER DELETE ON version BEGIN {flag.format('OLD.file_id')} "
                 "END")


def _undo_sealed_rows(conn: sqlite3.Connection) -> None:
    """8 -> 7: no token of the sealed rows' state, and none of the triggers that draw it."""
    triggers = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'sealed_rows%'"
    for (trigger,) in conn.execute(triggers).fetchall():
        conn.execute(f"DROP TRIGGER {trigger}")
    conn.execute("DELETE FROM meta WHERE key = 'sealed_rows'")


def _undo_shown(conn: sqlite3.Connection) -> None:
    """9 -> 8: no record of what a listing shows, and no seal of it."""
    conn.execute("ALTER TABLE version DROP COLUMN shown_seal")
    conn.execute("ALTER TABLE version DROP COLUMN shown")


def _undo_scan(conn: sqlite3.Connection) -> None:
    """10 -> 9: no record of what a scan compares, and no seal of it."""
    conn.execute("ALTER TABLE version DROP COLUMN scan_seal")
    conn.execute("ALTER TABLE version DROP COLUMN scan")


def _undo_folder_digests(conn: sqlite3.Connection) -> None:
    """11 -> 10: no folder digests."""
    conn.execute("DROP TABLE folder_digest")


def _undo_racy_index(conn: sqlite3.Connection) -> None:
    """12 -> 11: no index of the racy versions."""
    conn.execute("DROP INDEX version_racy")


def _undo_head_version(conn: sqlite3.Connection) -> None:
    """13 -> 12: no file row names its head's version."""
    conn.execute("ALTER TABLE file DROP COLUMN head_version")


# UNDO[n] takes a schema at version n back to n - 1
UNDO: dict[int, Callable[[sqlite3.Connection], None]] = {6: _undo_live, 7: _undo_live_sets, 8: _undo_sealed_rows,
                                                         9: _undo_shown, 10: _undo_scan,
                                                         11: _undo_folder_digests, 12: _undo_racy_index,
                                                         13: _undo_head_version}


def downgrade(index: Path, to: int) -> None:
    """Take the (closed) index file back to schema `to`, its log folded in, so it is one self-contained file."""
    with contextlib.closing(sqlite3.connect(index, isolation_level=None)) as conn:
        (current,) = conn.execute("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'schema_version'").fetchone()
        conn.execute("BEGIN")
        for version in range(current, to, -1):
            UNDO[version](conn)
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(to),))
        conn.execute("COMMIT")
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
