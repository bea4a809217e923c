"""Any range of one version, read on demand: what a mounted file's read() needs without building it whole.

Only the frames that hold the asked range are read, each chunk is checked against its digest before a byte of
it is handed back, and a version read from its start to its end is checked against its whole-file digest
before its last bytes are handed back (CorruptData then, and for every read after). A few frames stay
decompressed, since the kernel asks for 128 KiB at a time and a frame holds up to 1 MiB.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from typing import Any

import blake3

from timekeep.core.errors import CorruptData
from timekeep.core.restore.combine import ChunkSource, Frame, verified_slice
from timekeep.core.types import Plan

KEPT_FRAMES = 4  # decompressed frames kept per open version: 4 MiB at most


class VersionRanges:
    """One version of a file, readable by range from any thread (reads are serialised: one file, one reader)."""

    def __init__(self, source: ChunkSource, plan: Plan) -> None:
        self._source = source
        self._plan = plan
        self._where = source.locate([p.digest for p in plan.pieces]) if plan.pieces else {}
        self._starts = [p.offset for p in plan.pieces]
        self._frames: OrderedDict[Frame, bytes] = OrderedDict()
        self._checked: set[tuple[Frame, bytes]] = set()
        self._whole: Any = blake3.blake3() if plan.digest is not None else None
        self._hashed = 0  # bytes from the start fed to the whole-file digest, in order
        self._failed: str | None = None
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return self._plan.size

    def read(self, offset: int, size: int) -> bytes:
        """Bytes [offset, offset + size) of the version, cut at its end; CorruptData if any of them cannot be
        shown to be the stored ones."""
        with self._lock:
            if self._failed is not None:
                raise CorruptData(self._failed)
            try:
                data = self._read(offset, min(offset + size, self._plan.size))
                self._feed_whole(offset, data)
            except CorruptData as err:
                self._failed = str(err)
                raise
            return data

    def _read(self, start: int, end: int) -> bytes:
        if start >= end:
            return b""
        parts: list[bytes | memoryview] = []
        first = max(bisect.bisect_right(self._starts, start) - 1, 0)
        at = start
        for piece in self._plan.pieces[first:]:
            if piece.offset >= end:
                break
            if piece.offset + piece.length <= at:
                continue
            if piece.offset > at:
                raise CorruptData(f"stored version has no data for bytes {at}–{piece.offset}")
            loc = self._where[piece.digest]
            raw = self._frame(loc.frame, piece.digest)
            if piece.chunk_offset + piece.length > loc.raw_length:
                raise CorruptData(f"chunk {piece.digest.hex()[:16]} is shorter than the version needs")
            inner = loc.inner + piece.chunk_offset + (at - piece.offset)
            upto = min(end, piece.offset + piece.length)
            parts.append(memoryview(raw)[inner : inner + upto - at])
            at = upto
        if at != end:
            raise CorruptData(f"stored version has no data for bytes {at}–{end}")
        return b"".join(parts)

    def _frame(self, key: Frame, digest: bytes) -> bytes:
        """The frame's contents, with `digest`'s chunk in it checked (once per frame held)."""
        raw = self._frames.get(key)
        if raw is None:
            raw = self._source.frame(key)
            self._frames[key] = raw
            while len(self._frames) > KEPT_FRAMES:
                dropped, _ = self._frames.popitem(last=False)
                self._checked = {c for c in self._checked if c[0] != dropped}
        else:
            self._frames.move_to_end(key)
        if (key, digest) not in self._checked:
            verified_slice(raw, digest, self._where[digest], self._source.ids)
            self._checked.add((key, digest))
        return raw

    def _feed_whole(self, offset: int, data: bytes) -> None:
        """Carry the whole-file digest along a read that continues where the digest stands; at the end, check it."""
        if self._whole is None or not offset <= self._hashed < offset + len(data):
            return
        self._whole.update(memoryview(data)[self._hashed - offset :])
        self._hashed = offset + len(data)
        if self._hashed == self._plan.size and self._whole.digest() != self._plan.digest:
            raise CorruptData(f"{self._plan.path.decode(errors='replace')} as read does not match the digest "
                              "recorded when it was backed up")
