"""Deduplicated storage of chunks during one backup, shared by the reader threads.

A digest is *claimed* by the first thread that needs it stored; only that thread compresses and packs
it. New chunks that follow each other in a file are compressed together, up to GROUP_BYTES per frame,
so small content-defined chunks compress as well as big ones. A file's result depends on every digest
it uses that is not yet in the index; it may be committed once all of those sit in sealed (fsynced)
packs: data is durable before the index refers to it (FORMAT.md, "Packs").
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

from peewee import SqliteDatabase

from timekeep.core.capture.handed import HandedDigests
from timekeep.core.crypto.chunk_ids import ChunkIds
from timekeep.core.index import queries
from timekeep.core.storage import frame
from timekeep.core.storage.pack import Buffer, PackWriter, SealedPack

if TYPE_CHECKING:  # the keys' code loads for an encrypted repository only
    from timekeep.core.crypto.sealing import Sealing

GROUP_BYTES = 1 << 20
INLINE_BYTES = 128 * 1024  # smaller frames are compressed by the caller: a thread handoff costs more

Chunk = tuple[bytes, memoryview]
Member = tuple[bytes, int, int]  # a chunk in a frame: digest, offset inside the frame, raw length
_Claimable = TypeVar("_Claimable", bound=tuple[bytes, object])


def groups(chunks: Sequence[Chunk], limit: int = GROUP_BYTES) -> Iterator[list[Chunk]]:
    """Consecutive runs of chunks of at most `limit` raw bytes (a bigger chunk goes alone)."""
    group: list[Chunk] = []
    size = 0
    for chunk in chunks:
        if group and size + len(chunk[1]) > limit:
            yield group
            group, size = [], 0
        group.append(chunk)
        size += len(chunk[1])
    if group:
        yield group


def framed(chunks: Sequence[Chunk]) -> Iterator[tuple[bytes, list[Member]]]:
    """The frames chunks to store are packed in: each run of `groups` as its raw bytes (a copy: the views'
    buffer moves on) and its members. The one grouping for every path that stores chunks, so where a file
    is read (a thread or a capture process) changes nothing stored."""
    for group in groups(chunks):
        members, inner = [], 0
        for digest, data in group:
            members.append((digest, inner, len(data)))
            inner += len(data)
        yield b"".join(data for _, data in group), members


def blob(sealing: Sealing | None, raw: bytes, members: list[Member], level: int) -> bytes | bytearray:
    """A frame as stored: compressed (or raw), and sealed in an encrypted repository, named by its first chunk,
    whose id binds it."""
    if sealing is None:
        return frame.encode(raw, level)
    return sealing.seal_frame(members[0][0], raw, level)


def blob_parts(sealing: Sealing | None, raw: bytes, members: list[Member], level: int) -> tuple[Buffer, ...]:
    """`blob` as the pieces it is made of (an unencrypted frame's header, then its payload, which is `raw`
    itself when stored raw), for a writer that writes pieces as they are: joining them copied every byte
    stored while holding the GIL."""
    if sealing is None:
        return frame.parts(raw, level)
    return (sealing.seal_frame(members[0][0], raw, level),)


class ChunkStore:
    """Claims, compresses (in its own threads, so one big file still uses every core) and packs chunks."""

    def __init__(self, db: SqliteDatabase, writer: PackWriter, level: int, threads: int = 2) -> None:
        self.db = db
        self.writer = writer
        self.level = level
        self.sealing = writer.layout.sealing
        # how chunks are named: keyed in an encrypted repository, so ids reveal nothing of the content
        self.ids = self.sealing.ids if self.sealing is not None else ChunkIds()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="timekeep-compress")
        self._slots = threading.BoundedSemaphore(2 * threads + 2)  # frames in flight: bounds memory
        self._lock = threading.Lock()
        self._claimed: set[bytes] = set()
        self._sealed: set[bytes] = set()
        self._failure: BaseException | None = None
        # an index that knows no chunk when the backup begins learns only chunks this store claimed: a first
        # backup asks it nothing (one query per file read was 6% of a small file's cost)
        self._lookup = queries.holds_chunks(db)
        # claimed digests the index holds now (`forget`): asked of it again when met, not held here
        self._handed = HandedDigests()
        self.bytes_new = 0

    def put(self, chunks: Sequence[Chunk], lane: Hashable = None) -> set[bytes]:
        """Store whichever of these chunks is not stored yet, in the open pack of `lane` (see PackWriter);
        return the digests the caller depends on.

        Big frames are compressed in the store's threads while the caller reads on; the caller's result
        waits for its digests to be sealed anyway (`durable`). The chunk views may be reused as soon as
        this returns.
        """
        self._raise_failure()
        mine, in_index = self._claim(chunks)
        for raw, members in framed(mine):
            if len(raw) < INLINE_BYTES:
                self._write(raw, members, lane)
                continue
            self._slots.acquire()
            self._pool.submit(self._write_in_pool, raw, members, lane)
        return {d for d, _ in chunks if d not in in_index}

    def claim(self, digests: Sequence[bytes]) -> tuple[list[int], set[bytes]]:
        """`put` for a caller that packs frames elsewhere (a capture process): which of these chunks it is to
        store (their places in `digests`, claimed now), and the digests it depends on. Every chunk claimed
        must then be handed to `add_frame`, or the backup cannot end."""
        self._raise_failure()
        mine, in_index = self._claim([(d, at) for at, d in enumerate(digests)])
        return [at for _, at in mine], {d for d in digests if d not in in_index}

    def add_frame(self, stored: bytes | bytearray, members: list[Member], lane: Hashable = None) -> None:
        """Append a frame made by `blob` from chunks this store's `claim` handed out."""
        self.writer.add(stored, members, lane)
        with self._lock:
            self.bytes_new += len(stored)

    def _claim(self, chunks: Sequence[_Claimable]) -> tuple[list[_Claimable], set[bytes]]:
        """The chunks the caller is to store (claimed now), and the digests the index holds. A digest is
        claimed under the lock only once the index was asked about it, or when it cannot be there; one
        forgotten between the asking and the claiming is asked about again, so nothing is stored twice."""
        asked: set[bytes] = set()
        in_index: set[bytes] = set()
        while True:
            with self._lock:
                ask = {d for d, _ in chunks if d not in self._claimed and d not in asked
                       and (self._lookup or d in self._handed)}
                if not ask:
                    mine: list[_Claimable] = []
                    for chunk in chunks:
                        digest = chunk[0]
                        if digest not in in_index and digest not in self._claimed:
                            self._claimed.add(digest)
                            mine.append(chunk)
                    return mine, in_index
            in_index |= queries.known_digests(self.db, ask)
            asked |= ask

    def _write_in_pool(self, raw: bytes, members: list[Member], lane: Hashable) -> None:
        try:
            self._write(raw, members, lane)
        except BaseException as err:  # handed to the backup's thread by the next put or seal
            with self._lock:
                self._failure = self._failure or err
        finally:
            self._slots.release()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def close(self) -> None:
        """Wait for every frame in flight; then the open pack holds all claimed chunks."""
        self._pool.shutdown(wait=True)
        self._raise_failure()

    def _write(self, raw: bytes, members: list[Member], lane: Hashable) -> None:
        parts = blob_parts(self.sealing, raw, members, self.level)
        self.writer.add_parts(parts, members, lane)
        with self._lock:
            self.bytes_new += sum(len(part) for part in parts)

    def seal(self) -> list[SealedPack]:
        """Seal the open pack; afterwards every chunk appended so far is durable."""
        self._raise_failure()
        packs = self.writer.flush()
        with self._lock:
            for pack in packs:
                self._sealed.update(e.digest for e in pack.entries)
        return packs

    def forget(self, packs: Sequence[SealedPack]) -> None:
        """The index holds these sealed packs' chunks now: stop holding their digests (memory would grow with
        every chunk of a long backup); a later `put` of one asks the index."""
        with self._lock:
            for pack in packs:
                for entry in pack.entries:
                    self._handed.add(entry.digest)
                    self._claimed.discard(entry.digest)
                    self._sealed.discard(entry.digest)

    def held(self) -> int:
        """How many digests the store holds in memory now (claimed and not yet forgotten)."""
        with self._lock:
            return len(self._claimed)

    def durable(self, digests: set[bytes]) -> bool:
        """Whether these digests, each claimed in this backup, are sealed; a claimed digest no longer held was
        forgotten, which only a commit of its pack does."""
        with self._lock:
            return all(d in self._sealed or d not in self._claimed for d in digests)
