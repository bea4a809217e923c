"""The new small files of a folder restore, written on the main thread, or by a few threads while it plans the next
where the kernel's work on each file makes that pay.

A small file costs a restore mostly system calls (create, write, chmod, utime, rename), which release the
GIL, and index look-ups, which stay on the thread that owns the index's connection. Workers let the kernel's
part of one file run beside the Python of the next, but every system call a worker makes hands the GIL back
and forth with the main thread: on a journaled ext4, where a create takes 12-23 µs, two workers made the
bench's 20k-file tree 40% slower and cost 45% more CPU than the main thread alone; where a create takes
hundreds of µs (ext4 without a journal, soon after a mass removal) they made it 15-30% faster (bench/README,
"The tree on a journaled filesystem"). So a restore writes its small files on the main thread, times their
creates (`Handover`), and starts the workers once that shows they pay.
With workers, the main thread plans each file (its plan, its hard-link key, its chunks' places) and a worker
creates, fills and names it, taking files a group at a time so that a thread hop is not paid per file.
Outcomes are settled on the main thread in the order the files were handed over, so the restore's lists,
its progress and its hard links (a second name links to the copy written for the first) come out as they
would one by one. A folder's leaving is queued behind its files (`then`): its own times are set, and its
descriptor closed, once every file in it is settled, while the main thread goes on planning the next folder
(settling each folder's files before entering the next kept the workers idle half the time in a tree of small
folders: bench/README, "Fourth pass: the tree").
Once the workers run, the main thread takes back one window of files every PROBE_EVERY files and times their
creates again: while they are still slow the workers go on; once they are not (a filesystem's slow spell is
over: the inode scan after a mass removal lasts minutes, not a whole restore) the main thread keeps the files.
"""

from __future__ import annotations

import os
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

from timekeep.core.restore import safe_write as sw
from timekeep.core.restore.links import Key
from timekeep.core.types import Plan

# Two, each taking files a GROUP at a time, once started (`Handover`); handed one file at a time they did
# not pay (bench/README, "Restore toward the machine's limits"). 0 writes every file on the main thread,
# through the restorer's general path (a temporary name, then a rename).
WORKERS = 2
# The workers start once most creates (more than half) of a window of LOOK_EVERY files written on the main thread
# took longer than this: 12-23 µs on a journaled ext4, 100-340 µs on ext4 without a journal in the minutes after a
# mass removal (bench/README, "The tree on a journaled filesystem"). Most, not on average: one create that
# waited on the kernel (2.8 ms while it dropped its caches) put a window of 13 µs creates over the bound, and
# the workers then cost the rest of that restore 1.4 s (bench/README, "One slow create"). 0 starts them at the
# first file.
HAND_OVER_ABOVE = 50e-6
LOOK_EVERY = 64
# Files handed to the workers between two windows the main thread writes itself, to see whether they still pay.
# In a slow spell such a window costs what the workers would have saved on it (the main thread alone took 1.7
# times as long there: bench/README, "The tree on a journaled filesystem"), about 1% of the files' time at 4096;
# once a spell is over, the workers' extra third is paid for at most this many files more.
PROBE_EVERY = 4096
SMALL = 1 << 20  # a file up to this size is one frame or a few: handed over whole, its progress counted at the end
AHEAD = 64  # files handed over and not yet settled: bounds memory and how far errors run ahead
GROUP = 16  # files a worker takes at once: a thread hop (a queue, a wake-up, the GIL passed) per file cost more
T = TypeVar("T")
clock = time.perf_counter  # what a create's time is read from (tests give it one whose creates take what they say)


class Handover:
    """Whether workers would pay, from what the creates of the files written on the calling thread took (wall time:
    the kernel's work on a new inode, or a network filesystem's round trip), looked at every `every` files: they
    do once more than half of a window's creates took longer than `above`."""

    def __init__(self, above: float | None = None, every: int | None = None) -> None:
        self._above = HAND_OVER_ABOVE if above is None else above
        self._every = LOOK_EVERY if every is None else every
        self._count = 0
        self._slow = 0

    def created(self, seconds: float) -> None:
        """One file's create took `seconds`."""
        if seconds > self._above:
            self._slow += 1

    def pays(self) -> bool:
        """Called after each file written on the calling thread."""
        if self._above <= 0:
            return True
        self._count += 1
        if self._count < self._every:
            return False
        slow, self._count, self._slow = self._slow, 0, 0
        return 2 * slow > self._every


class Done(NamedTuple):
    """A file written on the main thread: its outcome, read as a worker's future is (`result`). Not a finished
    Future: making, finishing and reading one cost 2 µs a file more (its lock and condition), 36 ms of a tree of
    20,000 files."""

    made: Made | None
    error: BaseException | None

    def result(self) -> Made:
        if self.error is not None:
            raise self.error
        assert self.made is not None
        return self.made


class Made(NamedTuple):
    """A worker's answer: whether the file took its name, and its status (for a hard link to it)."""

    placed: bool
    st: os.stat_result


@dataclass(frozen=True)
class Job:
    """One new file: its plan, where it goes, and the worker's answer (whether it took its name)."""

    plan: Plan
    parts: tuple[bytes, ...]
    dir_fd: int
    tmp: bytes
    key: Key | None
    placed: Future[Made] | Done


# one file's writing: on the main thread given the handover its create's time goes to, on a worker None
Work = Callable[[Handover | None], Made]


class SmallFiles:
    """Writes jobs on the calling thread until its `Handover` says workers pay, then hands them to the workers;
    settles them, in order, with `settle` (on the calling thread)."""

    def __init__(self, settle: Callable[[Job], None]) -> None:
        self._settle = settle
        self._handover = Handover()
        self._pool: ThreadPoolExecutor | None = None  # started once the handover first pays
        self._handing = False  # whether new files go to the workers
        self._handed = 0  # files handed to the workers since the last window written here
        self._jobs: deque[Job | Callable[[], None]] = deque()  # a callable: `then`
        self._group: list[tuple[Future[Made], Work]] = []  # the newest jobs, not yet handed over
        self._keys: Counter[Key] = Counter()  # the hard-link keys of the jobs not settled

    def submit(self, work: Work, plan: Plan, parts: tuple[bytes, ...], dir_fd: int, tmp: bytes,
               key: Key | None) -> None:
        """Write one file here and settle it, or queue it: files go to a worker `GROUP` at a time (one thread hop for
        them all)."""
        if not self._handing:  # nothing is queued: `then` and the settling run at once
            try:
                done = Done(work(self._handover), None)
            except BaseException as err:  # reported where the job is settled, as a worker's is
                done = Done(None, err)
            self._settle(Job(plan, parts, dir_fd, tmp, key, done))
            if self._handover.pays():
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="timekeep-small")
                self._handing, self._handed = True, 0
            return
        placed: Future[Made] = Future()
        self._jobs.append(Job(plan, parts, dir_fd, tmp, key, placed))
        if key is not None:
            self._keys[key] += 1
        self._group.append((placed, work))
        if len(self._group) >= GROUP:
            self._hand_over()
        while len(self._jobs) > AHEAD:
            self._settle_next()
        self._handed += 1
        if self._handed >= PROBE_EVERY:  # the next window is written here, its creates timed
            self.settle_all()
            self._handing = False

    def then(self, action: Callable[[], None]) -> None:
        """Run `action` on the calling thread once every file queued before it is settled."""
        if self._jobs:
            self._jobs.append(action)
        else:
            action()

    def waiting_for(self, key: Key | None) -> bool:
        """Whether a file with this hard-link key is handed over and not settled (a link to it must wait)."""
        return key is not None and self._keys[key] > 0

    def settle_all(self) -> None:
        while self._jobs:
            self._settle_next()

    def close(self) -> None:
        """Settle what is left and stop the workers."""
        try:
            self.settle_all()
        finally:
            if self._pool is not None:
                self._pool.shutdown()

    def _settle_next(self) -> None:
        job = self._jobs.popleft()
        if not isinstance(job, Job):
            job()
            return
        if job.key is not None:
            self._keys[job.key] -= 1
        if self._group and self._group[0][0] is job.placed:  # the group holds the newest jobs: hand them on
            self._hand_over()
        self._settle(job)

    def _hand_over(self) -> None:
        assert self._pool is not None  # jobs are grouped only once it started
        self._pool.submit(_run, self._group)
        self._group = []


def timed(handover: Handover | None, create: Callable[[], T]) -> T:
    """`create()`, the time it took given to `handover` (when there is one: on the main thread)."""
    if handover is None:
        return create()
    started = clock()
    try:
        return create()
    finally:
        handover.created(clock() - started)


def write_unnamed(dir_fd: int, tmp: bytes, name: bytes, mode: int, handover: Handover | None,
                  fill: Callable[[int], os.stat_result]) -> Made | None:
    """A new file made without a name (safe_write.create_unnamed, timed for `handover`), filled by `fill` (which
    returns its status), then named `name` if that is still free, else `tmp` (not placed); None where the
    filesystem makes no such file."""
    fd = timed(handover, lambda: sw.create_unnamed(dir_fd, mode))
    if fd is None:
        return None
    try:
        st = fill(fd)
        try:
            sw.name_unnamed(fd, dir_fd, name)
            return Made(True, st)
        except FileExistsError:
            sw.name_unnamed(fd, dir_fd, tmp)
            return Made(False, st)
    finally:
        os.close(fd)


def _run(group: list[tuple[Future[Made], Work]]) -> None:
    """On a worker: each file of a group in turn, its outcome (or its error) in its own future."""
    for placed, work in group:
        if not placed.set_running_or_notify_cancel():
            continue
        try:
            placed.set_result(work(None))
        except BaseException as err:  # reported where the job is settled
            placed.set_exception(err)
