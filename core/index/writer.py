"""Write one snapshot into the index: its row, packs and chunks, files, versions, extents, errors.

Each `commit` is one transaction, made only after the packs it refers to are sealed. `finish` writes
the manifest to the drive and only then marks the snapshot complete: a snapshot never shows as
complete without the file that can rebuild it.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from operator import itemgetter
from typing import Any

from peewee import SqliteDatabase

from timekeep.core.errors import CorruptData
from timekeep.core.index import bucket_digests, chain, folder_digests, live, queries, scanned, seal, shown
from timekeep.core.index.schema import CACHE_KIB, WRITER_CACHE_KIB
from timekeep.core.paths import is_inside
from timekeep.core.storage import xattrs as xattrs_codec
from timekeep.core.storage.layout import Layout
from timekeep.core.storage.manifest import Draft, as_line, encode_path, write_manifest
from timekeep.core.storage.pack import SealedPack
from timekeep.core.types import FileError, SnapshotInfo

VERSION_INSERT = (
    "INSERT INTO version (file_id, snapshot_id, state, kind, size, mode, mtime_ns, inode, ctime_ns, full, "
    "depth, chain_rows, content_id, link_target, racy, origin, digest, prev, uid, gid, xattrs, xhash, seal, "
    "shown, shown_seal, scan, scan_seal) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_by_offset = itemgetter(0)  # an extent key's offset
EXTENT_INSERT = (
    "INSERT INTO extent (version_id, offset, length, chunk_id, skip) SELECT ?, ?, ?, id, ? FROM chunk WHERE digest = ?"
)


@dataclass(slots=True)
class NewVersion:
    """A version to record: metadata plus the (offset, length, digest) extents it stores."""

    path: bytes
    state: str
    kind: str
    _: KW_ONLY
    size: int = 0
    mode: int = 0
    mtime_ns: int = 0
    inode: int = 0
    ctime_ns: int = 0
    full: bool = True
    depth: int = 0
    chain_rows: int = 0
    content_id: bytes | None = None
    link_target: bytes | None = None
    extents: Sequence[tuple[int, int, bytes] | tuple[int, int, bytes, int]] = ()  # offset, length, digest[, skip]
    racy: bool = False  # touched so near the storage time that the next backup reads it again
    file_id: int | None = None  # known when the file had a version before
    origin: bytes | None = None  # the path it was renamed from, when a watcher saw the rename (its history follows)
    digest: bytes | None = None  # BLAKE3-256 of the whole content (files), what every restore is checked against
    uid: int | None = None
    gid: int | None = None
    xattrs: bytes | None = None  # encoded by timekeep.core.storage.xattrs


class _Extents:
    """The extent rows of one commit's versions, inserted by one statement run over them all."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, int, int, int, bytes]] = []
        self.owners: list[tuple[int, bytes, int]] = []  # version id, path, how many rows

    def add(self, vid: int, path: bytes, keys: list[seal.ExtentKey]) -> None:
        self.rows += [(vid, offset, length, skip, digest) for offset, length, digest, skip in keys]
        self.owners.append((vid, path, len(keys)))

    def insert(self, db: SqliteDatabase) -> None:
        """Insert them; CorruptData naming the first version one of whose digests has no chunk row (never
        index a version that cannot be built)."""
        if not self.rows or db.connection().executemany(EXTENT_INSERT, self.rows).rowcount == len(self.rows):
            return
        for vid, path, count in self.owners:
            (added,) = db.connection().execute("SELECT count(*) FROM extent WHERE version_id = ?", (vid,)).fetchone()
            if added != count:
                raise CorruptData(f"{os.fsdecode(path)}: {count - added} of its chunks are in no pack")
        raise CorruptData("chunks of this backup are in no pack")


class SnapshotWriter:
    def __init__(self, db: SqliteDatabase, layout: Layout, folder_id: dict[bytes, int], drafts: bool = False) -> None:
        self.db = db
        self.layout = layout
        self.folder_id = folder_id
        self._file_ids: dict[bytes, int] = {}
        # file rows this writer inserted (id -> parent) whose first version is not inserted yet: that version
        # needs no look at the row (one statement less for every new file)
        self._made: dict[int, int | None] = {}
        self.snapshot_id = 0
        # with `drafts`, each commit's versions become manifest lines at once (while the caller's readers go
        # on), so `finish` reads nothing back: the last serial step of a big backup was that read
        self.drafts = drafts
        self._draft: Draft | None = None
        self._drafted = 0  # the id of the last version drafted
        self._last_version = 0  # the id of the last version inserted
        self._digests = folder_digests.kept(db)  # an index that keeps folder digests (one damaged may not)

    def begin(self, trigger: str, time_ns: int | None = None, taken: Collection[int] = ()) -> int:
        """Start a snapshot under an id no snapshot ever had: the first above every snapshot the index has
        evidence of (complete, lost with a manifest later ones prove, or named by a later version) that no
        row of the index and no manifest on the drive (`taken`, the caller's look) holds. An object that only
        bears a manifest's name and does not open proves no snapshot: the ids below it stay free. IMMEDIATE: a
        read that then writes, deferred, fails at once with "database is locked" when the agent journaled
        meanwhile (as it does during a burst of changes) instead of waiting its turn. The thread that begins
        the snapshot commits it: its connection is given the writer's bigger page cache until the snapshot
        ends (`WRITER_CACHE_KIB`)."""
        self._cache(WRITER_CACHE_KIB)
        with self.db.atomic("IMMEDIATE"):
            (known,) = self.db.execute_sql(
                "SELECT max(coalesce((SELECT max(id) FROM snapshot WHERE NOT (state = 'lost' AND gen >= 0)), 0), "
                "coalesce((SELECT max(snapshot_id) FROM loss WHERE path IS NOT NULL), 0))").fetchone()
            held = {int(r[0]) for r in self.db.execute_sql("SELECT id FROM snapshot WHERE id > ?", (known,))}
            sid = int(known) + 1
            while sid in held or sid in taken:
                sid += 1
            self.db.execute_sql(
                "INSERT INTO snapshot (id, time_ns, trigger, state, files_scanned, files_read, files_changed, "
                "bytes_read, bytes_new, errors, duration_s) VALUES (?, ?, ?, 'running', 0, 0, 0, 0, 0, 0, 0)",
                (sid, time_ns if time_ns is not None else time.time_ns(), trigger),
            )
        self.snapshot_id = sid
        return sid

    def commit(self, packs: Sequence[SealedPack], versions: Sequence[NewVersion],
               errors: Sequence[FileError] = (), settled: Sequence[int] = ()) -> list[int]:
        """One transaction; `settled` are racy versions that a re-read found unchanged. Returns each version's
        `prev`: the snapshot of the version the file had before."""
        records: list[bytes] | None = [] if self.drafts else None
        try:
            with self.db.atomic("IMMEDIATE"):  # as `begin`: it may read before it writes
                prevs = self._write(packs, versions, errors, settled, records)
        except BaseException:
            self._made.clear()  # rows made (and folders remembered) in a transaction rolled back
            self._file_ids.clear()
            raise
        if records:
            self._draft_records(records)
        return prevs

    def _write(self, packs: Sequence[SealedPack], versions: Sequence[NewVersion], errors: Sequence[FileError],
               settled: Sequence[int], records: list[bytes] | None = None) -> list[int]:
        """The commit's statements, inside its transaction; with `records`, each version's manifest record is
        added there as its line, made from the values its row was given."""
        add_packs(self.db, packs)
        sets: dict[int, list[int]] = {}  # the live sets this commit changes: parent -> [n, total] to add
        parents: set[tuple[int, int]] = set()  # (folder, bucket) of each version: digests that no longer hold
        extents = _Extents()
        prevs = [self._insert_version(version, sets, extents, parents, records) for version in versions]
        extents.insert(self.db)
        if self._digests and parents:
            self.db.connection().executemany(folder_digests.VOID, list(parents))
        self.db.connection().executemany(live.ADD_TO_SET, [(p, n, t) for p, (n, t) in sets.items() if n or t])
        self.db.connection().executemany("UPDATE version SET racy = 0 WHERE id = ?", [(v,) for v in settled])
        self.db.cursor().executemany(
            "INSERT INTO snapshot_error (snapshot_id, path, kind, message) VALUES (?, ?, ?, ?)",
            [(self.snapshot_id, e.path, e.kind, e.message) for e in errors],
        )
        return prevs

    def _draft_records(self, records: list[bytes]) -> None:
        """A commit's records, drafted as manifest lines once its transaction holds them. They are made from the
        values each row was given and sealed with, as `version_records` would read them back (reading them back
        and checking each seal again was a seventh of a first backup's commits: bench/README.md, "Small files
        one batch at a time, and the commit's draft"); the versions after `_drafted` are the ones `finish`
        reads from the index."""
        if self._draft is None:
            self._draft = Draft(self.layout)
        self._draft.add(records)
        self._drafted = self._last_version

    def _insert_version(self, v: NewVersion, sets: dict[int, list[int]], extents: _Extents,
                        parents: set[tuple[int, int]], records: list[bytes] | None = None) -> int:
        """Insert the version, sealed, after the file's newest one; returns the `prev` it was given. A file that
        comes to life or dies is counted in or out of its folder's live set in `sets` (core/index/live.py); its
        extents join `extents`, inserted for the whole commit at once; its folder and bucket join `parents`; its
        manifest record joins `records`."""
        conn = self.db.connection()
        alive, file_seal = int(v.state != "deleted"), seal.file_seal(v.path, self.snapshot_id)
        # the id SQLite gives the version next (one above the largest): a new file row's `head_version`
        predicted = (self._last_version or self._largest_version()) + 1
        fid, headed = (v.file_id, False) if v.file_id is not None else self._file(
            v.path, remember=v.kind == "dir", head=(self.snapshot_id, file_seal, alive, predicted))
        origin = None
        if v.origin is not None:  # by path, so a rebuild from manifests finds the same File
            row = conn.execute("SELECT id FROM file WHERE path = ?", (v.origin,)).fetchone()
            origin = int(row[0]) if row and row[0] != fid else None
        if fid in self._made:  # a row this writer made and no version touched yet: its first (`headed`: just made)
            head, was_live, parent = 0, 0, self._made.pop(fid)
        else:
            head, was_live, parent = conn.execute("SELECT head, live, parent_id FROM file WHERE id = ?",
                                                  (fid,)).fetchone()
        prev = int(head)
        if parent is not None:
            parents.add((parent, bucket_digests.bucket_of(os.path.basename(v.path))))
        keys = [(e[0], e[1], e[2], e[3] if len(e) > 3 else 0) for e in v.extents]
        xhash = seal.extents_hash(keys)
        sealed = seal.version_seal(v.path, self.snapshot_id, prev, v.state, v.kind, v.size, v.mode, v.mtime_ns,
                                   v.uid, v.gid, v.full, v.digest, v.link_target, v.xattrs, xhash)
        # what a listing shows, sealed beside the version seal (core/index/shown.py)
        record, record_seal = shown.made(v.path, self.snapshot_id, v.kind, v.size, v.mode, v.mtime_ns, v.state,
                                         v.link_target, sealed)
        # and what a scan compares (core/index/scanned.py)
        scan, scan_seal = scanned.made(v.path, v.kind, v.state, v.size, v.mode, v.mtime_ns, v.inode, v.ctime_ns,
                                       sealed)
        cursor = conn.execute(VERSION_INSERT, (
            fid, self.snapshot_id, v.state, v.kind, v.size, v.mode, v.mtime_ns, v.inode, v.ctime_ns,
            int(v.full), v.depth, v.chain_rows, v.content_id, v.link_target, int(v.racy), origin, v.digest, prev,
            v.uid, v.gid, v.xattrs, xhash, sealed, record, record_seal, scan, scan_seal))
        vid = self._last_version = cursor.lastrowid
        if not headed:  # (a row made for this version was given its head, seal, live flag and hint as it was inserted)
            conn.execute(live.SET_HEAD, (self.snapshot_id, file_seal, alive, vid, fid))
        elif vid != predicted:  # never while SQLite numbers rows as it does; the hint is put right all the same
            conn.execute("UPDATE file SET head_version = ? WHERE id = ?", (vid, fid))
        if records is not None:  # as `version_records` reads the row back: the origin by path, the extents by offset
            records.append(as_line(_version_record(v.path, None if origin is None else v.origin, v, prev,
                                                   sorted(keys, key=_by_offset))))
        if alive != was_live:
            counted = sets.setdefault(parent or 0, [0, 0])
            sign = 1 if alive else -1
            counted[0] += sign
            counted[1] += sign * live.term(fid)
        if keys:
            extents.add(vid, v.path, keys)
        return prev

    def _largest_version(self) -> int:
        (largest,) = self.db.connection().execute("SELECT coalesce(max(id), 0) FROM version").fetchone()
        return int(largest)

    def _file(self, path: bytes, remember: bool = True,
              head: tuple[int, bytes, int, int] | None = None) -> tuple[int, bool]:
        """The File row for `path`, created (with its parents) on first sight, and whether it was created with
        `head` (its head, seal, live flag and head version: what the version about to be inserted gives it,
        one statement rather than two). Only folders are cached: they are the parents asked for again and
        again, while a file is asked for once."""
        fid = self._file_ids.get(path)
        if fid is not None:
            return fid, False
        conn = self.db.connection()
        parent = None if path in self.folder_id else self._file(os.path.dirname(path))[0]
        if head is None:
            cursor = conn.execute("INSERT INTO file (folder_id, parent_id, path) VALUES (?, ?, ?) "
                                  "ON CONFLICT(path) DO NOTHING", (self._folder_of(path), parent, path))
        else:
            cursor = conn.execute("INSERT INTO file (folder_id, parent_id, path, head, seal, live, head_version) "
                                  "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO NOTHING",
                                  (self._folder_of(path), parent, path, *head))
        made = cursor.rowcount == 1
        if made:
            fid = int(cursor.lastrowid)
            self._made[fid] = parent
        else:
            fid = int(conn.execute("SELECT id FROM file WHERE path = ?", (path,)).fetchone()[0])
        if remember:
            self._file_ids[path] = fid
        return fid, made and head is not None

    def _folder_of(self, path: bytes) -> int:
        for root, fid in self.folder_id.items():
            if is_inside(path, root):
                return fid
        raise CorruptData(f"{os.fsdecode(path)} is in no protected folder")

    def finish(self, info: SnapshotInfo, folders: list[dict[str, Any]],
               extra: Mapping[str, Any] | None = None) -> SnapshotInfo:
        """Write the manifest (its header with `extra` fields, e.g. where a copied snapshot came from), then
        mark the snapshot complete: complete exactly when its manifest is there."""
        header = {**info.to_json(), "id": self.snapshot_id, "folders": folders, "absorbed": [], **(extra or {})}
        sid = self.snapshot_id
        try:
            if self._draft is None:
                write_manifest(self.layout, sid, header, manifest_records(self.db, sid))
            else:
                records = itertools.chain(version_records(self.db, sid, self._drafted), error_records(self.db, sid))
                write_manifest(self.layout, sid, header, records, drafted=self._draft.lines())
        finally:
            self.close()  # the drafted lines and the writer's page cache, whether the manifest was written or not
        mark_complete(self.db, info)
        return info

    def close(self) -> None:
        """Drop the drafted lines (a snapshot given up), and the writer's page cache; `finish` does it itself."""
        if self._draft is not None:
            self._draft.close()
            self._draft = None
        self._cache(CACHE_KIB)

    def _cache(self, kib: int) -> None:
        """This thread's connection's page cache (SQLite frees what is over it at once); a connection already
        closed, as after a failure, is not opened again for it."""
        if not self.db.is_closed():
            self.db.connection().execute(f"PRAGMA cache_size = -{kib}")


def salvage_header(db: SqliteDatabase, snapshot_id: int) -> dict[str, Any]:
    """A manifest header for a snapshot, from the index alone (its manifest on the drive was lost)."""
    snap = queries.snapshot(db, snapshot_id)
    assert snap is not None
    (absorbed,) = db.execute_sql("SELECT absorbed FROM snapshot WHERE id = ?", (snapshot_id,)).fetchone()
    folders = [{"path": os.fsdecode(path), "excludes": json.loads(excludes)} for path, excludes in db.execute_sql(
        "SELECT path, excludes FROM folder WHERE active = 1 ORDER BY path")]
    return {**snap.to_json(), "id": snapshot_id, "folders": folders, "absorbed": json.loads(absorbed or "[]")}


def mark_complete(db: SqliteDatabase, info: SnapshotInfo) -> None:
    with db.atomic():
        db.execute_sql(
            "UPDATE snapshot SET state = 'complete', files_scanned = ?, files_read = ?, files_changed = ?, "
            "bytes_read = ?, bytes_new = ?, errors = ?, duration_s = ? WHERE id = ?",
            (info.files_scanned, info.files_read, info.files_changed, info.bytes_read, info.bytes_new,
             info.errors, info.duration_s, info.id),
        )


CHUNK_UPSERT = (
    "INSERT INTO chunk (digest, pack_id, offset, length, inner, raw_length) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT(digest) DO UPDATE SET pack_id = excluded.pack_id, offset = excluded.offset, "
    "length = excluded.length, inner = excluded.inner, raw_length = excluded.raw_length "
    "WHERE (SELECT state FROM pack WHERE id = chunk.pack_id) != 'ok'"
)


def add_packs(db: SqliteDatabase, packs: Sequence[SealedPack]) -> None:
    """Index sealed packs. A chunk already indexed stays where it is, unless its pack is lost or damaged:
    then the new copy takes its place, and every version that needed it can be built again."""
    for pack in packs:
        cursor = db.execute_sql("INSERT INTO pack (name, size) VALUES (?, ?)", (pack.name, pack.size))
        pid = cursor.lastrowid
        db.cursor().executemany(
            CHUNK_UPSERT, [(e.digest, pid, e.offset, e.length, e.inner, e.raw_length) for e in pack.entries])


def _extents_by_version(db: SqliteDatabase, snapshot_id: int,
                        after: int = 0) -> Iterator[tuple[int, list[seal.ExtentKey]]]:
    """(version id, extents) for every version of the snapshot after `after` that has extents, in version order."""
    rows = db.connection().execute(
        "SELECT e.version_id, e.offset, e.length, c.digest, e.skip FROM extent e JOIN chunk c ON c.id = e.chunk_id "
        "JOIN version v ON v.id = e.version_id WHERE v.snapshot_id = ? AND e.version_id > ? "
        "ORDER BY e.version_id, e.offset", (snapshot_id, after))
    for vid, group in itertools.groupby(rows, key=lambda row: row[0]):
        yield vid, [(o, n, bytes(d), k) for _, o, n, d, k in group]


def _check_sealed(path: object, v: queries.VersionRow, extents: list[seal.ExtentKey]) -> None:
    name = path if isinstance(path, bytes) else str(path).encode()
    if not v.sealed(name):
        raise chain.damaged(name, f"its version at snapshot {v.snapshot_id}")
    if seal.extents_hash(extents) != v.xhash:
        raise chain.damaged(name, f"the pieces of its version at snapshot {v.snapshot_id}")


def manifest_records(db: SqliteDatabase, snapshot_id: int) -> Iterator[dict[str, Any]]:
    """The snapshot's versions (with extents) and errors as manifest records, streamed from the index.

    Every version is checked against its seal (which covers its file's path) and its extents against the
    hash the seal covers, before it is handed on: a manifest is the drive's truth, and must never take in
    what a damaged index made of a row (CorruptData naming the file instead)."""
    yield from version_records(db, snapshot_id)
    yield from error_records(db, snapshot_id)


def version_records(db: SqliteDatabase, snapshot_id: int, after: int = 0) -> Iterator[dict[str, Any]]:
    """The records of the snapshot's versions whose ids come after `after`, in id order (see manifest_records)."""
    versions = db.connection().execute(
        f"SELECT f.path, o.path, {queries.VERSION_COLUMNS} FROM version v "
        "JOIN file f ON f.id = v.file_id LEFT JOIN file o ON o.id = v.origin WHERE v.snapshot_id = ? AND v.id > ? "
        "ORDER BY v.id", (snapshot_id, after))
    extents = _extents_by_version(db, snapshot_id, after)
    pending = next(extents, None)
    for path, origin, *row in versions:
        v = queries._version(tuple(row))
        mine: list[seal.ExtentKey] = []
        if pending is not None and pending[0] == v.id:
            mine, pending = pending[1], next(extents, None)
        _check_sealed(path, v, mine)
        yield _version_record(path, origin, v, v.prev, mine)


def _version_record(path: bytes, origin: bytes | None, v: queries.VersionRow | NewVersion, prev: int,
                    mine: list[seal.ExtentKey]) -> dict[str, Any]:
    """A version's manifest record: from a row read back (`version_records`) or from what a commit inserts
    (`SnapshotWriter._insert_version`), the same record for the same values."""
    record: dict[str, Any] = {
        "type": "version", "path": encode_path(path), "state": v.state, "kind": v.kind, "size": v.size,
        "mode": v.mode, "mtime_ns": v.mtime_ns, "inode": v.inode, "ctime_ns": v.ctime_ns, "full": bool(v.full),
        "racy": bool(v.racy),
        "depth": v.depth, "chain_rows": v.chain_rows,
        "content_id": v.content_id.hex() if v.content_id else None,
        "link_target": encode_path(v.link_target) if v.link_target is not None else None,
        "digest": v.digest.hex() if v.digest else None, "prev": prev,
        "extents": [[o, n, d.hex(), k] if k else [o, n, d.hex()] for o, n, d, k in mine],
    }
    if v.uid is not None:
        record["uid"], record["gid"] = v.uid, v.gid
    if v.xattrs is not None:
        record["xattrs"] = xattrs_codec.to_json(v.xattrs)
    if origin is not None:  # renamed from there, as a watcher saw it: its history goes on before
        record["origin"] = encode_path(origin)
    return record


def error_records(db: SqliteDatabase, snapshot_id: int) -> Iterator[dict[str, Any]]:
    for path, kind, message in db.execute_sql(
            "SELECT path, kind, message FROM snapshot_error WHERE snapshot_id = ? ORDER BY id", (snapshot_id,)):
        yield {"type": "error", "path": encode_path(path), "kind": kind, "message": message}
