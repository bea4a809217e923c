"""Write a restored file so that its runs of zeros become holes, as a sparse file had them.

Bytes are gathered into blocks that start at page-aligned offsets; within a block, every aligned page of
zeros is skipped rather than written, and the file is sized with ftruncate at the end, so the kernel
reads a hole as zeros. A block with no page of zeros anywhere (the usual case) is written whole after
one fast search. On a filesystem without holes, skipping and sizing simply give zeros.
"""

from __future__ import annotations

import os

PAGE = 4096
BLOCK = 1 << 20
ZERO_PAGE = bytes(PAGE)


class SparseFile:
    """A write-only sink for `write_version` over a new, empty file's descriptor; call `finish` once the
    version is whole."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.offset = 0  # of the block's first byte in the file: always a multiple of PAGE until `finish`
        self.block = bytearray()

    def write(self, data: bytes | memoryview) -> int:
        self.block += data
        if len(self.block) >= BLOCK:
            self._flush(len(self.block) - len(self.block) % PAGE)
        return len(data)

    def finish(self) -> None:
        """Write what is left and give the file its size (a trailing hole is written by nobody)."""
        self._flush(len(self.block))
        os.ftruncate(self.fd, self.offset)

    def _flush(self, n: int) -> None:
        """Write the block's first `n` bytes, skipping whole pages of zeros, and drop them from the block."""
        with memoryview(self.block) as view:
            if self.block.find(ZERO_PAGE, 0, n) < 0:
                self._write(view[:n], self.offset)
            else:
                for start, end in _data_runs(self.block, n):
                    self._write(view[start:end], self.offset + start)
        del self.block[:n]
        self.offset += n

    def _write(self, data: memoryview, at: int) -> None:
        while data:
            done = os.pwrite(self.fd, data, at)
            data, at = data[done:], at + done


def _data_runs(block: bytearray, n: int) -> list[tuple[int, int]]:
    """The [start, end) runs of the block's first `n` bytes that are not whole pages of zeros (a last,
    partial page of zeros counts as one: the final size brings it back)."""
    runs: list[tuple[int, int]] = []
    start = 0
    for at in range(0, n, PAGE):
        end = min(at + PAGE, n)
        if block.startswith(ZERO_PAGE[: end - at], at, end):
            if start < at:
                runs.append((start, at))
            start = end
    if start < n:
        runs.append((start, n))
    return runs
