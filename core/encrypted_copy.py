"""The encrypted copy of an unencrypted repository's data: every chunk a version uses, renamed by its keyed id
and sealed into new packs, and every snapshot's manifest written again naming those ids, sealed.

Each chunk is checked against its plain id as it is read, so damage is never carried into the copy. The copy
goes to another layout (the staging folder of core/storage/conversion.py); nothing of the source is changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import blake3
from peewee import SqliteDatabase

from timekeep.core.crypto.chunk_ids import ChunkIds
from timekeep.core.errors import CorruptData
from timekeep.core.restore.plan import StoredExtent, overlay
from timekeep.core.storage import frame
from timekeep.core.storage.layout import MANIFESTS, PACKS, Layout, manifest_name, read_folders, write_folders
from timekeep.core.storage.manifest import read_manifest, write_manifest
from timekeep.core.storage.pack import PackReader, PackWriter, read_footer
from timekeep.core.types import Piece, Progress

GROUP_BYTES = 1 << 20  # chunks gathered per sealed frame, as a backup gathers them
PLAIN = ChunkIds()
LIVE = ("FROM chunk c JOIN pack p ON p.id = c.pack_id "
        "WHERE EXISTS (SELECT 1 FROM extent e WHERE e.chunk_id = c.id)")

ProgressCallback = Callable[[Progress], None]


def live_totals(db: SqliteDatabase) -> tuple[int, int]:
    """How many chunks versions use, and their raw bytes: what the copy will read."""
    count, total = db.execute_sql(f"SELECT COUNT(*), COALESCE(SUM(c.raw_length), 0) {LIVE}").fetchone()
    return int(count), int(total)


class ChunkCopier:
    """Reads live chunks pack by pack, frame by frame, and writes them sealed under their keyed ids."""

    def __init__(self, source: Layout, target: Layout, level: int, progress: ProgressCallback | None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        assert target.sealing is not None
        self.reader, self.writer = PackReader(source), PackWriter(target)
        self.sealing, self.level = target.sealing, level
        self.progress, self.clock = progress, clock
        self.ids: dict[bytes, bytes] = {}
        self._group: list[tuple[bytes, bytes]] = []
        self._size = 0
        self._frame: tuple[tuple[str, int], bytes] | None = None

    def copy(self, db: SqliteDatabase) -> dict[bytes, bytes]:
        """Every live chunk copied and sealed in durable packs; the map from plain ids to keyed ids."""
        total_chunks, total_bytes = live_totals(db)
        start, done = self.clock(), 0
        rows = db.execute_sql(f"SELECT c.digest, p.name, c.offset, c.length, c.inner, c.raw_length {LIVE} "
                              "ORDER BY p.name, c.offset, c.inner")
        try:
            for digest, pack, offset, length, inner, raw_length in rows:
                data = self._frame_of(pack, offset, length)[inner : inner + raw_length]
                if PLAIN.of(data) != digest:
                    raise CorruptData(f"chunk {digest.hex()[:16]} in pack {pack} does not match its digest")
                self._add(self.sealing.ids.of(data), digest, data)
                done += raw_length
                if self.progress is not None:
                    self.progress(Progress("encrypt", len(self.ids), total_chunks, done, total_bytes,
                                           self.clock() - start))
            self._flush()
            self.writer.flush()
        except BaseException:
            self.writer.abort()
            raise
        finally:
            self.reader.close()
        return self.ids

    def _frame_of(self, pack: str, offset: int, length: int) -> bytes:
        """The decoded frame; rows come in pack and offset order, so one frame kept is enough."""
        if self._frame is None or self._frame[0] != (pack, offset):
            self._frame = ((pack, offset), frame.decode(self.reader.read(pack, offset, length)))
        return self._frame[1]

    def _add(self, new_id: bytes, old_id: bytes, data: bytes) -> None:
        if old_id in self.ids:
            return
        self.ids[old_id] = new_id
        if self._group and self._size + len(data) > GROUP_BYTES:
            self._flush()
        self._group.append((new_id, data))
        self._size += len(data)

    def _flush(self) -> None:
        if not self._group:
            return
        members, inner = [], 0
        for new_id, data in self._group:
            members.append((new_id, inner, len(data)))
            inner += len(data)
        raw = b"".join(data for _, data in self._group)
        self.writer.add(self.sealing.seal_frame(members[0][0], raw, self.level), members)
        self._group, self._size = [], 0


def copy_manifests(db: SqliteDatabase, source: Layout, target: Layout, ids: dict[bytes, bytes]) -> int:
    """Each complete snapshot's manifest, at the generation the index holds, written sealed with keyed ids
    (oldest first, so each file's versions come in order for its content ids)."""
    count, content = 0, ContentIds(ids)
    for snapshot_id, gen in db.execute_sql("SELECT id, gen FROM snapshot WHERE state = 'complete' ORDER BY id"):
        records = read_manifest(source.store, manifest_name(snapshot_id, gen))
        header = {k: v for k, v in next(records).items() if k not in ("type", "format", "gen")}
        write_manifest(target, snapshot_id, header, _rekeyed(records, ids, content, snapshot_id), gen)
        count += 1
    return count


class ContentIds:
    """A version's content id is the hash of its chunk ids, which a backup compares to tell unchanged content.
    Each file's chain is laid out as a restore would lay it; where that gives back exactly the chunks the old
    content id was made of (checked against it), the id is made again from the keyed chunk ids, so the next
    backup sees an untouched file's content as unchanged."""

    def __init__(self, ids: dict[bytes, bytes]) -> None:
        self.ids = ids
        self.new: dict[str, str] = {}
        self._chains: dict[str, list[StoredExtent]] = {}

    def follow(self, record: dict[str, Any]) -> None:
        path, old = record.get("path"), record.get("content_id")
        if record.get("state") == "deleted" or record.get("kind") != "file" or not isinstance(path, str):
            self._chains.pop(str(path), None)
            return
        chain = [] if record.get("full") else self._chains.get(path, [])
        seq = len(chain)
        chain = chain + [(seq, e[0], e[1], bytes.fromhex(e[2]), e[3] if len(e) > 3 else 0)
                         for e in record.get("extents") or []]
        self._chains[path] = chain
        if isinstance(old, str) and old not in self.new:
            self._learn(old, overlay(chain, int(record.get("size") or 0)))

    def _learn(self, old: str, pieces: list[Piece]) -> None:
        if any(p.chunk_offset for p in pieces) or blake3.blake3(b"".join(p.digest for p in pieces)).hexdigest() != old:
            return
        if all(p.digest in self.ids for p in pieces):
            self.new[old] = blake3.blake3(b"".join(self.ids[p.digest] for p in pieces)).hexdigest()


def _rekeyed(records: Iterator[dict[str, Any]], ids: dict[bytes, bytes], content: ContentIds, snapshot_id: int
             ) -> Iterator[dict[str, Any]]:
    for record in records:
        if record.get("type") == "version":
            content.follow(record)
            if record.get("extents"):
                record["extents"] = [[e[0], e[1], _new_id(e[2], ids, snapshot_id), *e[3:]]
                                     for e in record["extents"]]
            if record.get("content_id") in content.new:
                record["content_id"] = content.new[record["content_id"]]
        yield record


def _new_id(old: str, ids: dict[bytes, bytes], snapshot_id: int) -> str:
    try:
        return ids[bytes.fromhex(old)].hex()
    except (KeyError, ValueError):
        raise CorruptData(f"snapshot {snapshot_id}'s manifest names chunk {old[:16]}, which is not stored") from None


def copy_folders(source: Layout, target: Layout) -> None:
    write_folders(target, read_folders(source))


def check_copy(target: Layout, ids: dict[bytes, bytes]) -> int:
    """Before the commit, the copy read back as a reader will meet it: every pack's footer opens as that pack's,
    every manifest opens and ends as written, and every chunk either names is in a footer. A copy damaged on its
    way to the medium is found while the old repository is still the repository. The objects read back."""
    assert target.sealing is not None
    stored: set[bytes] = set()
    packs = [found.name for found in target.store.list(PACKS)]
    for name in packs:
        pack = name.rpartition("/")[2].removesuffix(".pack")
        stored.update(entry.digest for entry in read_footer(target.store, pack, target.sealing))
    if not set(ids.values()) <= stored:
        raise CorruptData(f"the encrypted copy in {target.store.where} lacks {len(set(ids.values()) - stored)} "
                          "chunk(s) it wrote")
    manifests = [found.name for found in target.store.list(MANIFESTS)]
    for name in manifests:
        for record in read_manifest(target.store, name, target.sealing):
            if any(bytes.fromhex(extent[2]) not in stored for extent in record.get("extents") or []):
                raise CorruptData(f"the encrypted copy's {name} names a chunk no copied pack holds")
    return len(packs) + len(manifests)
