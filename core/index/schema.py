"""Open the index, create it, and bring an older schema up to date with stored migrations.

The schema version lives in the `meta` table. Each migration moves the schema from version N to N+1
(playhouse.migrate operations), so an index written by any earlier release opens in this one.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peewee import DatabaseError, SqliteDatabase

from timekeep.core.errors import FormatTooNew, IndexDamaged, IndexMissing, RepositoryError
from timekeep.core.index import folder_digests, generation, live, names, queries
from timekeep.core.index.models import MODELS, Extent, File, Journal, Loss, Meta, Pack, Snapshot, Version
from timekeep.core.storage.atomic import create_private
from timekeep.core.storage.failures import drive_message

if TYPE_CHECKING:  # playhouse.migrate loads only when an index is upgraded, not at every open
    from playhouse.migrate import SqliteMigrator

SCHEMA_VERSION = 13
_UPGRADE_BATCH = 5_000  # rows a migration holds at once
Migration = Callable[[SqliteDatabase, "SqliteMigrator"], None]


def _add_columns(db: SqliteDatabase, migrator: SqliteMigrator, wanted: Iterable[tuple[str, str, Any]]) -> None:
    """Add each (table, column, field) of `wanted` the index does not have yet, through playhouse.migrate (its
    module loaded here: an index is seldom upgraded)."""
    from playhouse.migrate import migrate

    migrate(*(migrator.add_column(table, name, field) for table, name, field in wanted
              if name not in {c.name for c in db.get_columns(table)}))


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
    _add_columns(db, migrator, wanted)


def _add_seals(db: SqliteDatabase, migrator: SqliteMigrator) -> None:
    """3 -> 4: versions are sealed and carry a whole-file digest, owners and extended attributes; files know
    their newest version; snapshots their manifest's generation; packs whether the drive lost them; and
    what the drive lost is listed. Versions stored before have no digest: their seals are made from the
    index as it stands."""
    from timekeep.core.index.chain import reseal_file

    wanted = (("file", "head", File.head), ("file", "seal", File.seal), ("snapshot", "gen", Snapshot.gen),
              ("snapshot", "absorbed", Snapshot.absorbed), ("version", "digest", Version.digest),
              ("version", "prev", Version.prev), ("version", "uid", Version.uid), ("version", "gid", Version.gid),
              ("version", "xattrs", Version.xattrs), ("version", "xhash", Version.xhash),
              ("version", "seal", Version.seal), ("pack", "state", Pack.state))
    _add_columns(db, migrator, wanted)
    with db.bind_ctx([Loss]):
        db.create_tables([Loss])
    for (fid,) in list(db.execute_sql("SELECT DISTINCT file_id FROM version")):
        reseal_file(db, fid, flag=False)  # the step to schema 6 sets every `live`


def _add_names(db: SqliteDatabase, migrator: SqliteMigrator) -> None:
    """4 -> 5: the name index `find` searches (core/index/names.py), built from the file rows."""
    names.rebuild(db)


def _add_live(db: SqliteDatabase, migrator: SqliteMigrator) -> None:
    """5 -> 6: file rows say whether they name something that exists now, indexed with their parent
    (core/index/live.py), which replaces the index on the parent alone."""
    if "live" not in {c.name for c in db.get_columns("file")}:  # in place: the migrator would copy the table
        db.execute_sql("ALTER TABLE file ADD COLUMN live INTEGER NOT NULL DEFAULT 0")
    live.fill(db)
    db.execute_sql("DROP INDEX IF EXISTS file_parent_id")
    live.create(db)


def _seal_live_sets(db: SqliteDatabase, migrator: SqliteMigrator) -> None:
    """6 -> 7: each folder's live children are sealed as a set (core/index/live.py), so a flipped `live` that
    would hide a name, or show a dead one, is caught by whoever reads the folder; the triggers keep the sets."""
    db.execute_sql(live.TABLE)
    for name in live.TRIGGERS:
        db.execute_sql(f"DROP TRIGGER IF EXISTS {name}")
    live.create(db)
    live.fill_sets(db)


def _add_sealed_rows(db: SqliteDatabase, migrator: SqliteMigrator) -> None:
    """7 -> 8: a token of the sealed rows' state, drawn again whenever one changes (core/index/generation.py),
    so a listing may keep what it checked across connections and openings."""
    generation.create(db)


def _add_shown(db: SqliteDatabase, migrator: SqliteMigrator) -> None:
    """8 -> 9: what a listing shows of a version, packed and sealed on its own (core/index/shown.py). Rows
    written before have none and are checked against their whole version seal, as before: nothing is
    rewritten, and the drive's manifests are unchanged (a rebuild from them makes the records)."""
    wanted = (("version", "shown", Version.shown), ("version", "shown_seal", Version.shown_seal))
    _add_columns(db, migrator, wanted)


def _add_scan(db: SqliteDatabase, migrator: SqliteMigrator) -> None:
    """9 -> 10: what a scan compares of a version, packed and sealed on its own (core/index/scanned.py). The
    newest version of every live file gets its record, made only from a row whose version seal holds (a row
    that fails gets none: the scan reads it whole and names the damage, as before); older versions are never
    compared by a scan and keep none. The drive's manifests are unchanged."""
    from timekeep.core.index import scanned

    wanted = (("version", "scan", Version.scan), ("version", "scan_seal", Version.scan_seal))
    _add_columns(db, migrator, wanted)
    statement = (f"SELECT f.id, f.path, {queries.VERSION_COLUMNS} FROM file f JOIN version v ON v.id = "
                 "(SELECT max(v2.id) FROM version v2 WHERE v2.file_id = f.id) WHERE f.live = 1 AND f.id > ? "
                 f"ORDER BY f.id LIMIT {_UPGRADE_BATCH}")
    after = 0
    while rows := db.execute_sql(statement, (after,)).fetchall():  # by the batch: a million rows whole is a GB
        made = []
        for _, *row in rows:
            v = queries.row_version(row)
            if v.sealed(row[0]):
                made.append((*scanned.made(row[0], v.kind, v.state, v.size, v.mode, v.mtime_ns, v.inode,
                                           v.ctime_ns, v.seal),
                             v.id))
        db.connection().executemany("UPDATE version SET scan = ?, scan_seal = ? WHERE id = ?", made)
        after = rows[-1][0]


def _add_folder_digests(db: SqliteDatabase, migrator: SqliteMigrator) -> None:
    """10 -> 11: a digest per folder a full scan found as stored (core/index/folder_digests.py). The table starts
    empty: the next full scan compares every folder row by row, as before, and keeps their digests."""
    folder_digests.create(db)


def _add_racy_index(db: SqliteDatabase, migrator: SqliteMigrator) -> None:
    """11 -> 12: the racy versions indexed by snapshot (`queries.RACY_INDEX`), so a run from the journal finds
    the last snapshot's without reading all its versions."""
    db.execute_sql(queries.RACY_INDEX)


def _add_head_version(db: SqliteDatabase, migrator: SqliteMigrator) -> None:
    """12 -> 13: each file row names its version at `head` (`file.head_version`), so a listing joins that row
    instead of looking each name's version up (core/index/listing.py). A hint only: a listing takes it where
    it names a version of that file at that head, and looks the version up as before where it does not."""
    if "head_version" not in {c.name for c in db.get_columns("file")}:  # in place: the migrator copies tables
        db.execute_sql("ALTER TABLE file ADD COLUMN head_version INTEGER")
    db.execute_sql(HEAD_VERSIONS)


# every file row's hint, from its versions as they stand
HEAD_VERSIONS = ("UPDATE file SET head_version = (SELECT v.id FROM version v WHERE v.file_id = file.id "
                 "AND v.snapshot_id = file.head)")


# MIGRATIONS[n] upgrades a schema at version n to n + 1.
MIGRATIONS: dict[int, Migration] = {1: _add_journal, 2: _add_skip_and_origins, 3: _add_seals, 4: _add_names,
                                    5: _add_live, 6: _seal_live_sets, 7: _add_sealed_rows,
                                    8: _add_shown, 9: _add_scan, 10: _add_folder_digests,
                                    11: _add_racy_index, 12: _add_head_version}

CACHE_KIB = 2048  # SQLite's page cache per connection; each reader thread has one
# a snapshot writer's own connection (core/index/writer.py): its commits look chunks up by digest and insert
# into indexes in no order, and at 2 MiB each of an image's extents read back index pages the cache had just
# let go (9 µs an extent; 4 µs at 8 MiB: bench/README.md, "The writer's page cache")
WRITER_CACHE_KIB = 8192

PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "normal",
    "foreign_keys": 1,
    "cache_size": -CACHE_KIB,
    "busy_timeout": 30_000,
}


class IndexDatabase(SqliteDatabase):
    """An index connection per thread (peewee's way), that also remembers every connection it opened, so
    the owner can close them all when it is done (`close_all`): a worker thread's connection otherwise
    lives on until the garbage collector breaks its cycle, keeping index.db open on a drive the person
    then cannot eject."""

    def __init__(self, path: str) -> None:
        super().__init__(path, pragmas=PRAGMAS, check_same_thread=False)
        self._opened: list[sqlite3.Connection] = []
        self._opened_guard = threading.Lock()
        _INDEXES.add(self)

    def open_connections(self) -> int:
        """How many of the connections it opened are open still."""
        with self._opened_guard:
            opened = list(self._opened)
        return sum(_is_open(conn) for conn in opened)

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection = super()._connect()  # type: ignore[misc]  # peewee has no hints for it
        with self._opened_guard:
            self._opened.append(conn)
        return conn

    def close_all(self) -> None:
        """Close this thread's connection and every other thread's: only once no thread uses the index."""
        self.close()
        with self._opened_guard:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()  # closing twice is harmless


_INDEXES: weakref.WeakSet[IndexDatabase] = weakref.WeakSet()  # every index object of this process


def _is_open(conn: sqlite3.Connection) -> bool:
    try:
        conn.in_transaction  # noqa: B018  # a closed connection refuses any question
    except sqlite3.ProgrammingError:
        return False
    return True


def open_elsewhere(db: SqliteDatabase) -> bool:
    """Whether this process has the index file of `db` open through another index object as well (a process
    forked now would share SQLite's state for that file: core/restore/shares.py)."""
    where = os.path.realpath(db.database)
    return any(other is not db and os.path.realpath(other.database) == where and other.open_connections()
               for other in list(_INDEXES))


def close_all(db: SqliteDatabase) -> None:
    """Close every connection to `db` (see IndexDatabase), or this thread's where it keeps no list."""
    if isinstance(db, IndexDatabase):
        db.close_all()
    else:
        db.close()


def connect(path: Path) -> IndexDatabase:
    return IndexDatabase(str(path))


def create_schema(db: SqliteDatabase) -> None:
    with db.bind_ctx(MODELS), db.atomic():
        db.create_tables(MODELS)
        names.create(db)
        live.create(db)
        generation.create(db)
        folder_digests.create(db)
        db.execute_sql(queries.RACY_INDEX)
        Meta.insert(key="schema_version", value=str(SCHEMA_VERSION)).execute()
        Meta.insert(key="index_id", value=uuid.uuid4().hex).execute()


def index_id(db: SqliteDatabase) -> str:
    """A name this index file got when it was made: a rebuilt index has a new one (its journal starts empty)."""
    row = db.execute_sql("SELECT value FROM meta WHERE key = 'index_id'").fetchone()
    return str(row[0]) if row else ""


def schema_version(db: SqliteDatabase) -> int:
    row = db.execute_sql("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


class OlderSchema(RepositoryError):
    """A reader found an index of an older schema: it never migrates it (a reader writes nothing), so it reads
    an upgraded copy instead (core/index/local_copy.py), and the next writer upgrades the index itself."""


def upgrade(db: SqliteDatabase, migrations: dict[int, Migration] | None = None,
            target: int = SCHEMA_VERSION) -> int:
    """Run every migration from the stored version to `target`; refuse an index newer than we know."""
    steps = MIGRATIONS if migrations is None else migrations
    current = schema_version(db)
    if current > target:
        raise FormatTooNew(f"the index has schema {current}; this Timekeep knows {target} — upgrade Timekeep")
    if current == target:
        return current
    from playhouse.migrate import SqliteMigrator

    migrator = SqliteMigrator(db)
    while current < target:
        with db.atomic():
            steps[current](db, migrator)
            current += 1
            db.execute_sql("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(current),))
    return current


def open_index(path: Path, create: bool = False, reader: bool = False) -> SqliteDatabase:
    """Open and upgrade the index at `path` (a new, private one only when `create`); closed again if that
    fails, so a failed open (a full drive) holds no file or lock of the index. IndexMissing when there is
    none; IndexDamaged when SQLite cannot read it. A `reader` never upgrades: OlderSchema instead."""
    if not path.exists():
        if not create:
            raise IndexMissing(f"{path.parent} has no index (index.db)")
        os.close(create_private(path))  # SQLite gives its -wal and -shm the same permissions
    elif not create and os.path.getsize(path) == 0:  # connecting would write a header into it
        raise IndexDamaged(f"{path} is empty")
    db = connect(path)
    try:
        db.connect(reuse_if_open=True)
        tables = set(db.get_tables())
        if "meta" not in tables:
            if not create:  # an empty or foreign file: never made into an index by whoever opens it
                raise IndexDamaged(f"{path} holds no Timekeep index")
            create_schema(db)
        elif reader:
            _readable(db, path)
        else:
            upgrade(db)
    except (DatabaseError, sqlite3.DatabaseError) as err:
        db.close()
        if drive_message(err) is not None:
            raise
        raise IndexDamaged(f"{path} is damaged: {err}") from None
    except BaseException:
        db.close()
        raise
    return db


def _readable(db: SqliteDatabase, path: Path) -> None:
    """An index a reader may read as it is: of this schema (FormatTooNew past it, OlderSchema before it)."""
    current = schema_version(db)
    if current > SCHEMA_VERSION:
        upgrade(db)  # raises FormatTooNew, having written nothing
    if current < SCHEMA_VERSION:
        raise OlderSchema(f"{path} has schema {current}, older than this Timekeep's {SCHEMA_VERSION}")


def check_integrity(db: SqliteDatabase) -> None:
    """SQLite's own check of every page and record layout; IndexDamaged if it finds anything."""
    try:
        rows = [row[0] for row in db.execute_sql("PRAGMA quick_check(3)")]
    except (DatabaseError, sqlite3.DatabaseError) as err:
        if drive_message(err) is not None:
            raise
        raise IndexDamaged(f"the index is damaged: {err}") from None
    if rows != ["ok"]:
        raise IndexDamaged(f"the index is damaged: {rows[0]}")
