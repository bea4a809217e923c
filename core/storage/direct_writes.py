"""Appending a pack to its temporary past the page cache (O_DIRECT), where the drive allows it.

A pack is written once, fsynced before it is published, and not read again by the backup that writes it.
Written through the page cache, every byte is first copied into a page the kernel has to find for it; on
the machines bench/ runs on, that copy was a fifth of a first backup's CPU (bench/README.md, "Packs written
past the page cache"), and the pages it fills push the person's own files out of memory. Written directly,
the kernel hands one reused buffer to the drive instead, and the fsync that seals the pack has no data left
to flush. (A restore is not written this way: nothing waits there for its bytes to reach the disk, and
direct writes made it wait.)

A direct write takes whole blocks from an aligned buffer at an aligned offset, so the pieces handed in are
gathered in such a buffer and written a whole block at a time; the last part of a pack (less than a block)
is written once O_DIRECT is turned off again. Where a filesystem or device refuses direct writes (at
`fcntl`, or with EINVAL or EOPNOTSUPP at any write), the rest of the file is written as before, through the
page cache. Either way the bytes, their order and the fsync that seals the pack are the same.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import mmap
import os
from collections.abc import Sequence

BLOCK = 4096  # a multiple of every logical block size direct writes must keep to (512 or 4096)
IOV_MAX = 1024  # pieces one writev takes (Linux's bound)
REFUSED = (errno.EINVAL, errno.EOPNOTSUPP)  # how a filesystem or device refuses a direct write

Buffer = bytes | bytearray | memoryview


def write_pieces(fd: int, pieces: Sequence[Buffer]) -> None:
    """Write the pieces one after the other with as few system calls as it takes: gathered by the kernel
    (writev) rather than copied into one buffer first, a copy that held the GIL for every byte stored."""
    views = [memoryview(p) for p in pieces if len(p)]
    at = 0
    while at < len(views):
        done = os.writev(fd, views[at : at + IOV_MAX])
        while at < len(views) and done >= len(views[at]):
            done -= len(views[at])
            at += 1
        if done:
            views[at] = views[at][done:]


def _direct_on(fd: int) -> bool:
    """Turn O_DIRECT on for `fd`; False where it cannot be: the filesystem does not take it (EINVAL), or
    fcntl fails at all (the ordinary way then writes, and meets any real fault of the drive)."""
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_DIRECT)
    except OSError:
        return False
    return True


def _direct_off(fd: int) -> None:
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_DIRECT)


def _let_go(buffer: mmap.mmap) -> None:
    """Unmap the buffer now, or, while a view of it is still held (by the traceback of a failed write), once
    the last view goes."""
    with contextlib.suppress(BufferError):
        buffer.close()


class DirectAppender:
    """Appends to a new, empty file from its start, directly where the drive allows (see the module's doc).

    `finish` must be called once everything is appended: until then up to a block stays in the buffer.
    """

    def __init__(self, fd: int, capacity: int) -> None:
        self.fd = fd
        self.direct = _direct_on(fd)
        self._buffer = mmap.mmap(-1, max(BLOCK, capacity - capacity % BLOCK)) if self.direct else None
        self._fill = 0

    def write(self, pieces: Sequence[Buffer]) -> None:
        """Append the pieces; whole blocks reach the file now, the rest at the next write or at `finish`."""
        if self._buffer is None:
            write_pieces(self.fd, pieces)
            return
        room = len(self._buffer)
        for piece in pieces:
            view = memoryview(piece).cast("B")
            while view:
                take = min(room - self._fill, len(view))
                self._buffer[self._fill : self._fill + take] = view[:take]
                self._fill += take
                view = view[take:]
                if self._fill == room:
                    self._write_blocks()
        self._write_blocks()

    def finish(self) -> None:
        """Write what is left in the buffer (less than a block) with O_DIRECT off, and let the buffer go."""
        buffer, self._buffer = self._buffer, None
        if buffer is None:
            return
        try:
            if self._fill:
                _direct_off(self.fd)
                self.direct = False
                write_pieces(self.fd, [memoryview(buffer)[: self._fill]])
        finally:
            self._fill = 0
            _let_go(buffer)

    def close(self) -> None:
        """Let the buffer go without writing it (a pack given up)."""
        buffer, self._buffer = self._buffer, None
        if buffer is not None:
            _let_go(buffer)

    def _write_blocks(self) -> None:
        """Write the buffer's whole blocks and move what is left of it to its start."""
        assert self._buffer is not None
        whole = self._fill - self._fill % BLOCK
        if not whole:
            return
        with memoryview(self._buffer) as view:
            self._write_direct(view[:whole])
        left = self._fill - whole
        if left:
            self._buffer.move(0, whole, left)
        self._fill = left

    def _write_direct(self, blocks: memoryview) -> None:
        """Write whole blocks directly; a refusal (EINVAL) or a write cut short on no block's edge turns
        O_DIRECT off and writes the rest through the page cache, as every later write will be."""
        while blocks:
            if self.direct:
                try:
                    done = os.write(self.fd, blocks)
                except OSError as err:
                    if err.errno not in REFUSED:
                        raise
                    done = 0
                if done == 0 or done % BLOCK:
                    self._give_up_direct()
                blocks = blocks[done:]
            else:
                write_pieces(self.fd, [blocks])
                return

    def _give_up_direct(self) -> None:
        _direct_off(self.fd)
        self.direct = False

