"""Give back the space of chunks no version uses any more, by deleting or rewriting packs
(FORMAT.md, "Coalescing").

A pack none of whose chunks is used is deleted. A pack mostly dead has its live chunks copied into new
packs (frames whose every chunk lives are copied as they are; the others are recompressed with only
their live chunks), and is deleted once the index points at the copies. The new packs are sealed
before the index moves and the old ones go only after, so a crash at any point leaves every chunk
readable; whatever is left over is a sealed pack the next writer adopts and a later run reclaims.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from peewee import SqliteDatabase

from timekeep.core.crypto.chunk_ids import ChunkIds
from timekeep.core.errors import BackupCancelled, CorruptData
from timekeep.core.storage import frame
from timekeep.core.storage.layout import Layout, pack_name
from timekeep.core.storage.pack import PackReader, PackWriter, SealedPack
from timekeep.core.types import Progress

REWRITE_BELOW = 0.6  # rewrite a pack when less than this share of its bytes is still in use
GROUP_BYTES = 1 << 20  # as in capture: live chunks are recompressed together up to this much

# (digest, frame offset, frame length, inner, raw length, live)
ChunkRow = tuple[bytes, int, int, int, int, int]


@dataclass
class ReclaimStats:
    chunks_reclaimed: int = 0
    packs_rewritten: int = 0
    packs_deleted: int = 0
    bytes_freed: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Candidate:
    id: int
    name: str
    size: int
    dead: int
    live: int


@contextmanager
def durable(db: SqliteDatabase) -> Iterator[None]:
    """One transaction that is on the drive once it ends. The index runs WAL with synchronous=NORMAL, whose
    last commits may roll back when the power fails or the drive is pulled out: harmless for a backup, but
    the coalescer deletes manifests and packs because of what it commits, and a rolled-back fold or switch
    would then point at what is gone. synchronous=FULL syncs the WAL at this commit. Called outside any
    transaction: SQLite refuses to change the setting inside one."""
    (level,) = db.execute_sql("PRAGMA synchronous").fetchone()
    db.execute_sql("PRAGMA synchronous = FULL")
    try:
        with db.atomic():
            yield
    finally:
        db.execute_sql(f"PRAGMA synchronous = {int(level)}")


def _candidates(db: SqliteDatabase, rewrite_below: float) -> list[_Candidate]:
    """Packs with unused chunks that are worth touching: wholly dead, or used below the threshold."""
    rows = db.execute_sql(
        "SELECT p.id, p.name, p.size, "
        "sum(CASE WHEN used.chunk_id IS NULL THEN 1 ELSE 0 END), "
        "sum(CASE WHEN used.chunk_id IS NULL THEN 0 ELSE 1 END), "
        "(SELECT coalesce(sum(length), 0) FROM (SELECT DISTINCT c2.offset, c2.length FROM chunk c2 "
        "  WHERE c2.pack_id = p.id AND EXISTS (SELECT 1 FROM extent e2 WHERE e2.chunk_id = c2.id))) "
        "FROM pack p JOIN chunk c ON c.pack_id = p.id "
        "LEFT JOIN (SELECT DISTINCT chunk_id FROM extent) used ON used.chunk_id = c.id "
        "GROUP BY p.id"
    ).fetchall()
    found = []
    for pid, name, size, dead, live, live_bytes in rows:
        if dead and (live == 0 or live_bytes < rewrite_below * size):
            found.append(_Candidate(pid, name, size, dead, live))
    # packs with no chunk row at all (adopted after a crash, every digest already elsewhere)
    for pid, name, size in db.execute_sql(
            "SELECT id, name, size FROM pack p WHERE NOT EXISTS (SELECT 1 FROM chunk c WHERE c.pack_id = p.id)"):
        found.append(_Candidate(pid, name, size, 0, 0))
    return found


def _chunks(db: SqliteDatabase, pack_id: int) -> list[ChunkRow]:
    return [tuple(row) for row in db.execute_sql(
        "SELECT c.digest, c.offset, c.length, c.inner, c.raw_length, "
        "EXISTS (SELECT 1 FROM extent e WHERE e.chunk_id = c.id) FROM chunk c WHERE c.pack_id = ? "
        "ORDER BY c.offset, c.inner",
        (pack_id,),
    )]


class _Copier:
    """Moves live chunks into new packs, grouping the loose ones into shared frames."""

    def __init__(self, layout: Layout, level: int) -> None:
        self.writer = PackWriter(layout)
        self.reader = PackReader(layout)
        self.level = level
        self.sealing = layout.sealing
        self.ids = self.sealing.ids if self.sealing is not None else ChunkIds()
        self._group: list[tuple[bytes, bytes]] = []
        self._size = 0

    def copy_pack(self, name: str, chunks: list[ChunkRow]) -> None:
        frames: dict[tuple[int, int], list[ChunkRow]] = {}
        for row in chunks:
            frames.setdefault((row[1], row[2]), []).append(row)
        for (offset, length), members in frames.items():
            live = [m for m in members if m[5]]
            if not live:
                continue
            blob = self.reader.read(name, offset, length)
            raw = self._decode(blob, members)
            for digest, _, _, inner, raw_length, _ in members:  # never carry a damaged chunk forward
                if self.ids.of(memoryview(raw)[inner : inner + raw_length]) != digest:
                    raise CorruptData(f"chunk {digest.hex()[:16]} in pack {name} does not match its digest")
            if len(live) == len(members):
                self.writer.add(blob, [(d, inner, n) for d, _, _, inner, n, _ in members])
            else:
                for digest, _, _, inner, raw_length, _ in live:
                    self._add_loose(digest, raw[inner : inner + raw_length])

    def _decode(self, blob: bytes, members: list[ChunkRow]) -> bytes:
        if self.sealing is None:
            return frame.decode(blob)
        if members[0][3] != 0:
            raise CorruptData(f"the index knows no chunk that begins the frame at {members[0][1]}")
        return self.sealing.open_frame(members[0][0], blob)  # named by its first chunk (FORMAT.md)

    def _add_loose(self, digest: bytes, data: bytes) -> None:
        if self._group and self._size + len(data) > GROUP_BYTES:
            self._flush_group()
        self._group.append((digest, data))
        self._size += len(data)

    def _flush_group(self) -> None:
        if not self._group:
            return
        members, inner = [], 0
        for digest, data in self._group:
            members.append((digest, inner, len(data)))
            inner += len(data)
        raw = b"".join(d for _, d in self._group)
        if self.sealing is None:
            blob: bytes | bytearray = frame.encode(raw, self.level)
        else:
            blob = self.sealing.seal_frame(members[0][0], raw, self.level)
        self.writer.add(blob, members)
        self._group, self._size = [], 0

    def seal(self) -> list[SealedPack]:
        self._flush_group()
        return self.writer.flush()

    def close(self) -> None:
        self.reader.close()


def reclaim(db: SqliteDatabase, layout: Layout, level: int, progress: Callable[[Progress], None] | None = None,
            cancel: threading.Event | None = None, rewrite_below: float = REWRITE_BELOW) -> ReclaimStats:
    """Delete dead packs and rewrite mostly dead ones; the caller holds the writer lock."""
    stats = ReclaimStats()
    candidates = _candidates(db, rewrite_below)
    total = sum(c.size for c in candidates)
    copier = _Copier(layout, level)
    done_bytes = 0
    moved: list[_Candidate] = []
    try:
        for n, candidate in enumerate(candidates):
            if cancel is not None and cancel.is_set():
                raise BackupCancelled("thinning cancelled; nothing was lost")
            if candidate.live:
                try:
                    copier.copy_pack(candidate.name, _chunks(db, candidate.id))
                except CorruptData as err:
                    stats.problems.append(f"pack {candidate.name} kept as it is: {err}")
                    continue
            moved.append(candidate)
            done_bytes += candidate.size
            if progress is not None:
                progress(Progress("coalesce", n + 1, len(candidates), done_bytes, total, 0.0))
        sealed = copier.seal()
    except BaseException:
        copier.writer.abort()
        raise
    finally:
        copier.close()
    _switch(db, sealed, moved, stats)
    for candidate in moved:  # each deletion made durable on its own: as many steps whatever the packs' names
        if candidate.name:  # the unnamed row holds chunks no pack holds: nothing to delete
            layout.store.delete(pack_name(candidate.name))
    stats.bytes_freed = sum(c.size for c in moved) - sum(p.size for p in sealed)
    return stats


def _switch(db: SqliteDatabase, sealed: list[SealedPack], moved: list[_Candidate], stats: ReclaimStats) -> None:
    """One durable transaction: the copies become where the live chunks are, and the old packs leave the index."""
    old = [c.id for c in moved]
    with durable(db):
        for pack in sealed:
            pid = db.execute_sql("INSERT INTO pack (name, size) VALUES (?, ?)", (pack.name, pack.size)).lastrowid
            marks = ",".join("?" * len(old))
            db.cursor().executemany(
                f"UPDATE chunk SET pack_id = ?, offset = ?, length = ?, inner = ?, raw_length = ? "
                f"WHERE digest = ? AND pack_id IN ({marks})",
                [(pid, e.offset, e.length, e.inner, e.raw_length, e.digest, *old) for e in pack.entries],
            )
        for candidate in moved:
            cursor = db.execute_sql("DELETE FROM chunk WHERE pack_id = ?", (candidate.id,))
            stats.chunks_reclaimed += cursor.rowcount
            db.execute_sql("DELETE FROM pack WHERE id = ?", (candidate.id,))
            if candidate.live:
                stats.packs_rewritten += 1
            else:
                stats.packs_deleted += 1
