"""Sealed packs on their way to a medium that is no local folder (a bucket): each is uploaded whole, by a few
threads at once, while the backup goes on filling the next pack. A pack counts as stored only once its
upload returned, and `wait` is what the pack writer's flush does before any index commit may name its
chunks, so the rule "pack data is durable before the index refers to it" holds as on a drive.

At most `bound` packs are in flight (each is a local temporary of up to a pack's size); a writer that would
start one more waits for the oldest. The first failure is kept and raised to the writer, which stops.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Generic, TypeVar

from timekeep.core.storage.backend import Backend

T = TypeVar("T")
IN_FLIGHT = 3  # packs: enough to keep a link busy while the next is compressed, little local room


class Uploads(Generic[T]):
    def __init__(self, store: Backend, bound: int = IN_FLIGHT) -> None:
        self.store, self.bound = store, bound
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[tuple[Future[None], Path, T]] = []

    def submit(self, name: str, source: Path, done: T) -> list[T]:
        """Start uploading the local file `source` as `name`; `done` is handed back by a later `submit` or
        `wait` once it is stored. Returns what finished while making room (raising the first failure)."""
        try:
            finished = self._make_room()
        except BaseException:
            source.unlink(missing_ok=True)
            raise
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.bound, thread_name_prefix="timekeep-upload")
        future = self._pool.submit(self.store.write_file, name, source)
        self._pending.append((future, source, done))
        return finished

    def wait(self) -> list[T]:
        """Every upload ended: what they stored, in order; the first failure is raised (the rest are
        waited for and their temporaries removed first)."""
        finished: list[T] = []
        try:
            while self._pending:
                finished.append(self._take_oldest())
        finally:
            self._stop()
        return finished

    def abandon(self) -> None:
        """Give up what is not stored yet (unstarted uploads are cancelled, running ones waited for), leaving
        no temporary behind; what was stored stays, unreferenced, for the next writer to adopt or reclaim."""
        for future, _, _ in self._pending:
            future.cancel()
        for future, source, _ in self._pending:
            with contextlib.suppress(BaseException):
                future.result()
            source.unlink(missing_ok=True)
        self._pending.clear()
        self._stop()

    def _make_room(self) -> list[T]:
        finished: list[T] = []
        while len(self._pending) >= self.bound:
            finished.append(self._take_oldest())
        return finished

    def _take_oldest(self) -> T:
        future, source, done = self._pending[0]
        try:
            future.result()
        except BaseException:
            source.unlink(missing_ok=True)  # left for us by a failed upload
            self._pending.pop(0)
            self.abandon()
            raise
        self._pending.pop(0)
        return done

    def _stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
