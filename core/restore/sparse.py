"""Write a restored file so that its runs of zeros become holes, as a sparse file had them.

The file arrives as runs of decompressed frames (combine.stream_version) and is written straight from
them, never copied into a block first. Each run is cut at page-aligned offsets of the file; a page that
straddles two runs is gathered in a small carry (at most one page). Within a run, every aligned page of
zeros is skipped rather than written, and the file is sized with ftruncate at the end, so the kernel reads
a hole as zeros; a run with no page of zeros anywhere (the usual case) is written whole after one fast
search. On a filesystem without holes, skipping and sizing simply give zeros.

A big file is written by a thread of its own: pwrite releases the GIL, so the file's runs go to the disk
while the restore's main thread hashes the next ones and its fetch threads decompress and check more.
"""

from __future__ import annotations

import ctypes
import errno
import os
import queue
import threading
from types import TracebackType

PAGE = 4096
ZERO_PAGE = bytes(PAGE)
QUEUED = 8  # runs waiting for the writer thread: at most 8 frames (8 MiB) held for it
RESERVE = 64 << 10  # a write at least this long has its blocks reserved first (`_reserve`)
Run = tuple[bytes | bytearray, int, int]
_fallocate = getattr(ctypes.CDLL(None, use_errno=True), "fallocate", None)
if _fallocate is not None:
    _fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]


class SparseFile:
    """A sink for `stream_version` over a new, empty file's descriptor: `put` each run in order, then
    `finish` once the version is whole. Use as a context manager: leaving it stops the writer thread, also
    on an error. With `threaded`, runs are written by a thread of its own (for big files: starting a
    thread costs more than a small file's whole write)."""

    def __init__(self, fd: int, threaded: bool = False) -> None:
        self.fd = fd
        self.offset = 0  # of the carry's first byte in the file: always a multiple of PAGE until `finish`
        self.carry = bytearray()
        self.end = 0  # of the file as written so far
        self.error: BaseException | None = None
        self.reserving = _fallocate is not None  # until the filesystem says it cannot
        self._queue: queue.Queue[Run | None] | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            self._queue = queue.Queue(QUEUED)
            self._thread = threading.Thread(target=self._drain, name="timekeep-write", daemon=True)
            self._thread.start()

    def __enter__(self) -> SparseFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stop()

    def put(self, raw: bytes | bytearray, start: int, end: int) -> None:
        """Write bytes [start, end) of `raw` next; `raw` must not change afterwards (it is written later)."""
        if self.error is not None:
            raise self.error
        if self._queue is None:
            self._write_run(raw, start, end)
        else:
            self._queue.put((raw, start, end))

    def finish(self) -> None:
        """Write what is left and give the file its size (a trailing hole is written by nobody)."""
        self._stop()
        if self.error is not None:
            raise self.error
        if self.carry.count(0) != len(self.carry):  # a last, partial page of zeros: the size brings it back
            self._pwrite(memoryview(self.carry), self.offset)
        if self.end != self.offset + len(self.carry):  # one system call less for most small files
            os.ftruncate(self.fd, self.offset + len(self.carry))

    def _stop(self) -> None:
        if self._thread is not None and self._queue is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _drain(self) -> None:
        """The writer thread: write runs until told to stop; after an error, only take them (so `put`
        never blocks) and keep the error for the main thread."""
        assert self._queue is not None
        while (run := self._queue.get()) is not None:
            if self.error is None:
                try:
                    self._write_run(*run)
                except BaseException as err:  # handed to the main thread by `put` and `finish`
                    self.error = err

    def _write_run(self, raw: bytes | bytearray, start: int, end: int) -> None:
        """Write a run: first complete the carried page, then the run's whole pages, and carry its tail."""
        if self.carry:
            take = min(PAGE - len(self.carry), end - start)
            self.carry += memoryview(raw)[start : start + take]
            start += take
            if len(self.carry) < PAGE:
                return
            self._write_pages(bytes(self.carry), 0, PAGE)
            self.carry.clear()
        whole = end - start - (end - start) % PAGE
        self._write_pages(raw, start, start + whole)
        self.carry += memoryview(raw)[start + whole : end]

    def _write_pages(self, raw: bytes | bytearray, start: int, end: int) -> None:
        """Write whole pages raw[start:end] at the file's offset, skipping pages of zeros."""
        with memoryview(raw) as view:
            for begin, stop in data_runs(raw, start, end):
                self._pwrite(view[begin:stop], self.offset + begin - start)
        self.offset += end - start

    def _pwrite(self, data: memoryview, at: int) -> None:
        self.end = max(self.end, at + len(data))
        if len(data) >= RESERVE and self.reserving:
            self.reserving = _reserve(self.fd, at, len(data))
        while data:
            done = os.pwrite(self.fd, data, at)
            data, at = data[done:], at + done


def data_runs(raw: bytes | bytearray, start: int, end: int) -> list[tuple[int, int]]:
    """The [begin, stop) runs of raw[start:end] (whole pages from `start`) that are not pages of zeros.

    Only a page whose first byte is zero can be a page of zeros: those bytes are gathered with one strided
    copy (a byte a page), and only the pages they name are compared whole. Searching the run for a page of
    zeros instead cost the image's writer thread 5% of the restore's CPU (bench/README, "Sixth pass")."""
    runs: list[tuple[int, int]] = []
    with memoryview(raw) as view:
        heads = bytes(view[start:end:PAGE])
    begin = start
    at = heads.find(0)
    while at >= 0:
        page = start + at * PAGE
        if raw.startswith(ZERO_PAGE, page, page + PAGE):
            if begin < page:
                runs.append((begin, page))
            begin = page + PAGE
        at = heads.find(0, at + 1)
    if begin < end:
        runs.append((begin, end))
    return runs


def _reserve(fd: int, at: int, length: int) -> bool:
    """Allocate the blocks of [at, at + length) before they are written (only where data goes: holes stay
    holes): the page cache then takes a write at about two thirds of the CPU it costs when each page's block
    is reserved as it is dirtied (bench/README, "Third pass: the image"). False where the filesystem cannot
    (the writes then go on without); a full disk is an error here as it would be at the write."""
    assert _fallocate is not None
    if _fallocate(fd, 0, at, length) == 0:
        return True
    err = ctypes.get_errno()
    if err == errno.EINTR:  # this range is simply written without
        return True
    if err in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
        return False
    raise OSError(err, os.strerror(err))
