"""Which file rows name something that exists now: `file.live` (schema 6), and the indexes that read it.

A folder keeps every name it ever held, and deleted or renamed-away names only accumulate: after a year of
daily churn a folder of a home holds about as many dead names as live ones. A scan compares the disk with
the live ones only, and a listing at T needs only the names alive now plus those changed after T, so both
read `file(parent_id, live)`, and a listing the dead names changed after T from `file(parent_id, head)
WHERE live = 0`: neither touches a name deleted at or before T. A live file's `head` is in no index: it moves
with every version written, and an index over it cost a rebuild a third more CPU (bench/README.md, issue 15);
a dead name's moves once, when it dies.

`live` is 1 when the file's newest version (the one at `head`) is not a deletion. The snapshot writer sets it
as it moves the head (so a rebuild from the drive sets it alike), and so does whatever else sets a head
(`refresh`); triggers put it right after a version is moved or removed. `check` compares each flag with
its version rows (core/index/chain.py).

A flag is also what decides which rows a listing or a scan reads at all, so a seal on each row could not
catch a flip that hides one: the hidden row is never read. So each folder's live set is sealed as a whole
(schema 7): `live_set` holds, per parent, how many children are live and the sum of a term of each one's
id (injective below 2^32 - 5), kept by whatever sets a flag, in the same transaction. A reader counts and sums
the live children it is about to read, from the same index, and compares (`holds`): a flag flipped either way
changes both, and the folder is refused as damaged rather than shown without a name (or scanned with a dead
one). The pair is a checksum against damage, like the seals: it costs one index range per folder read.
"""

from __future__ import annotations

from sqlite3 import Connection

from peewee import SqliteDatabase

INDEX = "file_parent_id_live"
DEAD_INDEX = "file_dead_parent_id_head"
# a file row's flag, from its version at its head
FLAG = ("EXISTS (SELECT 1 FROM version v WHERE v.file_id = file.id AND v.snapshot_id = file.head "
        "AND v.state != 'deleted')")
# each folder's live children: how many, and the sum of TERM over their ids (a root's parent is 0)
TABLE = "CREATE TABLE IF NOT EXISTS live_set (parent INTEGER PRIMARY KEY, n INTEGER NOT NULL, total INTEGER NOT NULL)"
_PRIME = 4294967291  # the largest prime below 2^32: ids below it have distinct terms, and sums stay in 64 bits
_FACTOR = 1103515245
TERM = f"(({{id}} % {_PRIME}) * {_FACTOR} % {_PRIME})"
# the live set of the file's parent, with the file counted in (+1) or out (-1), if it is live now
_COUNT = ("INSERT INTO live_set (parent, n, total) SELECT coalesce(parent_id, 0), {sign}1, {sign}"
          + TERM.format(id="id") + " FROM file WHERE id = {fid} AND live = 1 "
          "ON CONFLICT (parent) DO UPDATE SET n = n + excluded.n, total = total + excluded.total;")
_LIVE = (_COUNT.replace("{sign}", "-") + " UPDATE file SET live = " + FLAG + " WHERE id = {fid}; "
         + _COUNT.replace("{sign}", ""))
# thinning and the repair after a killed writer move or remove versions: a trigger puts the flag right after
# each (and they set the head after, with `refresh`); the snapshot writer's own writes fire none, since SQLite
# keeps a statement journal for every write a trigger may follow, which cost a rebuild a third more CPU
TRIGGERS = {
    "file_live_version_changed": ("AFTER UPDATE OF file_id, snapshot_id, state ON version BEGIN "
                                  + _LIVE.format(fid="NEW.file_id") + " " + _LIVE.format(fid="OLD.file_id")
                                  + " END"),
    "file_live_version_removed": "AFTER DELETE ON version BEGIN " + _LIVE.format(fid="OLD.file_id") + " END",
}

# (head, its seal, whether the version there is not a deletion, that version's id, file id)
SET_HEAD = "UPDATE file SET head = ?, seal = ?, live = ?, head_version = ? WHERE id = ?"


def create(db: SqliteDatabase) -> None:
    """The indexes, the live sets' table and the triggers (inside the caller's transaction); the column comes
    with the table."""
    db.execute_sql(f"CREATE INDEX IF NOT EXISTS {INDEX} ON file (parent_id, live)")
    db.execute_sql(f"CREATE INDEX IF NOT EXISTS {DEAD_INDEX} ON file (parent_id, head) WHERE live = 0")
    db.execute_sql(TABLE)
    for name, body in TRIGGERS.items():
        db.execute_sql(f"CREATE TRIGGER IF NOT EXISTS {name} {body}")


def refresh(db: SqliteDatabase, fid: int) -> None:
    """The file's flag from its version at its head, once its head was set (chain.reseal_file, set_head), and
    its folder's live set with it."""
    for statement in _LIVE.format(fid="?").split(";"):
        if statement.strip():
            db.execute_sql(statement, (fid,))


def fill(db: SqliteDatabase) -> None:
    """Every row's flag from the version rows: what the triggers keep from then on (an upgrade)."""
    db.execute_sql("UPDATE file SET live = " + FLAG)


def fill_sets(db: SqliteDatabase) -> None:
    """Every folder's live set from the flags (an upgrade, or after `fill`)."""
    db.execute_sql("DELETE FROM live_set")
    db.execute_sql("INSERT INTO live_set (parent, n, total) SELECT coalesce(parent_id, 0), count(*), "
                   f"sum({TERM.format(id='id')}) FROM file WHERE live = 1 GROUP BY 1")


def term(fid: int) -> int:
    """TERM of one id, as SQLite computes it (the snapshot writer keeps its folders' sets in memory)."""
    return fid % _PRIME * _FACTOR % _PRIME


# `live_set` row, for the snapshot writer: add (n, total) to a folder's live set
ADD_TO_SET = ("INSERT INTO live_set (parent, n, total) VALUES (?, ?, ?) "
              "ON CONFLICT (parent) DO UPDATE SET n = n + excluded.n, total = total + excluded.total")
# a folder's live children as the index on (parent_id, live) finds them, against its live set
_HOLDS = (f"SELECT count(*), coalesce(sum({TERM.format(id='id')}), 0), "
          "coalesce((SELECT n FROM live_set WHERE parent = ?1), 0), "
          "coalesce((SELECT total FROM live_set WHERE parent = ?1), 0) FROM file WHERE parent_id = ?1 AND live = 1")


def holds(conn: Connection, parent_id: int) -> bool:
    """Whether the folder's live children are the ones its live set was kept for (one statement: one view of
    the index)."""
    n, total, kept_n, kept_total = conn.execute(_HOLDS, (parent_id,)).fetchone()
    return bool(n == kept_n and total == kept_total)


def held_count(conn: Connection, parent_id: int) -> int | None:
    """How many live children the folder has, when they are the set kept for them; None when not (damage)."""
    n, total, kept_n, kept_total = conn.execute(_HOLDS, (parent_id,)).fetchone()
    return int(n) if n == kept_n and total == kept_total else None


def unheld(conn: Connection, parent_id: int) -> bytes | None:
    """The folder's path when its live children are not the set kept for them (damage), else None."""
    if holds(conn, parent_id):
        return None
    row = conn.execute("SELECT path FROM file WHERE id = ?", (parent_id,)).fetchone()
    return bytes(row[0]) if row is not None and isinstance(row[0], (bytes, memoryview)) else b"?"


def unheld_sets(db: SqliteDatabase) -> list[bytes]:
    """Every folder whose live children are not the set kept for them (`check`), by path."""
    found = {parent: (n, total) for parent, n, total in db.execute_sql(
        f"SELECT coalesce(parent_id, 0), count(*), sum({TERM.format(id='id')}) FROM file WHERE live = 1 GROUP BY 1")}
    kept = {parent: (n, total) for parent, n, total in db.execute_sql(
        "SELECT parent, n, total FROM live_set WHERE n != 0 OR total != 0")}
    wrong = sorted(p for p in found.keys() | kept.keys() if found.get(p) != kept.get(p) and isinstance(p, int))
    paths = dict(db.execute_sql(f"SELECT id, path FROM file WHERE id IN ({','.join('?' * len(wrong))})", wrong))
    return [bytes(paths.get(p, b"?")) for p in wrong]
