"""Capture processes: big files are read, chunked, hashed and compressed in forked processes.

fastcdc 1.7's compiled chunker (a repository whose config names `"fastcdc"`) holds the GIL while it cuts, and
the backup's own Python (scan, claims, index rows) needs it too, so threads alone kept capture near one and a
half busy cores; the 2020 chunker of newer repositories cuts without it. A capture process has a GIL
of its own. It opens the file itself, cuts it with the same chunker, names each chunk with the
repository's chunk ids, and asks the backup which chunks to store (the backup claims digests exactly as
for a file read in a thread: nothing is stored twice); it frames those as a thread would (`store.framed`,
`store.blob`: same frames, sealed in an encrypted repository by the same code, a fresh random nonce each)
and sends them back. The backup appends them to its packs and commits as for any file, so the drive's
ordering (data sealed before the index refers to it) is untouched.

A process dies with the thread that forked it (PR_SET_PDEATHSIG, and end-of-file on its pipe), so a
killed backup leaves none behind. A process that dies under the backup fails the backup: the chunks it
was to store were claimed, and no other reader would store them.

Off unless asked for (TIMEKEEP_CAPTURE_PROCS, core/capture/backup.py): on a saturated machine a process cost
8-20% more CPU for the big files than a thread and 26-45 MiB more memory over the process tree, and no wall time
it saved could be told from the load's noise (bench/README.md, "The first backup toward the machine's limits").
"""

from __future__ import annotations

import contextlib
import gc
import os
import queue
import signal
import stat
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import blake3

from timekeep.core import forked
from timekeep.core.capture import attrs
from timekeep.core.capture.chunker import iter_chunks
from timekeep.core.capture.delta import NewChunk
from timekeep.core.capture.read import OWN_PACK_BYTES, Changing, Read, ReadContext, changed_since, open_file
from timekeep.core.capture.store import INLINE_BYTES, Member, blob, framed
from timekeep.core.crypto.chunk_ids import ChunkIds
from timekeep.core.errors import BackupCancelled, StorageError
from timekeep.core.forked import Child
from timekeep.core.heap import map_big_buffers
from timekeep.core.storage.layout import ChunkerParams

if TYPE_CHECKING:  # the channel (and pickle) load when a first process starts: most incrementals start none
    from timekeep.core.capture.channel import Channel
    from timekeep.core.crypto.sealing import Sealing

TICK_SECONDS = 0.1  # how often a reader waiting on its process looks at the backup's cancel


class WorkerDied(StorageError):
    """A capture process ended in the middle of a file."""


class _Answered(Exception):
    """The process's answer for a file was an error of that file's own (it changed, it cannot be read): the
    process is in step with the backup and serves the next file."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class _Recipe:
    """What a capture process needs to store chunks as the backup does."""

    def __init__(self, params: ChunkerParams, ids: ChunkIds, sealing: Sealing | None, level: int,
                 threads: int) -> None:
        self.params, self.ids, self.sealing, self.level, self.threads = params, ids, sealing, level, threads


class ReadProcs:
    """Up to `count` capture processes, started when the first big file comes (an incremental backup of small
    changes starts none), each serving one reader thread at a time."""

    def __init__(self, recipe: _Recipe, count: int, min_bytes: int = OWN_PACK_BYTES) -> None:
        self.recipe, self.count, self.min_bytes = recipe, count, min_bytes
        self._lock = threading.Lock()
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._all: list[_Worker] = []
        self._broken = False  # fork failed: every file is read in its thread from then on

    @classmethod
    def make(cls, params: ChunkerParams, ids: ChunkIds, sealing: Sealing | None, level: int,
             count: int, threads: int = 2) -> ReadProcs | None:
        """Capture processes for one backup; None where processes cannot be forked."""
        if count < 1 or not hasattr(os, "fork"):
            return None
        return cls(_Recipe(params, ids, sealing, level, threads), count)

    def takes(self, size: int) -> bool:
        return size >= self.min_bytes and not self._broken

    def pids(self) -> list[int]:
        with self._lock:
            return [w.pid for w in self._all if not w.reaped]

    def read(self, path: bytes, ctx: ReadContext) -> Read | None:
        """Read the file at `path` in a capture process; None when none is free (read it in the thread)."""
        worker = self._borrow()
        if worker is None:
            return None
        try:
            got = worker.read(path, ctx)
        except _Answered as answer:
            self._idle.put(worker)
            raise answer.error from None
        except BaseException:  # cancelled, or the conversation broke off: the process may be mid-file
            self._drop(worker)
            raise
        self._idle.put(worker)
        return got

    def close(self) -> None:
        """Stop every process and wait for it (each is idle by now, or its reader has given up on it)."""
        with self._lock:
            workers, self._all = self._all, []
        for worker in workers:
            worker.stop()

    def _borrow(self) -> _Worker | None:
        with contextlib.suppress(queue.Empty):
            return self._idle.get_nowait()
        with self._lock:
            if len(self._all) < self.count and not self._broken:
                try:
                    worker = _Worker.start(self.recipe)
                except OSError:  # no process to be had (limits, memory): threads still work
                    self._broken = True
                    return None
                self._all.append(worker)
                return worker
        return None  # every process is busy: this file is read in its thread meanwhile, rather than wait

    def _drop(self, worker: _Worker) -> None:
        worker.kill()
        with self._lock:
            if worker in self._all:
                self._all.remove(worker)
            self._broken = True  # its slot is not refilled: a backup in trouble reads the rest in threads


class _Worker(Child):
    """The backup's end of one capture process."""

    @classmethod
    def start(cls, recipe: _Recipe) -> _Worker:
        return cls(*forked.start(lambda conn: _serve(conn, recipe)))

    def read(self, path: bytes, ctx: ReadContext) -> Read:
        self._send(("read", path))
        lane = threading.get_ident()  # a big file's packs are its own, as when read in a thread
        chunks: list[NewChunk] = []
        depends: set[bytes] = set()
        offset = 0
        while True:
            message = self._receive(ctx)
            kind = message[0]
            if kind == "claim":
                cuts: list[tuple[int, bytes]] = message[1]
                if offset:  # a second block: progress moves while the file is read
                    ctx.flow.seen(path, offset)
                mine, needed = ctx.store.claim([digest for _, digest in cuts])
                self._send(mine)
                depends |= needed
                for length, digest in cuts:
                    chunks.append((offset, length, digest))
                    offset += length
            elif kind == "frame":  # its bytes follow as they are, unpickled: one copy fewer each way
                ctx.store.add_frame(self._receive_bytes(), message[1], lane)
            elif kind == "done":
                _, digest, before, xattrs, started_ns = message
                return Read(chunks, depends, digest, before, xattrs, started_ns)
            elif kind == "changing":
                raise _Answered(Changing())
            else:
                raise _Answered(message[1])

    def _send(self, message: Any) -> None:
        try:
            self.conn.send(message)
        except OSError as err:
            raise self._died() from err

    def _receive(self, ctx: ReadContext) -> Any:
        try:
            while not self.conn.poll(TICK_SECONDS):
                if ctx.cancel.is_set():
                    raise BackupCancelled("backup cancelled; nothing was lost")
            return self.conn.recv()
        except (EOFError, OSError) as err:
            raise self._died() from err

    def _receive_bytes(self) -> bytearray:
        try:
            return self.conn.recv_bytes()
        except (EOFError, OSError) as err:
            raise self._died() from err

    def _died(self) -> WorkerDied:
        return WorkerDied("a capture process ended in the middle of a file (killed?); nothing was lost, "
                          "run the backup again")

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(("stop",))
        self.conn.close()
        self.reap()


# The capture process's side.


def _serve(conn: Channel, recipe: _Recipe) -> None:
    """Read files as the backup asks until it says stop or goes away."""
    # frames and blocks are freed as fast as they come: none kept in arenas (12 MiB less at its peak, for about
    # 0.2 CPU seconds more per 512 MiB read: bench/README.md)
    map_big_buffers()
    gc.disable()  # a collection could close the backup's inherited index connection from here
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the backup's to handle; it stops us
    sender = _Sender(conn)
    with ThreadPoolExecutor(recipe.threads, thread_name_prefix="timekeep-capture") as pool:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                return
            if message[0] != "read":
                return
            try:
                reply = _read(message[1], conn, sender, pool, recipe)
            except Changing:
                reply = ("changing",)
            except OSError as err:
                reply = ("error", err)
            sender.send(reply)


class _Sender:
    """Messages to the backup from the main thread and the compressing threads, one whole message at a time;
    at most a few frames in flight, so memory stays flat."""

    def __init__(self, conn: Channel, frames: int = 4) -> None:
        self.conn, self._lock, self.slots = conn, threading.Lock(), threading.BoundedSemaphore(frames)

    def send(self, message: Any) -> None:
        with self._lock:
            self.conn.send(message)

    def send_frame(self, stored: bytes | bytearray, members: list[Member]) -> None:
        with self._lock:
            self.conn.send(("frame", members))
            self.conn.send_bytes(stored)


def _read(path: bytes, conn: Channel, sender: _Sender, pool: ThreadPoolExecutor, recipe: _Recipe) -> tuple[Any, ...]:
    fd = open_file(path)
    pending: list[Future[None]] = []
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            raise Changing
        started_ns = time.time_ns()
        whole = blake3.blake3()
        size = 0
        for block in iter_chunks(fd, recipe.params):
            whole.update(block.span)
            named = [(recipe.ids.of(data), data) for data in block]
            sender.send(("claim", [(len(data), digest) for digest, data in named]))
            mine: list[int] = conn.recv()
            size += len(block.span)
            for raw, members in framed([named[at] for at in mine]):
                pending.append(_frame(raw, members, sender, pool, recipe))
        xattrs = attrs.of_fd(fd)  # before the re-check: changing them changes the ctime
        _wait(pending)
        if changed_since(fd, before, size):
            raise Changing
    finally:
        os.close(fd)
        _wait(pending)
    return ("done", whole.digest(), before, xattrs, started_ns)


def _frame(raw: bytes, members: list[Member], sender: _Sender, pool: ThreadPoolExecutor,
           recipe: _Recipe) -> Future[None]:
    """Make and send one frame: a small one here, a big one in a compressing thread while reading goes on."""
    def make() -> None:
        try:
            sender.send_frame(blob(recipe.sealing, raw, members, recipe.level), members)
        finally:
            sender.slots.release()

    sender.slots.acquire()
    if len(raw) < INLINE_BYTES:
        done: Future[None] = Future()
        make()
        done.set_result(None)
        return done
    return pool.submit(make)


def _wait(pending: list[Future[None]]) -> None:
    """Every frame asked for is sent (or its failure raised) before the file's answer: a claimed chunk the
    backup never gets would leave its snapshot unable to finish."""
    while pending:
        pending.pop().result()

