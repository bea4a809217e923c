"""Giving memory the process freed back to the system while long work goes on.

glibc keeps what a thread freed in that thread's arena, for reuse; a backup's readers and compressors free
megabyte buffers in turn on several threads, between index pages and digests that live on, so the arenas
fragment and the process keeps tens of MiB it no longer uses (bench/README.md, "Peak memory").
`malloc_trim(0)` hands every wholly free page of every arena back. Where the C library has no such call
(not glibc), this does nothing.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def release_free_memory() -> bool:
    """Hand free memory back to the system; False where the C library cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


M_MMAP_THRESHOLD = -3  # mallopt's parameter number in glibc's malloc.h


def map_big_buffers(threshold: int = 256 * 1024) -> bool:
    """Serve every allocation of `threshold` bytes or more by its own mapping, returned to the system when freed.

    glibc raises its threshold as big buffers are freed, so a process that frees megabyte frames on several
    threads otherwise keeps them in its arenas; a process with no other use for the memory (a capture
    process) gives it back at once instead. False where the C library cannot."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))
