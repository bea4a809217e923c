"""The new small files of a folder restore, written by a few threads while the main thread plans the next.

A small file costs a restore mostly system calls (create, write, chmod, utime, rename), which release the
GIL, and index look-ups, which stay on the thread that owns the index's connection. So the main thread
plans each file (its plan, its hard-link key, its chunks' places) and a worker creates, fills and names it,
taking files a group at a time so that a thread hop is not paid per file.
Outcomes are settled on the main thread in the order the files were handed over, so the restore's lists,
its progress and its hard links (a second name links to the copy written for the first) come out as they
would one by one. A folder's leaving is queued behind its files (`then`): its own times are set, and its
descriptor closed, once every file in it is settled, while the main thread goes on planning the next folder
(settling each folder's files before entering the next kept the workers idle half the time in a tree of small
folders: bench/README, "Fourth pass: the tree").
"""

from __future__ import annotations

import os
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

from timekeep.core.restore import safe_write as sw
from timekeep.core.restore.links import Key
from timekeep.core.types import Plan

# Two, each taking files a GROUP at a time: over seven interleaved rounds they restored the bench's 20k-file
# tree faster and in less CPU than the main thread alone; handed one file at a time they did not
# (bench/README, "Restore toward the machine's limits"). 0 writes every file on the main thread.
WORKERS = 2
SMALL = 1 << 20  # a file up to this size is one frame or a few: handed over whole, its progress counted at the end
AHEAD = 64  # files handed over and not yet settled: bounds memory and how far errors run ahead
GROUP = 16  # files a worker takes at once: a thread hop (a queue, a wake-up, the GIL passed) per file cost more


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
    placed: Future[Made]


class SmallFiles:
    """Hands jobs to the workers and settles them, in order, with `settle` (on the calling thread)."""

    def __init__(self, settle: Callable[[Job], None]) -> None:
        self._settle = settle
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="timekeep-small")
        self._jobs: deque[Job | Callable[[], None]] = deque()  # a callable: `then`
        self._group: list[tuple[Future[Made], Callable[[], Made]]] = []  # the newest jobs, not yet handed over
        self._keys: Counter[Key] = Counter()  # the hard-link keys of the jobs not settled

    def submit(self, work: Callable[[], Made], plan: Plan, parts: tuple[bytes, ...], dir_fd: int, tmp: bytes,
               key: Key | None) -> None:
        """Queue one file; files go to a worker `GROUP` at a time (one thread hop for them all)."""
        placed: Future[Made] = Future()
        self._jobs.append(Job(plan, parts, dir_fd, tmp, key, placed))
        if key is not None:
            self._keys[key] += 1
        self._group.append((placed, work))
        if len(self._group) >= GROUP:
            self._hand_over()
        while len(self._jobs) > AHEAD:
            self._settle_next()

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
        self._pool.submit(_run, self._group)
        self._group = []


def write_unnamed(dir_fd: int, tmp: bytes, name: bytes, mode: int,
                  fill: Callable[[int], os.stat_result]) -> Made | None:
    """A new file made without a name (safe_write.create_unnamed), filled by `fill` (which returns its status), then
    named `name` if that is still free, else `tmp` (not placed); None where the filesystem makes no such file."""
    fd = sw.create_unnamed(dir_fd, mode)
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


def _run(group: list[tuple[Future[Made], Callable[[], Made]]]) -> None:
    """On a worker: each file of a group in turn, its outcome (or its error) in its own future."""
    for placed, work in group:
        if not placed.set_running_or_notify_cancel():
            continue
        try:
            placed.set_result(work())
        except BaseException as err:  # reported where the job is settled
            placed.set_exception(err)
