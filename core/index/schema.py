"""Open the index, create it, and bring an older schema up to date with stored migrations.

The schema version lives in the `meta` table. Each migration moves the schema from version N to N+1
(playhouse.migrate operations), so an index written by any earlier release opens in this one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from peewee import SqliteDatabase
from playhouse.migrate import SqliteMigrator, migrate

from core.errors import FormatTooNew
from core.index.models import MODELS, Extent, Journal, Meta, Version

SCHEMA_VERSION = 3
Migration = Callable[[SqliteDatabase, SqliteMigrator], None]


def _add_journal(db: SqliteDatabase, migrator: SqliteMigrator) -> None:
    """1 -> 2: the watcher's journal of dirty paths, kept in the index so it survives restarts."""
    with db.bind_ctx([Journal]):
        db.create_tables([Journal])


def _add_skip_and_origins(db: SqliteDatabase, migrator: SqliteMigrator) -> None:
    """2 -> 3: extents may start inside their chunk (coalesced versions keep only the bytes still seen), and
    versions and journal rows remember where a watched move came from. A journal made by the 1 -> 2 step
    already has today's columns, so only missing ones are added."""
    wanted = (("extent", "skip", Extent.skip), ("version", "origin", Version.origin),
              ("journal", "origin", Journal.origin))
    migrate(*(migrator.add_column(table, name, field) for table, name, field in wanted
              if name not in {c.name for c in db.get_columns(table)}))


# MIGRATIONS[n] upgrades a schema at version n to n + 1.
MIGRATIONS: dict[int, Migration] = {1: _add_journal, 2: _add_skip_and_origins}

PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "normal",
    "foreign_keys": 1,
    "cache_size": -8 * 1024,  # KiB per connection; each reader thread has one
    "busy_timeout": 30_000,
}


def connect(path: Path) -> SqliteDatabase:
    return SqliteDatabase(str(path), pragmas=PRAGMAS, check_same_thread=False)


def create_schema(db: SqliteDatabase) -> None:
    with db.bind_ctx(MODELS), db.atomic():
        db.create_tables(MODELS)
        Meta.insert(key="schema_version", value=str(SCHEMA_VERSION)).execute()


def schema_version(db: SqliteDatabase) -> int:
    row = db.execute_sql("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def upgrade(db: SqliteDatabase, migrations: dict[int, Migration] | None = None,
            target: int = SCHEMA_VERSION) -> int:
    """Run every migration from the stored version to `target`; refuse an index newer than we know."""
    steps = MIGRATIONS if migrations is None else migrations
    current = schema_version(db)
    if current > target:
        raise FormatTooNew(f"the index has schema {current}; this Timekeep knows {target} — upgrade Timekeep")
    migrator = SqliteMigrator(db)
    while current < target:
        with db.atomic():
            steps[current](db, migrator)
            current += 1
            db.execute_sql("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(current),))
    return current


def open_index(path: Path) -> SqliteDatabase:
    """Open (creating if needed) and upgrade the index at `path`; closed again if that fails, so a failed
    open (a full drive) holds no file or lock of the index."""
    db = connect(path)
    try:
        db.connect(reuse_if_open=True)
        tables = set(db.get_tables())
        if "meta" not in tables:
            create_schema(db)
        else:
            upgrade(db)
    except BaseException:
        db.close()
        raise
    return db
