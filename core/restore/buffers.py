"""Frame buffers reused within one file's restore, so a big file costs no fresh memory per frame.

A restore of a 2 GiB file reads and decompresses about two thousand 1 MiB frames. Each into a fresh buffer
cost a page fault per 4 KiB (about 250,000, half a CPU second of the kernel's) as the C library handed the
freed megabytes back and took them again; reused, they cost none (bench/README, "Third pass: the image").

A buffer is taken again only when nothing else refers to it: its reference count is what the pool's own
list gives it. A frame queued for the writer, a run being hashed or written, a view of it anywhere, all hold
a reference, so a buffer is never refilled under a reader. Per file, not per repository: the memory goes
when the file is done.
"""

from __future__ import annotations

import sys
import threading

KEEP = 24  # buffers kept for reuse: a file's frames in flight (window, writer queue, kept frames) fit


class Buffers:
    """Bytearrays of a requested length, reused once no one holds them; thread-safe."""

    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self._kept: list[bytearray] = [bytearray()]
        self._idle = self._references(0)  # what the list alone gives, measured the way it is checked
        self._kept.clear()
        self._lock = threading.Lock()

    def _references(self, n: int) -> int:
        return sys.getrefcount(self._kept[n])

    def take(self, size: int) -> bytearray:
        """A buffer of exactly `size` bytes (its contents are whatever it held before)."""
        with self._lock:
            free = [n for n in range(len(self._kept)) if self._references(n) == self._idle]
            if free:  # the one whose memory fits best: a payload's buffer is not stretched to a frame and back
                return _sized(self._kept[min(free, key=lambda n: abs(self._kept[n].__alloc__() - 1 - size))], size)
            fresh = bytearray(size)
            if len(self._kept) < self.keep:
                self._kept.append(fresh)
            return fresh


def _sized(buf: bytearray, size: int) -> bytearray:
    """`buf` made `size` long in place (it has no views: the pool checked): within what it holds, no copy."""
    if len(buf) > size:
        del buf[size:]
    elif len(buf) < size:
        buf.extend(bytes(size - len(buf)))
    return buf
