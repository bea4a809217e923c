"""The new small files of a folder restore, written by a few threads while the main thread plans the next.

A small file costs a restore mostly system calls (create, write, chmod, utime, rename), which release the
GIL, and index look-ups, which stay on the thread that owns the index's connection. So the main thread
plans each file (its plan, its hard-link key, its chunks' places) and a worker creates, fills and names it.
Outcomes are settled on the main thread in the order the files were handed over, so the restore's lists,
its progress and its hard links (a second name links to the copy written for the first) come out as they
would one by one. The restore settles every file of a folder before it enters another or leaves it, so
the folder's descriptor stays open under its files and its own times are set after them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from timekeep.core.restore.links import Key
from timekeep.core.types import Plan

WORKERS = 2
SMALL = 1 << 20  # a file up to this size is one frame or a few: handed over whole, its progress counted at the end
AHEAD = 64  # files handed over and not yet settled: bounds memory and how far errors run ahead


@dataclass(frozen=True)
class Job:
    """One new file: its plan, where it goes, and the worker's answer (whether it took its name)."""

    plan: Plan
    parts: tuple[bytes, ...]
    dir_fd: int
    tmp: bytes
    key: Key | None
    placed: Future[bool]


class SmallFiles:
    """Hands jobs to the workers and settles them, in order, with `settle` (on the calling thread)."""

    def __init__(self, settle: Callable[[Job], None]) -> None:
        self._settle = settle
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="timekeep-small")
        self._jobs: deque[Job] = deque()

    def submit(self, work: Callable[[], bool], plan: Plan, parts: tuple[bytes, ...], dir_fd: int, tmp: bytes,
               key: Key | None) -> None:
        self._jobs.append(Job(plan, parts, dir_fd, tmp, key, self._pool.submit(work)))
        while len(self._jobs) > AHEAD:
            self._settle(self._jobs.popleft())

    def waiting_for(self, key: Key | None) -> bool:
        """Whether a file with this hard-link key is handed over and not settled (a link to it must wait)."""
        return key is not None and any(job.key == key for job in self._jobs)

    def settle_all(self) -> None:
        while self._jobs:
            self._settle(self._jobs.popleft())

    def close(self) -> None:
        """Settle what is left and stop the workers."""
        try:
            self.settle_all()
        finally:
            self._pool.shutdown()
