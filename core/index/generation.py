"""Which state of the sealed version rows an index is in: `meta.sealed_rows` (schema 8), a random token drawn
again by triggers whenever a sealed value of a version row (or a file's path) is changed or a version removed.

A listing remembers the entries of the rows it checked against their seals (core/index/listing.py). It may
hand one back without reading its row again only while that row holds what was checked: the token says so
across connections, processes and openings, where SQLite's `data_version` speaks for one connection only.
A backup only adds version rows (new ids, new seals), so the token stays and what was checked stays good; an
upgrade, thinning, the repair after a killed writer, or any other process writing a sealed value (damage made
through SQLite included) draws a new one. The token is random, not a counter: two copies of one index that
each changed rows since they parted never hold the same token. Remembered entries are also kept by their
seal, so a row another copy added under a reused id is never taken for one checked before.

The triggers fire on these columns alone: the snapshot writer's own updates (`racy`, a file's head) fire
none, so its statements keep no statement journal for them (core/index/live.py says what that cost).
"""

from __future__ import annotations

from peewee import SqliteDatabase

KEY = "sealed_rows"
# what a version's seal covers (core/index/seal.py), and the row's file
SEALED = ("file_id, snapshot_id, prev, state, kind, size, mode, mtime_ns, uid, gid, full, digest, link_target, "
          "xattrs, xhash, seal")
_DRAW = f"UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = '{KEY}';"
TRIGGERS = {
    "sealed_rows_version_changed": f"AFTER UPDATE OF {SEALED} ON version BEGIN {_DRAW} END",
    "sealed_rows_version_removed": f"AFTER DELETE ON version BEGIN {_DRAW} END",
    "sealed_rows_path_changed": f"AFTER UPDATE OF path ON file BEGIN {_DRAW} END",
}
READ = f"SELECT value FROM meta WHERE key = '{KEY}'"


def create(db: SqliteDatabase) -> None:
    """The token and its triggers (inside the caller's transaction): a new index, or the upgrade to schema 8."""
    db.execute_sql(f"INSERT OR REPLACE INTO meta (key, value) VALUES ('{KEY}', lower(hex(randomblob(8))))")
    for name, body in TRIGGERS.items():
        db.execute_sql(f"CREATE TRIGGER IF NOT EXISTS {name} {body}")
