"""Content-defined chunking of a file as a stream, so memory stays flat whatever the file's size.

FastCDC (compiled) finds cut points: fastcdc 1.7 for a repository whose config says `"fastcdc"`, pyfastcdc
(the 2020 variant, which cuts with the GIL released, so readers cut in parallel) for `"fastcdc2020"`. A block
is read, cut, and its last chunk carried into the next block unless the file ended, since that chunk's cut
point may depend on bytes not read yet: both cut a chunk from at most `max_size` bytes after its start, so
every other cut is the one the whole file would give.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from timekeep.core.errors import TimekeepError
from timekeep.core.storage.layout import ChunkerParams

BLOCK_SIZE = 4 * 1024 * 1024  # per reader thread; measured against 2 and 8 MiB (bench/README.md)


Cutter = Callable[[memoryview], Iterable[Any]]  # a block's cuts, in order, each with `offset` and `length`


@functools.cache
def cutter(params: ChunkerParams) -> Cutter:
    """The compiled chunker the params name, never a pure-Python fallback, which is a hundred times slower.
    Imported when first needed: fastcdc's `__init__` imports click, which a backup of small files never pays
    for. A pyfastcdc chunker holds only its settings (each cut keeps its own state), so threads share it."""
    try:
        return _compiled(params)
    except ImportError as err:  # an install (or a bundle) without it: one line, not a reader's traceback
        raise TimekeepError(f"this Timekeep cannot cut files with {params.algorithm!r} ({err}): "
                            "reinstall Timekeep") from None


def _compiled(params: ChunkerParams) -> Cutter:
    if params.algorithm == "fastcdc2020":
        from pyfastcdc.cy import FastCDC

        assert params.normalization is not None  # pinned by the name (layout.NORMALIZATION)
        cdc = FastCDC(params.avg_size, min_size=params.min_size, max_size=params.max_size,
                      normalized_chunking=params.normalization, seed=0)
        return cdc.cut_buf  # type: ignore[no-any-return]
    if params.algorithm != "fastcdc":
        raise ValueError(f"no chunker named {params.algorithm!r}")  # never: the config reader refuses it
    from fastcdc.fastcdc_cy import fastcdc_cy

    return functools.partial(fastcdc_cy, min_size=params.min_size, avg_size=params.avg_size,
                             max_size=params.max_size)


_local = threading.local()


def _buffer(size: int) -> bytearray:
    """One read buffer per thread, reused: allocating megabytes per small file would dominate."""
    buf: bytearray | None = getattr(_local, "buffer", None)
    if buf is None or len(buf) != size:
        buf = _local.buffer = bytearray(size)
    return buf


def _read_full(fd: int, view: memoryview) -> int:
    """Fill `view`; a short read means the end of a regular file (a file that grows meanwhile is caught
    by the reader's stat check afterwards), which saves a second system call per small file."""
    got = 0
    while got < len(view):
        n = os.readv(fd, [view[got:]])
        got += n
        if n == 0 or got < len(view):
            break
    return got


class Block(list[memoryview]):
    """One block's chunks, in file order, and `span`: the same bytes as one view (the chunks are contiguous),
    so what hashes the whole file takes a block in one call rather than one per chunk."""

    __slots__ = ("span",)

    def __init__(self, chunks: list[memoryview], span: memoryview) -> None:
        super().__init__(chunks)
        self.span = span


def iter_chunks(fd: int, params: ChunkerParams, block_size: int = BLOCK_SIZE) -> Iterator[Block]:
    """Yield the chunks of the open file a block at a time, as views valid until the next block is asked for
    (each a `Block`, whose `span` is all of them at once).

    The views share one reusable buffer: a caller that keeps chunk data past the next block must copy it.
    """
    buf = _buffer(block_size + params.max_size)
    view = memoryview(buf)
    carry = 0
    while True:
        got = _read_full(fd, view[carry : carry + block_size])
        filled = carry + got
        eof = got < block_size
        if filled == 0:
            return
        if eof and filled <= params.min_size:  # FastCDC never cuts before min_size: one chunk, and no call
            end, chunks = filled, [view[:filled]]
        else:
            end, chunks = _cut(cutter(params), view[:filled], eof)
        yield Block(chunks, view[:end])
        if eof:
            return
        carry = filled - end
        buf[:carry] = buf[end:filled]


def _cut(cdc: Cutter, data: memoryview, eof: bool) -> tuple[int, list[memoryview]]:
    """Where the chunks of `data` end, and the chunks; the last is held back unless the file ended there."""
    cuts = list(cdc(data))
    if not eof:
        cuts = cuts[:-1]
    end = cuts[-1].offset + cuts[-1].length if cuts else 0
    chunks = [data[cut.offset : cut.offset + cut.length] for cut in cuts]
    if sum(len(c) for c in chunks) != end or (cuts and cuts[0].offset != 0):  # never: cuts tile the block
        raise AssertionError("the chunker's cuts do not tile the block")
    return end, chunks
