"""A big folder restore in several processes, each writing its share of the files.

Restoring small files is interpreter work (planning, fetching, checking and writing each one), so one process
keeps one core busy however many the computer has: 20,000 files took about 4 s here on one core of two
(bench/README.md, "A folder restore in shares"). So a folder restore with many files below it runs in `SHARES`
processes. Every share walks the whole folder (each folder entered, or created, by each: `open_child_dir`
takes a folder another share just made as found) and writes only the files it owns (`owns`): chosen by the
stored modification time and size, which all names of one hard-linked file share (same inode and ctime, so
the same mtime and size), so they fall in one share and are linked as one process links them (links.py).
Each file is written exactly as a restore in one process writes it, so what holds for one (nothing
overwritten without asking, a differing file kept and the version written beside it, every byte checked)
holds for each share. The folders are given their stored metadata last, once every share is done, by the
process that started the others: a folder's time would move with each file written into it afterwards.

The other shares are forked, so each has what the restore has (the snapshot, an encrypted repository's keys)
and starts in milliseconds. Only from a process with no other thread (the CLI: a fork cannot then copy a lock
another thread holds), only from a repository in a local folder (a bucket's client does not survive a fork),
and with every index connection closed first (SQLite keeps one table of a process's open files and their
locks, which a fork would copy without the locks: a share's first read then failed). A share keeps none of
its parent's files open, opens the index and the packs anew, never collects what it inherited (an index
connection closed from here would close descriptors it does not own), dies with the process that started it,
and reports what it wrote (or that it failed) over a socket. One that ends without reporting (killed) costs
its files, and the restore says so: restored again, the files written are found in place and the rest are
written.
"""

from __future__ import annotations

import gc
import os
import select
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from timekeep.core.forked import Child
from timekeep.core.index import schema
from timekeep.core.repository import Repository
from timekeep.core.restore import metadata
from timekeep.core.restore.combine import ChunkSource
from timekeep.core.restore.restore import ENTRY_ERRORS, Restorer, failure
from timekeep.core.storage import layout as repo_layout
from timekeep.core.storage.pack import PackReader
from timekeep.core.types import FileError, Plan, RestoreResult, SnapshotInfo

if TYPE_CHECKING:  # the processes' plumbing loads when a restore is shared: every restore asks `share_count`
    from timekeep.core.capture.channel import Channel

SHARES = min(os.cpu_count() or 1, 4)  # processes a shared restore runs in
MIN_FILES = 2000  # names below a folder for its restore to be shared: fewer take a few hundred milliseconds alone
REPORT_SECONDS = 0.05  # how often a share sends the bytes it wrote since, and its parent looks for them
Parts = tuple[bytes, ...]
OnBytes = Callable[[int], None]


def share_count(repo: Repository, path: bytes) -> int:
    """How many processes the restore of `path` should run in: 1 unless it is a big folder that can be shared."""
    if not alone() or schema.open_elsewhere(repo.db) or not big_folder(repo, path):
        return 1
    return SHARES


def big_folder(repo: Repository, path: bytes) -> bool:
    """Whether restoring `path` pays in shares: a folder with MIN_FILES names or more below it, in a repository in
    a local folder, on a machine with cores to share it over (a process that runs threads, the window, has it
    restored by a `timekeep restore` of its own: apart.py)."""
    if SHARES < 2 or not hasattr(os, "fork") or repo.layout.store.local_folder is None:
        return False
    prefix = path.rstrip(b"/") + b"/"
    (below,) = repo.db.execute_sql("SELECT count(*) FROM (SELECT 1 FROM file WHERE path > ? AND path < ? LIMIT ?)",
                                   (prefix, prefix[:-1] + b"0", MIN_FILES)).fetchone()
    return bool(below >= MIN_FILES)


def alone() -> bool:
    """Whether this process runs no other thread (whose locks a fork would copy held), as the kernel counts them:
    `threading` knows only the threads Python started, and the window's (Qt's pool, its event threads) are not
    among them, so it had the window fork its restores. Where the kernel does not say (no /proc), never."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def owner(mtime_ns: int, size: int, count: int) -> int:
    """The share that writes a file or link stored with this modification time and size."""
    return (mtime_ns ^ size) % count


class Share:
    """One process's part of a shared folder restore: the entries it writes, and what it did for the others.
    The first share (`others` given) started them: it waits for them and gives the folders their metadata."""

    def __init__(self, index: int, count: int, others: Sequence[Other] = (), report: OnBytes | None = None) -> None:
        self.index, self.count, self.others, self.report = index, count, others, report  # `report`: their bytes
        self.made: set[Parts] = set()  # folders this share created
        self.folders: list[tuple[Parts, Plan]] = []  # the first share's: every folder as it was left (inner first)

    def owns(self, kind: object, mtime_ns: object, size: object) -> bool:
        """Whether this share writes an entry whose version in force has these values: every share enters
        every folder; one whose values are not numbers (damage) is every share's, so it is named."""
        if kind == "dir" or type(mtime_ns) is not int or type(size) is not int:
            return True
        return owner(mtime_ns, size, self.count) == self.index

    def left(self, parts: Parts, plan: Plan, created: bool) -> None:
        """A folder whose entries are done here: its metadata waits for the other shares (`done`)."""
        if created:
            self.made.add(parts)
        if self.others:  # only the first share sets them
            self.folders.append((parts, plan))

    def done(self, restorer: Restorer) -> None:
        """Wait for the other shares, take in what each did, then give the folders their stored metadata (those
        a share created, or every one when overwriting), deepest first."""
        if not self.others:
            return
        for other in self.others:
            other.wait(self.report)
            _take_in(restorer, other, self.made)
        restorer.written.sort()
        for parts, plan in self.folders:
            if parts in self.made or restorer.overwrite:
                try:
                    fd = restorer.target.open_dir(parts, create=False)
                    try:
                        metadata.apply(fd, plan, restorer.as_root)
                    finally:
                        os.close(fd)
                except ENTRY_ERRORS as err:
                    restorer.errors.append(failure(plan.path, err))


def _take_in(restorer: Restorer, other: Other, made: set[Parts]) -> None:
    """What another share did, added to this restore's account; an error every share met (a damaged folder
    row, a name refused) counted once."""
    if other.result is None:
        restorer.errors.append(FileError(other.path, "restore", other.failure or (
            "a process restoring part of this folder stopped before it finished (killed?): some of its files may "
            "be missing; restore it again to finish")))
        return
    result = other.result
    restorer.written.extend(result.written)
    restorer.beside.extend(result.kept_beside)
    restorer.already_beside.extend(result.already_beside)
    restorer.unchanged += result.unchanged
    restorer.metadata_kept += result.metadata_kept
    seen = {(e.path, e.kind, e.message) for e in restorer.errors}
    restorer.errors.extend(e for e in result.errors if (e.path, e.kind, e.message) not in seen)
    restorer.doubts.extend(d for d in other.doubts if d not in restorer.doubts)
    made |= other.made


class Other(Child):
    """The first share's end of another share's process."""

    def __init__(self, pid: int, conn: Channel, path: bytes) -> None:
        super().__init__(pid, conn)
        self.path = path
        self.result: RestoreResult | None = None
        self.made: set[Parts] = set()
        self.doubts: list[str] = []
        self.failure: str | None = None
        self.over = False

    def poll(self, on_bytes: OnBytes | None, timeout: float = 0) -> None:
        """Take in what the share sent within `timeout` seconds (its bytes to `on_bytes`)."""
        while not self.over and select.select([self.conn.sock], [], [], timeout)[0]:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                self.over = True
                return
            self._take(message, on_bytes)

    def _take(self, message: tuple[Any, ...], on_bytes: OnBytes | None) -> None:
        kind = message[0]
        if kind == "bytes":
            if on_bytes is not None:
                on_bytes(message[1])
        elif kind == "done":
            self.result, self.made, self.doubts, self.over = message[1], message[2], message[3], True
        else:
            self.failure, self.over = f"part of this folder could not be restored: {message[1]}", True

    def wait(self, on_bytes: OnBytes | None) -> None:
        while not self.over:
            self.poll(on_bytes, timeout=1.0)
        self.kill()


def restore(repo: Repository, snap: SnapshotInfo, path: bytes, dest: bytes | None, overwrite: bool,
            on_bytes: OnBytes | None, count: int) -> RestoreResult:
    """Restore the folder `path` in `count` processes: this one and `count - 1` forked here first."""
    others: list[Other] = []
    # no index connection open across the fork: SQLite keeps a process's open files and their locks in one
    # table, which a forked process would share without the locks, and its WAL reads then fail (this process
    # opens the index again when it next reads it)
    schema.close_all(repo.db)
    try:
        try:
            for index in range(1, count):
                others.append(_start(repo, snap, path, dest, overwrite, index, count))
        except OSError:  # no process to be had (limits, memory): this one restores it all, as it would alone
            for other in others:
                other.kill()
            return Restorer(repo.db, repo.source, snap, overwrite, on_bytes).restore(path, dest)
        forwarding = _Forwarding(on_bytes, others)
        share = Share(0, count, others, on_bytes)
        return Restorer(repo.db, repo.source, snap, overwrite, forwarding, share=share).restore(path, dest)
    finally:
        for other in others:  # every one is over and reaped by now, unless this share failed
            other.kill()


class _Forwarding:
    """The first share's progress: its own bytes, and every so often the bytes the other shares sent."""

    def __init__(self, on_bytes: OnBytes | None, others: Sequence[Other]) -> None:
        self.on_bytes, self.others, self.next = on_bytes, others, time.monotonic() + REPORT_SECONDS

    def __call__(self, n: int) -> None:
        if self.on_bytes is not None:
            self.on_bytes(n)
        if time.monotonic() >= self.next:
            self.next = time.monotonic() + REPORT_SECONDS
            for other in self.others:
                other.poll(self.on_bytes)


def _start(repo: Repository, snap: SnapshotInfo, path: bytes, dest: bytes | None, overwrite: bool, index: int,
           count: int) -> Other:
    from timekeep.core import forked

    pid, conn = forked.start(lambda conn: _serve(conn, repo, snap, path, dest, overwrite, index, count))
    return Other(pid, conn, path)


def _serve(conn: Channel, repo: Repository, snap: SnapshotInfo, path: bytes, dest: bytes | None, overwrite: bool,
           index: int, count: int) -> None:
    gc.freeze()  # what was inherited is never collected here (see the module's docstring)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the first share's to handle; it stops us
    try:
        db = schema.connect(Path(repo.db.database))
        layout = repo_layout.layout_of(repo.root, repo.config)
        source = ChunkSource(db, PackReader(layout))
        share = Share(index, count)
        sent = _Sender(conn)
        restorer = Restorer(db, source, snap, overwrite, sent, share=share)
        result = restorer.restore(path, dest)
        sent.flush()
        conn.send(("done", result, share.made, restorer.doubts))
    except Exception as err:  # said to the first share, which tells the person
        conn.send(("failed", str(err)))


class _Sender:
    """A share's bytes written, sent every REPORT_SECONDS rather than a message a file."""

    def __init__(self, conn: Channel) -> None:
        self.conn, self.pending, self.next = conn, 0, time.monotonic() + REPORT_SECONDS

    def __call__(self, n: int) -> None:
        self.pending += n
        if time.monotonic() >= self.next:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.conn.send(("bytes", self.pending))
            self.pending = 0
        self.next = time.monotonic() + REPORT_SECONDS
