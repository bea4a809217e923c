"""Read one changed file: chunk it, hash each chunk, store new chunks, find its changed locations.

Runs in a reader thread. The file is opened without following links, checked to be the regular file
the scan saw, and re-checked after reading: a file that changed while being read raises Changing and
is read again by the caller.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import blake3
from peewee import SqliteDatabase

from timekeep.core.capture import attrs
from timekeep.core.capture.chunker import iter_chunks
from timekeep.core.capture.delta import NewChunk, changed_chunks
from timekeep.core.capture.observe import Observed, observe, same_stat
from timekeep.core.capture.scan import ScanItem
from timekeep.core.capture.store import ChunkStore
from timekeep.core.errors import BackupCancelled
from timekeep.core.index import queries
from timekeep.core.restore.plan import paint
from timekeep.core.storage.layout import ChunkerParams

if TYPE_CHECKING:
    from timekeep.core.capture.procs import ReadProcs

MAX_CHAIN_DEPTH = 32
# a file this big stores its new chunks in packs of its own, in its order, not between other files' frames:
# restoring it then takes a few long reads (on a bucket, requests) rather than many short ones
OWN_PACK_BYTES = 8 << 20
O_NOATIME = getattr(os, "O_NOATIME", 0)
# A file whose timestamps are this close to the moment its reading began may change again within the
# same timestamp tick without its stat changing: it is read again next time (as git does). Kernels
# stamp files with a coarse clock (1-10 ms ticks); filesystems with whole-second times (FAT: 2 s) get
# the coarse window.
RACY_NS = 50_000_000
COARSE_RACY_NS = 2_000_000_000


def is_racy(observed: Observed, read_started_ns: int) -> bool:
    coarse = observed.mtime_ns % 1_000_000_000 == 0
    window = COARSE_RACY_NS if coarse else RACY_NS
    return max(observed.mtime_ns, observed.ctime_ns) > read_started_ns - window


class Changing(Exception):
    """The file changed while it was being read."""


class Flow:
    """How far the reader threads are into the files they are reading now, so a backup's progress moves
    while a big file is read rather than jumping when it is done. Only files of more than one read
    block are counted: a small file is done before anyone could see it move."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[bytes, int] = {}

    def seen(self, path: bytes, done: int) -> None:
        with self._lock:
            self._seen[path] = done

    def done(self, path: bytes) -> None:
        """The file is finished (or failed): its bytes are the caller's to count from now on."""
        with self._lock:
            self._seen.pop(path, None)

    def total(self) -> int:
        with self._lock:
            return sum(self._seen.values())


@dataclass(frozen=True)
class ReadContext:
    """What every read in one backup shares."""

    db: SqliteDatabase
    params: ChunkerParams
    store: ChunkStore
    cancel: threading.Event
    started_ns: int
    flow: Flow = field(default_factory=Flow)
    clock: Callable[[], int] = time.time_ns  # when a read begins (racy or not): injected by tests
    procs: ReadProcs | None = None  # capture processes for big files; None reads every file in its thread


@dataclass
class FileResult:
    """A file's new version, ready to index once its chunks are durable; state 'unchanged' records none."""

    item: ScanItem
    observed: Observed
    state: str
    chunks: list[NewChunk]
    stored: list[int]
    full: bool
    depth: int
    chain_rows: int
    content_id: bytes
    racy: bool = False
    depends: set[bytes] = field(default_factory=set)
    digest: bytes = b""  # BLAKE3-256 of the whole content as read
    xattrs: bytes | None = None  # extended attributes, encoded (core/capture/attrs.py)


def open_file(path: bytes) -> int:
    """The file at `path` opened to read, never through a link, never blocking on a FIFO swapped in."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # a FIFO swapped in must not block
    try:
        return os.open(path, flags | O_NOATIME)
    except PermissionError:
        if not O_NOATIME:
            raise
        return os.open(path, flags)


def read_ahead(paths: Iterable[bytes]) -> None:
    """Have the kernel bring these files' contents into the page cache, without waiting for them: a reader that
    waits for the small-file lane (core/capture/backup.py) asks it for its batch, so a cold disk reads the batch
    while the lane's holder works. A file that cannot be opened is left to its read, which reports it."""
    for path in paths:
        try:
            fd = open_file(path)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass  # (not a regular file any more: its read says so)
        finally:
            os.close(fd)


def _fingerprint(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


class Read(NamedTuple):
    """What reading one file gave, wherever it was read: its chunks, the new digests it depends on, the digest
    of its whole content, its stat before reading, its extended attributes, and when its reading began."""

    chunks: list[NewChunk]
    depends: set[bytes]
    digest: bytes
    before: os.stat_result
    xattrs: bytes | None
    started_ns: int


def read_file(item: ScanItem, ctx: ReadContext) -> FileResult:
    got = None
    if ctx.procs is not None and item.observed is not None and ctx.procs.takes(item.observed.size):
        got = ctx.procs.read(item.path, ctx)  # None when no capture process can take it
    if got is None:
        got = read_here(item.path, ctx)
    observed = observe(item.path, got.before, "file")
    result = _result(item, observed, got.chunks, got.depends, ctx.db)
    result.racy = is_racy(observed, got.started_ns)
    result.digest, result.xattrs = got.digest, got.xattrs
    return result


def read_here(path: bytes, ctx: ReadContext) -> Read:
    """Read, chunk, hash and store the file in this thread."""
    fd = open_file(path)
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            raise Changing
        read_started_ns = ctx.clock()
        chunks, depends, digest = _chunk_and_store(fd, ctx, path, before.st_size)
        xattrs = attrs.of_fd(fd)  # before the re-check: changing them changes the ctime
        if changed_since(fd, before, chunks_size(chunks)):
            raise Changing
    finally:
        os.close(fd)
    return Read(chunks, depends, digest, before, xattrs, read_started_ns)


def changed_since(fd: int, before: os.stat_result, size_read: int) -> bool:
    """Whether the open file changed while it was read (its stat moved, or it did not end where it did)."""
    return _fingerprint(os.fstat(fd)) != _fingerprint(before) or size_read != before.st_size


def chunks_size(chunks: list[NewChunk]) -> int:
    return chunks[-1][0] + chunks[-1][1] if chunks else 0


def _chunk_and_store(fd: int, ctx: ReadContext, path: bytes, size: int) -> tuple[list[NewChunk], set[bytes], bytes]:
    """The file's chunks, the new digests it depends on, and the digest of its whole content (what every
    restore of this version is checked against). A file of `size` OWN_PACK_BYTES or more stores its new
    chunks in packs of its own."""
    lane = threading.get_ident() if size >= OWN_PACK_BYTES else None
    chunks: list[NewChunk] = []
    depends: set[bytes] = set()
    whole = blake3.blake3()
    offset = 0
    for block in iter_chunks(fd, ctx.params):
        if ctx.cancel.is_set():
            raise BackupCancelled("backup cancelled; nothing was lost")
        if offset:  # a second block: the file is big enough for its progress to be worth showing
            ctx.flow.seen(path, offset)
        batch = [(ctx.store.ids.of(data), data) for data in block]
        span = getattr(block, "span", None)
        if span is not None:  # the block's chunks as one view: one update hashes faster than one per chunk
            whole.update(span)
        for digest, data in batch:
            chunks.append((offset, len(data), digest))
            offset += len(data)
            if span is None:
                whole.update(data)
        depends |= ctx.store.put(batch, lane)  # before the next block reuses the buffer
    return chunks, depends, whole.digest()


def _full(item: ScanItem, observed: Observed, state: str, chunks: list[NewChunk], content_id: bytes,
          depends: set[bytes]) -> FileResult:
    return FileResult(item, observed, state, chunks, list(range(len(chunks))), True, 0, len(chunks), content_id,
                      depends=depends)


def _result(item: ScanItem, observed: Observed, chunks: list[NewChunk], depends: set[bytes],
            db: SqliteDatabase) -> FileResult:
    content_id = blake3.blake3(b"".join(d for _, _, d in chunks)).digest()
    prev = item.prev
    if prev is None or prev.state == "deleted":
        return _full(item, observed, "created", chunks, content_id, depends)
    if prev.kind != "file":
        return _full(item, observed, "modified", chunks, content_id, depends)
    if prev.content_id == content_id:
        unchanged = same_stat(observed, prev) and observed.mode == prev.mode
        return FileResult(item, observed, "unchanged" if unchanged else "metadata", chunks, [], False,
                          prev.depth, prev.chain_rows, content_id)
    stored = changed_chunks(chunks, paint(queries.chain_extents(db, prev), prev.size))
    rows = prev.chain_rows + len(stored)
    if prev.depth + 1 >= MAX_CHAIN_DEPTH or rows > 2 * len(chunks) + 64:
        return _full(item, observed, "modified", chunks, content_id, depends)
    return FileResult(item, observed, "modified", chunks, stored, False, prev.depth + 1, rows, content_id,
                      depends=depends)
