"""Digests of what a full scan compares of a folder's children, kept where the last scan found them as stored
(schema 11), so the next scan of an unchanged folder reads none of its rows (FORMAT.md, "Seals").

A full scan `lstat`s every child anyway; comparing each with its row cost as much again (the rows' SQL, their
records' seals, the loop: bench/README.md, "Folder digests"). So when a scan finds a folder's children exactly as
the index holds them (none new, gone, changed, racy or to be read again, nothing reported), it keeps a digest
of their names and packed records, with the folder's exclusions: one for a folder of up to WHOLE children, else
one per bucket of children (CRC-32 of the name), so one file changed among 10,000 costs the rows of its bucket.
A backup also keeps the digests of the buckets whose changes it stored, once each change went in with exactly
the record its scan made (`settle`, from the versions its commits hand over: no second read), so the scan after
a first backup already reads few rows. A scan reads the kept digests in one statement, as it begins.
The next full scan makes the same digests from the disk. Where one equals the kept one, its children are as
they were then, and so still as stored: their rows are not read, and the sub-folders among them are walked.

A kept digest holds only under its seal, over the folder's id, the bucket, the folder's path, the digest and
the index's sealed-rows token (core/index/generation.py). So everything that changes or removes a sealed row
(thinning, the repair after a killed writer, an upgrade, damage through SQLite) voids every digest. A backup
only adds versions, and a child gets one when the disk changed, which changes the digest; the writer also
drops the digest of the bucket of every version it adds (`VOID`: deletions recorded when exclusions change, a
catch-up from the drive). A child gone from the disk in a bucket it leaves empty changes no digest the scan
makes, so a big folder's live children are counted (`unvouched`). A digest that
is missing, damaged or voided costs only its speed: its children are compared row by row, as before. Runs from
the journal never use them (they look at named paths only).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import blake3
from peewee import SqliteDatabase

from timekeep.core.index import generation, live, scanned
from timekeep.core.index.batches import batches
from timekeep.core.index.bucket_digests import ID, ONE_BUCKET, Bucket, Met
from timekeep.core.index.seal import SEAL_BYTES

if TYPE_CHECKING:
    from timekeep.core.index.queries import VersionRow
    from timekeep.core.index.writer import NewVersion

TABLE = ("CREATE TABLE IF NOT EXISTS folder_digest (folder INTEGER NOT NULL, bucket INTEGER NOT NULL, "
         "digest BLOB NOT NULL, seal BLOB NOT NULL, PRIMARY KEY (folder, bucket)) WITHOUT ROWID")
_SEAL_KEY = b"timekeep folder digest seal 1\0"
PENDING = 100_000  # children a backup holds for `settle` (about 15 MB): past it, the next full scan keeps theirs

# the buckets of a folder one of whose children (this name's bucket, or the whole folder's) gets a version: their
# kept digests no longer say what the index holds (a version the disk did not cause, e.g. deletions recorded
# when exclusions change, would otherwise hide behind them)
VOID = f"DELETE FROM folder_digest WHERE folder = ? AND bucket IN ({ONE_BUCKET}, ?)"


def kept(db: SqliteDatabase) -> bool:
    """Whether the index has the table (a damaged one may have lost it: then no digest is used or kept)."""
    return db.execute_sql("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'folder_digest'").fetchone() \
        is not None


def create(db: SqliteDatabase) -> None:
    """The table (inside the caller's transaction): a new index, or the upgrade to schema 11."""
    db.execute_sql(TABLE)


def unvouched(db: SqliteDatabase, folder: int, buckets: dict[int, Bucket], same: set[int]
              ) -> tuple[list[Met], dict[bytes, scanned.Stored]] | None:
    """The children of the buckets whose digest does not hold (`same`: those whose does), with their rows, when
    the rest holds the folder's other live children: the live children, counted (and their set checked, as
    `scanned.latest` does), must be those the holding digests vouch for plus those the rows read name. None when
    they are not (a child gone from the disk in a bucket it leaves empty, one hidden by damage): then the scan
    reads every row."""
    count = live.held_count(db.connection(), folder)
    if count is None:
        return None
    others = [m for b, (_, members) in buckets.items() if b not in same for m in members]
    rows = scanned.latest_named(db, folder, [child for _, child, _, _ in others]) if others else {}
    vouched = sum(len(buckets[b][1]) for b in same)
    return (others, rows) if count == vouched + len(rows) else None


class FolderDigests:
    """The digests of one backup's scans: read against the token the index held when the backup began, and
    written, under that token, for each folder its scan found as stored."""

    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db
        row = db.execute_sql(generation.READ).fetchone()
        # no token, or no table (damage): no digest is used or kept, and every folder is compared row by row
        self.token = str(row[0]).encode() if row and kept(db) else b""
        self._found: list[tuple[int, int, bytes, bytes]] = []
        # folders whose scan met changes: (path, children met, {bucket: digest}, the changes found as (path,
        # record)), for `settle` once the backup's versions are in
        self._pending: list[tuple[bytes, int, dict[int, bytes], list[tuple[bytes, bytes]]]] = []
        self._wanted: dict[bytes, bytes] = {}  # the changes `expect`ed, with the records their scan made
        self._held = 0  # how many: PENDING at most
        self._stored: set[bytes] = set()  # those whose last version committed has that record, not racy
        self._kept: dict[int, list[tuple[Any, Any, Any]]] = {}  # every kept digest: one statement, not one a folder
        if self.token:
            for row in db.execute_sql("SELECT folder, bucket, digest, seal FROM folder_digest"):
                self._kept.setdefault(row[0], []).append(row[1:])
        self._voided: set[bytes] = set()  # folders a commit of this backup added versions to

    def _seal(self, folder: int, bucket: int, path: bytes, digest: bytes) -> bytes:
        return blake3.blake3(b"".join((_SEAL_KEY, ID.pack(folder), ID.pack(bucket), ID.pack(len(self.token)),
                                       self.token, digest, path))).digest(SEAL_BYTES)

    def keeps_any(self) -> bool:
        """Whether any digest was kept when the backup began (none before a first backup, or after thinning)."""
        return bool(self._kept)

    def holding(self, folder: int, path: bytes) -> dict[int, bytes]:
        """The digests kept for the folder's buckets whose seals hold now."""
        if path in self._voided:
            return {}
        return {b: d for b, d, sealed in self._kept.get(folder, ())
                if isinstance(b, int) and isinstance(d, bytes) and sealed == self._seal(folder, b, path, d)}

    def found_as_stored(self, folder: int, path: bytes, buckets: dict[int, bytes]) -> None:
        """Keep these digests of the folder's buckets, whose children a scan just found exactly as the index holds
        them (`write`)."""
        if self.token:
            self._found += ((folder, b, d, self._seal(folder, b, path, d)) for b, d in buckets.items())

    def write(self) -> None:
        """Write the digests noted since the last write, in one transaction."""
        if self._found:
            found, self._found = self._found, []
            with self.db.atomic():
                self.db.connection().executemany(
                    "INSERT OR REPLACE INTO folder_digest (folder, bucket, digest, seal) VALUES (?, ?, ?, ?)", found)

    def expect(self, path: bytes, record: bytes) -> None:
        """A change the scan found, with the record it made of it: noted before the backup reads it, since a
        commit may store it before the scan has met the rest of its folder. PENDING at most."""
        if self.token and self._held < PENDING:
            self._wanted[path] = record
            self._held += 1

    def pending(self, path: bytes, children: int, buckets: dict[int, bytes], changed: list[tuple[bytes, bytes]]
                ) -> None:
        """The digests of buckets whose changes a backup is storing now: kept by `settle` if each of `changed`
        (the children the scan did not find as stored, each `expect`ed) is then stored with its record, not
        racy."""
        if self.token and buckets and all(self._wanted.get(child) == record for child, record in changed):
            self._pending.append((path, children, buckets, changed))

    def committed(self, versions: Iterable[NewVersion], settled: Iterable[tuple[bytes, VersionRow]] = ()) -> None:
        """A commit of the backup is in: note the records of what it stored of pending children (their new
        versions, and the racy ones read again and `settled` as stored), and the folders it added versions to
        (their kept digests are no longer used, as the writer's `VOID` says)."""
        versions = list(versions)
        if self._kept:  # (an index that keeps no digest has none to void)
            self._voided.update(os.path.dirname(v.path) for v in versions)
        wanted, stored, record = self._wanted, self._stored, scanned.record
        went_in: list[tuple[bytes, NewVersion | VersionRow, bool]] = [(v.path, v, bool(v.racy)) for v in versions]
        for path, v, racy in went_in + [(path, prev, False) for path, prev in settled]:
            if (met := wanted.get(path)) is not None:
                if not racy and record(v.kind, v.state, v.size, v.mode, v.mtime_ns, v.inode, v.ctime_ns) == met:
                    stored.add(path)
                else:
                    stored.discard(path)

    def settle(self) -> None:
        """After the backup's last commit: keep the pending digests of each folder whose changed children were all
        stored with exactly the records the scan made, none racy (a file that changed while read, failed or came
        out racy keeps its bucket's digest out), and whose live children are as many as the scan met: the others
        it met are those it found as stored. The index's token must be the one the scan saw, so no sealed row
        changed since it read them."""
        pending, stored = self._pending, self._stored
        self._pending, self._held, self._wanted, self._stored = [], 0, {}, set()
        row = self.db.execute_sql(generation.READ).fetchone()
        if not pending or row is None or str(row[0]).encode() != self.token:
            return
        complete = [(path, children, buckets) for path, children, buckets, changed in pending
                    if all(child in stored for child, _ in changed)]
        held = _live_counts(self.db, [path for path, _, _ in complete])
        for path, children, buckets in complete:
            if (got := held.get(path)) is not None and got[1] == children:
                self.found_as_stored(got[0], path, buckets)
        self.write()


def _live_counts(db: SqliteDatabase, paths: list[bytes]) -> dict[bytes, tuple[int, int]]:
    """Each folder's file row id and how many live children its live set counts (core/index/live.py), a batch
    of folders a statement. The set itself is checked where a digest is used (`live_held`, `unvouched`)."""
    found: dict[bytes, tuple[int, int]] = {}
    for batch in batches(paths):
        for path, folder, n in db.connection().execute(
                "SELECT f.path, f.id, coalesce((SELECT n FROM live_set WHERE parent = f.id), 0) FROM file f "
                f"WHERE f.path IN ({','.join('?' * len(batch))})", batch):
            found[bytes(path)] = (int(folder), int(n))
    return found
