"""The version builder's second half: stream a plan's pieces from the packs into a file (claims 16, 19).

Chunks are fetched and decompressed a few ahead in threads; each is checked against its digest before
a byte of it is written, so a restore is byte-exact or fails loudly. Memory is bounded by the window.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

import blake3
from peewee import SqliteDatabase

from core.errors import CorruptData
from core.index import queries
from core.index.queries import ChunkLocation
from core.storage import frame
from core.storage.pack import PackReader
from core.types import Plan

WINDOW = 8


class ChunkSource:
    """Fetches verified chunk contents by digest; the combiner's only access to the drive."""

    def __init__(self, db: SqliteDatabase, reader: PackReader) -> None:
        self.db = db
        self.reader = reader

    def locate(self, digests: list[bytes]) -> dict[bytes, ChunkLocation]:
        found = queries.chunk_locations(self.db, digests)
        missing = set(digests) - found.keys()
        if missing:
            raise CorruptData(f"{len(missing)} chunk(s) of this version are missing from the index")
        return found

    def fetch(self, digest: bytes, where: ChunkLocation) -> bytes:
        data = frame.decode(self.reader.read(where.pack, where.offset, where.length))
        if blake3.blake3(data).digest() != digest:
            raise CorruptData(f"chunk {digest.hex()[:16]} in pack {where.pack} does not match its digest")
        return data

    def chunk(self, digest: bytes) -> bytes:
        return self.fetch(digest, self.locate([digest])[digest])


def _distinct_runs(plan: Plan) -> list[bytes]:
    """Digests in plan order with consecutive repeats folded, so a run of equal chunks is fetched once."""
    order: list[bytes] = []
    for piece in plan.pieces:
        if not order or order[-1] != piece.digest:
            order.append(piece.digest)
    return order


def _prefetch(source: ChunkSource, plan: Plan, pool: ThreadPoolExecutor) -> Iterator[tuple[bytes, bytes]]:
    order = _distinct_runs(plan)
    where = source.locate(order)
    window: deque[tuple[bytes, Future[bytes]]] = deque()
    for digest in order:
        window.append((digest, pool.submit(source.fetch, digest, where[digest])))
        if len(window) >= WINDOW:
            d, fut = window.popleft()
            yield d, fut.result()
    while window:
        d, fut = window.popleft()
        yield d, fut.result()


def write_version(source: ChunkSource, plan: Plan, out: BinaryIO,
                  on_bytes: Callable[[int], None] | None = None) -> int:
    """Write the version described by `plan` to `out`; returns the number of bytes written."""
    written = 0
    with ThreadPoolExecutor(2, thread_name_prefix="timekeep-fetch") as pool:
        chunks = _prefetch(source, plan, pool)
        digest, data = b"", b""
        for piece in plan.pieces:
            while digest != piece.digest:
                digest, data = next(chunks)
            part = memoryview(data)[piece.chunk_offset : piece.chunk_offset + piece.length]
            if len(part) != piece.length:
                raise CorruptData(f"chunk {digest.hex()[:16]} is shorter than the version needs")
            out.write(part)
            written += piece.length
            if on_bytes is not None:
                on_bytes(piece.length)
    if written != plan.size:
        raise CorruptData(f"rebuilt {written} bytes where the version has {plan.size}")
    return written
