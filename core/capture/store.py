"""Deduplicated storage of chunks during one backup, shared by the reader threads.

A digest is *claimed* by the first thread that needs it stored; only that thread compresses and packs
it. A file's result depends on every digest it uses that is not yet in the index; it may be committed
once all of those sit in sealed (fsynced) packs — the crash-safety rule of DESIGN.md §2.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from peewee import SqliteDatabase

from core.index import queries
from core.storage import frame
from core.storage.pack import PackWriter, SealedPack


class ChunkStore:
    def __init__(self, db: SqliteDatabase, writer: PackWriter, level: int) -> None:
        self.db = db
        self.writer = writer
        self.level = level
        self._lock = threading.Lock()
        self._claimed: set[bytes] = set()
        self._sealed: set[bytes] = set()
        self.bytes_new = 0

    def put(self, chunks: Sequence[tuple[bytes, memoryview]]) -> set[bytes]:
        """Store whichever of these chunks is not stored yet; return the digests the caller depends on."""
        with self._lock:
            unknown = {d for d, _ in chunks if d not in self._claimed}
        in_index = queries.known_digests(self.db, unknown) if unknown else set()
        mine: list[tuple[bytes, memoryview]] = []
        with self._lock:
            for digest, data in chunks:
                if digest not in in_index and digest not in self._claimed:
                    self._claimed.add(digest)
                    mine.append((digest, data))
        for digest, data in mine:
            blob = frame.encode(data, self.level)
            self.writer.add(digest, len(data), blob)
            with self._lock:
                self.bytes_new += len(blob)
        return {d for d, _ in chunks if d not in in_index}

    def seal(self) -> list[SealedPack]:
        """Seal the open pack; afterwards every chunk stored so far is durable."""
        packs = self.writer.flush()
        with self._lock:
            for pack in packs:
                self._sealed.update(e.digest for e in pack.entries)
        return packs

    def durable(self, digests: set[bytes]) -> bool:
        with self._lock:
            return digests <= self._sealed
