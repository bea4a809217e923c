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
(`refresh`); triggers put it right after a version is moved or removed. It is a cache of the version rows,
not under a seal: `check` compares it with them (core/index/chain.py), and what a listing hands back is
still checked against each version's seal.
"""

from __future__ import annotations

from peewee import SqliteDatabase

INDEX = "file_parent_id_live"
DEAD_INDEX = "file_dead_parent_id_head"
# a file row's flag, from its version at its head
FLAG = ("EXISTS (SELECT 1 FROM version v WHERE v.file_id = file.id AND v.snapshot_id = file.head "
        "AND v.state != 'deleted')")
_LIVE = "UPDATE file SET live = " + FLAG + " WHERE id = {fid};"
# thinning and the repair after a killed writer move or remove versions: a trigger puts the flag right after
# each (and they set the head after, with `refresh`); the snapshot writer's own writes fire none, since SQLite
# keeps a statement journal for every write a trigger may follow, which cost a rebuild a third more CPU
TRIGGERS = {
    "file_live_version_changed": ("AFTER UPDATE OF file_id, snapshot_id, state ON version BEGIN "
                                  + _LIVE.format(fid="NEW.file_id") + " " + _LIVE.format(fid="OLD.file_id")
                                  + " END"),
    "file_live_version_removed": "AFTER DELETE ON version BEGIN " + _LIVE.format(fid="OLD.file_id") + " END",
}

# (head, its seal, whether the version there is not a deletion, file id)
SET_HEAD = "UPDATE file SET head = ?, seal = ?, live = ? WHERE id = ?"


def create(db: SqliteDatabase) -> None:
    """The index and the triggers (inside the caller's transaction); the column comes with the table."""
    db.execute_sql(f"CREATE INDEX IF NOT EXISTS {INDEX} ON file (parent_id, live)")
    db.execute_sql(f"CREATE INDEX IF NOT EXISTS {DEAD_INDEX} ON file (parent_id, head) WHERE live = 0")
    for name, body in TRIGGERS.items():
        db.execute_sql(f"CREATE TRIGGER IF NOT EXISTS {name} {body}")


def refresh(db: SqliteDatabase, fid: int) -> None:
    """The file's flag from its version at its head, once its head was set (chain.reseal_file, set_head)."""
    db.execute_sql(_LIVE.format(fid="?").rstrip(";"), (fid,))


def fill(db: SqliteDatabase) -> None:
    """Every row's flag from the version rows: what the triggers keep from then on (an upgrade)."""
    db.execute_sql("UPDATE file SET live = " + FLAG)
