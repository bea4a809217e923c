"""The version builder's second half: stream a plan's pieces from the packs into a file.

Frames are fetched and decompressed a few ahead in threads; every chunk is checked against its digest
before a byte of it is written, so a restore is byte-exact or fails loudly. A caller that keeps nothing of a
version unless the whole of it matches its digest (a restore's temporary file) may have the chunks checked only
when it does not, to name the damage (`provisional`): the second hash of every byte was a sixth of a 2 GiB
image's restore. On a drive each frame is one read; on a bucket, where each read is a request and a round
trip, neighbouring frames of a pack are read together (spans.py) and more reads are in flight. Memory is
bounded by the spans fetched and not yet used up: on a drive six frames (each a span of its own); on a bucket
the four ahead and at most one still open behind them (spans.OPEN_SPANS), each at most 16 frames (16 MiB raw),
plus 8 MiB stored per fetching thread.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO

import blake3
from peewee import SqliteDatabase

from timekeep.core.crypto.chunk_ids import ChunkIds
from timekeep.core.errors import CorruptData, StorageError, TimekeepError
from timekeep.core.index import queries
from timekeep.core.index.histories import IMPOSSIBLE_VALUES
from timekeep.core.index.queries import ChunkLocation
from timekeep.core.restore import build
from timekeep.core.restore.buffers import Buffers
from timekeep.core.restore.spans import Span, SpanLimits, spans
from timekeep.core.storage import frame
from timekeep.core.storage.pack import PackReader, read_footer
from timekeep.core.types import Plan

WINDOW = 6  # frames in flight on a drive
THREADS = 2
REMOTE_WINDOW = 4  # spans in flight on a medium that is no local folder
REMOTE_THREADS = 4
ALONG_EXTENTS = 256  # pieces from which a version's chunks are looked up along its extents (`locate_version`)
Frame = tuple[str, int, int]
Raw = bytes | bytearray  # a frame's contents: a bytearray when read into reused buffers (buffers.py)
PLAIN_IDS = ChunkIds()


def verified_slice(raw: Raw, digest: bytes, where: ChunkLocation, ids: ChunkIds = PLAIN_IDS) -> memoryview:
    """The chunk's bytes inside a decompressed frame, after checking them against the digest."""
    data = memoryview(raw)[where.inner : where.inner + where.raw_length]
    if len(data) != where.raw_length or ids.of(data) != digest:
        raise CorruptData(f"chunk {digest.hex()[:16]} in pack {where.pack} does not match its digest")
    return data


class ChunkSource:
    """Fetches verified chunk contents by digest; the combiner's only access to the drive."""

    def __init__(self, db: SqliteDatabase, reader: PackReader) -> None:
        self.db = db
        self.reader = reader
        self.sealing = reader.layout.sealing
        self.ids = self.sealing.ids if self.sealing is not None else PLAIN_IDS
        self.named: dict[str, dict[int, bytes]] = {}  # pack -> frame offset -> name, from its footer
        remote = reader.layout.store.local_folder is None
        self.limits = SpanLimits() if remote else SpanLimits.one_frame()
        self.window, self.threads = (REMOTE_WINDOW, REMOTE_THREADS) if remote else (WINDOW, THREADS)

    def locate(self, digests: list[bytes]) -> dict[bytes, ChunkLocation]:
        """Where these chunks are; CorruptData if any is not on the drive."""
        return self.usable(digests, queries.chunk_locations(self.db, digests))

    def locate_version(self, plan: Plan) -> dict[bytes, ChunkLocation]:
        """`locate` for the pieces of `plan`; a big one's places read along its chain's extents (for the 2 GiB
        image 0.08-0.10 s where looking up its 24,000 digests took 0.17-0.23, before any byte can flow), by
        digest where that does not give them all."""
        digests = [p.digest for p in plan.pieces]
        if len(digests) < ALONG_EXTENTS:
            return self.locate(digests)
        try:
            found = queries.chunk_locations_of_versions(self.db, build.chain_ids(self.db, plan.path, plan.snapshot_id))
        except (TimekeepError, *IMPOSSIBLE_VALUES):
            found = {}
        return self.usable(digests, found) if found.keys() >= set(digests) else self.locate(digests)

    @staticmethod
    def usable(digests: list[bytes], found: dict[bytes, ChunkLocation]) -> dict[bytes, ChunkLocation]:
        """`found` (places looked up for these digests and maybe others), once every one of `digests` is in it and
        in a pack the drive still holds: CorruptData else."""
        missing = set(digests) - found.keys()
        if missing:
            raise CorruptData(f"{len(missing)} chunk(s) of this version are missing from the index")
        for digest in digests:  # a damaged pack is still read: each chunk is checked as it comes
            where = found[digest]
            if where.state == "missing":
                raise CorruptData(f"pieces of it were in pack {where.pack}, which is missing from the drive"
                                  if where.pack else "pieces of it are in no pack on the drive")
        return found

    def frame(self, where: Frame, stored: bytes | None = None, first: bytes | None = None) -> bytes:
        """A frame's contents (read from the medium, unless `stored` gives its bytes, read with its neighbours);
        CorruptData naming the pack when they are not what was stored. `first` is the chunk the index places at
        the frame's start, when the caller has it (a sealed frame's name, else looked up)."""
        try:
            if stored is None:
                stored = self.reader.read(*where)
            if self.sealing is None:
                return frame.decode(stored)
            return self.sealing.open_frame(first if first is not None else self._first_chunk(where), stored)
        except CorruptData as err:
            raise _naming(where, err) from None

    def frame_in(self, where: Frame, buffers: Buffers, first: bytes | None = None) -> Raw:
        """`frame`, read from the medium into reused buffers when it is plain: its payload read into one (a raw
        frame's contents then, not copied), a compressed one decompressed into another. A sealed frame is
        opened as `frame` opens it."""
        if self.sealing is not None:
            return self.frame(where, None, first)
        pack, offset, length = where
        try:
            if length < frame.FRAME.size:
                raise CorruptData("stored blob is truncated")
            header, payload = bytearray(frame.FRAME.size), buffers.take(length - frame.FRAME.size)
            self.reader.read_into(pack, offset, [header, payload])
            return frame.decode_parts(header, payload, buffers.take)
        except CorruptData as err:
            raise _naming(where, err) from None

    def _first_chunk(self, where: Frame) -> bytes:
        """A sealed frame's name: the id of the chunk it begins with. The index keeps one place per chunk, so
        when that chunk is indexed in another pack (a thinning's copy, or a leftover pack adopted beside it),
        the pack's own footer names the frame."""
        row = self.db.execute_sql("SELECT c.digest FROM chunk c JOIN pack p ON p.id = c.pack_id "
                                  "WHERE p.name = ? AND c.offset = ? AND c.inner = 0", (where[0], where[1])).fetchone()
        if row is not None:
            return bytes(row[0])
        if where[0] not in self.named:
            try:
                entries = read_footer(self.reader.layout.store, where[0], self.sealing)
            except StorageError as err:
                raise CorruptData(f"pack {where[0]} cannot be read ({err})") from None
            self.named[where[0]] = {e.offset: bytes(e.digest) for e in entries if e.inner == 0}
        name = self.named[where[0]].get(where[1])
        if name is None:
            raise CorruptData(f"no chunk begins the frame at {where[1]} in pack {where[0]}")
        return name

    def chunk(self, digest: bytes) -> bytes:
        return self.chunk_at(digest, self.locate([digest])[digest])

    def chunk_at(self, digest: bytes, where: ChunkLocation) -> bytes:
        """The chunk's verified bytes from a known place; CorruptData if they are not there."""
        return bytes(verified_slice(self.frame(where.frame), digest, where, self.ids))


def _naming(where: Frame, err: CorruptData) -> CorruptData:
    text = str(err)
    return CorruptData(text if where[0] in text else f"pack {where[0]} is damaged: {text}")


Needed = dict[bytes, ChunkLocation]  # the chunks of one frame that the plan uses


def _frames_in_order(plan: Plan, where: dict[bytes, ChunkLocation]) -> list[tuple[Frame, Needed]]:
    """The frames to fetch, in the order the plan uses them, each with the chunks wanted from it."""
    order: list[tuple[Frame, Needed]] = []
    for piece in plan.pieces:
        loc = where[piece.digest]
        if not order or order[-1][0] != loc.frame:
            order.append((loc.frame, {}))
        order[-1][1][piece.digest] = loc
    return order


def _fetch_verified(source: ChunkSource, key: Frame, needed: Needed, stored: bytes | None = None,
                    buffers: Buffers | None = None, check: bool = True) -> Raw:
    """Decompress a frame and check every wanted chunk in it (unless not `check`), off the writing thread."""
    first = next((digest for digest, loc in needed.items() if loc.inner == 0), None)  # a sealed frame's name
    raw = source.frame(key, stored, first) if buffers is None or stored is not None else \
        source.frame_in(key, buffers, first)
    if check:
        for digest, loc in needed.items():
            verified_slice(raw, digest, loc, source.ids)
    return raw


def _fetch_span(source: ChunkSource, span: Span, needs: dict[Frame, Needed], buffers: Buffers | None = None,
                check: bool = True) -> dict[Frame, Raw]:
    """The span's frames, each run of them read with one request, decompressed and its wanted chunks checked."""
    if len(needs) == 1:
        return {key: _fetch_verified(source, key, needed, buffers=buffers, check=check)
                for key, needed in needs.items()}
    runs = [(start, source.reader.read(span.pack, start, end - start)) for start, end in span.ranges]
    done: dict[Frame, Raw] = {}
    for key, needed in needs.items():
        start, stored = next((start, data) for start, data in runs if start <= key[1] < start + len(data))
        done[key] = _fetch_verified(source, key, needed, stored[key[1] - start : key[1] - start + key[2]],
                                    check=check)
    return done


def _needs(span: Span, frames: list[tuple[Frame, Needed]]) -> dict[Frame, Needed]:
    """The chunks wanted from each of the span's frames, over every use of it."""
    needs: dict[Frame, Needed] = {}
    for use in span.uses:
        key, needed = frames[use]
        needs.setdefault(key, {}).update(needed)
    return needs


def _prefetch(source: ChunkSource, frames: list[tuple[Frame, Needed]], pool: ThreadPoolExecutor,
              buffers: Buffers | None = None, check: bool = True) -> Iterator[tuple[Frame, Raw]]:
    """The frames in the plan's order, their spans fetched up to `source.window` ahead of the one in use; a
    span's frames are let go after its last use, but a frame fetched alone that the plan comes back to (the
    frame of zeros a disk image keeps returning to) is fetched once and kept until its last use (`_Kept`)."""
    planned = spans([key for key, _ in frames], source.limits)
    owner = {use: n for n, span in enumerate(planned) for use in span.uses}
    fetched: dict[int, Future[dict[Frame, Raw]]] = {}
    unchecked: dict[int, Needed] = {}  # chunks of a kept frame that its earlier uses did not check
    kept = _Kept(planned)
    ahead = 0
    for use, (key, _) in enumerate(frames):
        n = owner[use]
        while ahead < len(planned) and ahead <= n + source.window - 1:
            needs = _needs(planned[ahead], frames)
            again = kept.reuse(planned[ahead], needs)
            if again is None:
                fetched[ahead] = pool.submit(_fetch_span, source, planned[ahead], needs, buffers, check)
                kept.fetched(planned[ahead], needs, fetched[ahead])
            else:
                fetched[ahead], unchecked[ahead] = again
            ahead += 1
        raw = fetched[n].result()[key]
        for digest, loc in unchecked.pop(n, {}).items() if check else ():
            verified_slice(raw, digest, loc, source.ids)
        yield key, raw
        if planned[n].uses[-1] == use:
            del fetched[n]


class _Kept:
    """One-frame spans a plan comes back to, kept from their first fetch to their last use: at most `KEPT`
    frames at once, so memory stays bounded whatever the file."""

    KEPT = 2

    def __init__(self, planned: list[Span]) -> None:
        self.left = Counter(span.frames[0] for span in planned if len(span.frames) == 1)
        self.kept: dict[Frame, tuple[Future[dict[Frame, Raw]], set[bytes]]] = {}

    def reuse(self, span: Span, needs: dict[Frame, Needed]) -> tuple[Future[dict[Frame, Raw]], Needed] | None:
        """The kept fetch of this span's one frame, and the chunks it needs that were not checked yet."""
        if len(span.frames) != 1 or span.frames[0] not in self.kept:
            return None
        key = span.frames[0]
        future, checked = self.kept[key]
        self.left[key] -= 1
        if self.left[key] == 0:
            del self.kept[key]
        new = {digest: loc for digest, loc in needs[key].items() if digest not in checked}
        checked.update(new)
        return future, new

    def fetched(self, span: Span, needs: dict[Frame, Needed], future: Future[dict[Frame, Raw]]) -> None:
        if len(span.frames) != 1:
            return
        key = span.frames[0]
        self.left[key] -= 1
        if self.left[key] > 0 and len(self.kept) < self.KEPT:
            self.kept[key] = (future, set(needs[key]))


Put = Callable[[Raw, int, int], None]  # takes bytes [start, end) of a frame's contents, next in the file


def write_version(source: ChunkSource, plan: Plan, out: BinaryIO,
                  on_bytes: Callable[[int], None] | None = None) -> int:
    """Write the version described by `plan` to `out`; returns the number of bytes written (see
    `stream_version`)."""
    def put(raw: Raw, start: int, end: int) -> None:
        out.write(memoryview(raw)[start:end])

    return stream_version(source, plan, put, on_bytes)


def stream_version(source: ChunkSource, plan: Plan, put: Put, on_bytes: Callable[[int], None] | None = None,
                   where: dict[bytes, ChunkLocation] | None = None, provisional: bool = False) -> int:
    """Hand the version described by `plan` to `put`, run by run, in order; returns the number of bytes.

    Every chunk is checked against its digest before it is handed on, and the whole version against the digest
    recorded when it was backed up once the last byte is out: CorruptData then, and the caller (which
    writes to a temporary) keeps nothing of it. A run is a stretch of one decompressed frame that the file
    uses whole (neighbouring chunks merged), so it is written and hashed in one call rather than per chunk.
    `where` is the pieces' places (`source.locate`), when the caller looked them up on its own thread.
    `provisional`: the caller keeps none of the bytes handed on unless this returns (it writes a temporary and
    removes it on CorruptData), so a version with a recorded digest has its chunks checked only if the whole
    does not match, to say which chunk (and pack) is damaged, as a check before each write would have."""
    if where is None:
        where = source.locate_version(plan)
    needed = _frames_in_order(plan, where)
    if not provisional or plan.digest is None:
        return _stream(source, plan, where, needed, put, on_bytes, check=True)
    try:
        return _stream(source, plan, where, needed, put, on_bytes, check=False)
    except CorruptData:
        for key, chunks in needed:  # the chunks checked in order: the first damaged one is named
            _fetch_verified(source, key, chunks)
        raise


def _stream(source: ChunkSource, plan: Plan, where: dict[bytes, ChunkLocation], needed: list[tuple[Frame, Needed]],
            put: Put, on_bytes: Callable[[int], None] | None, check: bool) -> int:
    """`stream_version`, its chunks checked as they are fetched or (not `check`) not at all."""
    whole = blake3.blake3() if plan.digest is not None else None
    if len(needed) <= 1:  # a small file: fetched on this thread, as starting two threads for it costs more
        written = _put_runs(plan, where, ((key, _fetch_verified(source, key, n, check=check)) for key, n in needed),
                            put, whole, on_bytes)
    else:
        with ThreadPoolExecutor(source.threads, thread_name_prefix="timekeep-fetch") as pool:
            frames = _prefetch(source, needed, pool, Buffers(), check)
            written = _put_runs(plan, where, frames, put, whole, on_bytes)
    if written != plan.size:
        raise CorruptData(f"rebuilt {written} bytes where the version has {plan.size}")
    if whole is not None and whole.digest() != plan.digest:
        raise CorruptData(f"{os.fsdecode(plan.path)} as rebuilt does not match the digest recorded when it was "
                          "backed up; nothing of it was kept")
    return written


def _put_runs(plan: Plan, where: dict[bytes, ChunkLocation], frames: Iterator[tuple[Frame, Raw]], put: Put,
              whole: Any, on_bytes: Callable[[int], None] | None) -> int:
    """Hand on the runs of the plan's frames (each chunk in them already checked) in order, each also fed
    to `whole`; returns the bytes handed on."""
    written = 0
    for raw, start, end in _runs(plan, where, frames):
        if whole is not None:
            whole.update(memoryview(raw)[start:end])
        put(raw, start, end)
        written += end - start
        if on_bytes is not None:
            on_bytes(end - start)
    return written


def _runs(plan: Plan, where: dict[bytes, ChunkLocation],
          frames: Iterator[tuple[Frame, Raw]]) -> Iterator[tuple[Raw, int, int]]:
    """The plan's pieces as (frame contents, start, end), a piece that continues the previous one in the same
    frame joined to it: a file's new chunks lie one after another in their frames."""
    current: Frame | None = None
    raw: Raw = b""
    run: tuple[Raw, int, int] | None = None
    for piece in plan.pieces:
        loc = where[piece.digest]
        while current != loc.frame:
            current, raw = next(frames)
        start = loc.inner + piece.chunk_offset
        if piece.chunk_offset + piece.length > loc.raw_length or start + piece.length > len(raw):
            raise CorruptData(f"chunk {piece.digest.hex()[:16]} is shorter than the version needs")
        if run is not None and run[0] is raw and run[2] == start:
            run = (raw, run[1], start + piece.length)
            continue
        if run is not None:
            yield run
        run = (raw, start, start + piece.length)
    if run is not None:
        yield run
