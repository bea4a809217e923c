"""The index: schema version and migrations, and the timeline's two queries."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from peewee import IntegerField, SqliteDatabase
from playhouse.migrate import SqliteMigrator, migrate

from tests.helpers import backup, make_tree, new_repo
from timekeep.core.api import Timekeep
from timekeep.core.errors import FormatTooNew
from timekeep.core.index.batches import SQL_BATCH
from timekeep.core.index.schema import SCHEMA_VERSION, open_index, schema_version, upgrade


def test_new_index_has_current_schema(tmp_path: Path) -> None:
    db = open_index(tmp_path / "index.db", create=True)
    assert schema_version(db) == SCHEMA_VERSION
    assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_migrations_run_in_order_and_are_recorded(tmp_path: Path) -> None:
    db = open_index(tmp_path / "index.db", create=True)
    ran: list[int] = []

    def add_column(db: SqliteDatabase, migrator: SqliteMigrator) -> None:
        ran.append(schema_version(db))
        migrate(migrator.add_column("folder", "priority", IntegerField(default=0)))

    def noop(db: SqliteDatabase, migrator: SqliteMigrator) -> None:
        ran.append(schema_version(db))

    steps = {SCHEMA_VERSION: add_column, SCHEMA_VERSION + 1: noop}
    assert upgrade(db, steps, target=SCHEMA_VERSION + 2) == SCHEMA_VERSION + 2
    assert ran == [SCHEMA_VERSION, SCHEMA_VERSION + 1]
    assert "priority" in [c.name for c in db.get_columns("folder")]
    assert schema_version(db) == SCHEMA_VERSION + 2


def test_schema_2_index_gains_skip_and_origins(tmp_path: Path) -> None:
    """An index written before coalescing and watched moves opens, and old extents start at their chunk."""
    db = open_index(tmp_path / "index.db", create=True)
    db.execute_sql("INSERT INTO folder (path, excludes, active) VALUES (x'2f61', '[]', 1)")
    db.execute_sql("INSERT INTO pack (name, size) VALUES ('p', 1)")
    db.execute_sql("INSERT INTO chunk (digest, pack_id, offset, length, inner, raw_length) "
                   "VALUES (x'01', 1, 0, 1, 0, 1)")
    db.execute_sql("INSERT INTO file (folder_id, parent_id, path) VALUES (1, NULL, x'2f61')")
    db.execute_sql("INSERT INTO snapshot (time_ns, trigger, state, files_scanned, files_read, files_changed, "
                   "bytes_read, bytes_new, errors, duration_s) VALUES (1, 'manual', 'complete', 0, 0, 0, 0, 0, 0, 0)")
    db.execute_sql("INSERT INTO version (file_id, snapshot_id, state, kind, size, mode, mtime_ns, inode, ctime_ns, "
                   "full, depth, chain_rows, racy) VALUES (1, 1, 'created', 'file', 1, 0, 0, 0, 0, 1, 0, 1, 0)")
    for table, column in (("extent", "skip"), ("version", "origin"), ("journal", "origin")):
        db.execute_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
    db.execute_sql("INSERT INTO extent (version_id, offset, length, chunk_id) VALUES (1, 0, 1, 1)")
    db.execute_sql("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    db.close()
    db = open_index(tmp_path / "index.db", create=True)
    assert schema_version(db) == SCHEMA_VERSION == 13
    assert db.execute_sql("SELECT skip FROM extent").fetchall() == [(0,)]
    assert db.execute_sql("SELECT origin FROM version").fetchall() == [(None,)]
    assert "origin" in [c.name for c in db.get_columns("journal")]


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    db = open_index(tmp_path / "index.db", create=True)
    db.execute_sql("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 5),))
    db.close()
    with pytest.raises(FormatTooNew):
        open_index(tmp_path / "index.db", create=True)


def test_children_query_uses_the_index(tmp_path: Path) -> None:
    db = open_index(tmp_path / "index.db", create=True)
    plan = " ".join(str(row) for row in db.execute_sql(
        "EXPLAIN QUERY PLAN SELECT f.path, v.kind FROM file f JOIN version v ON v.id = "
        "(SELECT v2.id FROM version v2 WHERE v2.file_id = f.id AND v2.snapshot_id <= 5 "
        "ORDER BY v2.snapshot_id DESC LIMIT 1) WHERE f.parent_id = 3"))
    assert "file_parent_id" in plan and "version_file_id_snapshot_id" in plan
    assert "SCAN" not in plan.replace("SCAN CONSTANT", "")


def test_listing_a_big_folder_at_an_old_snapshot(tmp_path: Path) -> None:
    """Every entry of a folder of a few batches of checked rows (batches.SQL_BATCH), as it stood before a third of it
    changed, and after: the later listing reads the changed rows by id, more than a batch of them. How long a
    10k-entry folder takes is bench/listing.py's to measure."""
    files = 4 * SQL_BATCH
    make_tree(tmp_path / "src", {"many": {f"f{n:05d}": b"%d" % n for n in range(files)}})
    repo = new_repo(tmp_path, tmp_path / "src")
    first = backup(repo)
    for n in range(0, files, 3):
        (tmp_path / "src" / "many" / f"f{n:05d}").write_bytes(b"changed")
    second = backup(repo)
    with Timekeep.open(repo) as tk:
        many = os.fsencode(tmp_path / "src" / "many")
        entries = tk.list_dir(many, first)
        later = tk.list_dir(many, second)
    assert len(entries) == len(later) == files and all(e.size == len(b"%d" % int(e.name[1:])) for e in entries)
    assert [e.name for e in later if e.size == len(b"changed")] == [e.name for e in entries if int(e.name[1:]) % 3 == 0]
