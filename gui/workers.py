"""The one way the GUI runs work off its thread: a QRunnable on a QThreadPool whose outcome arrives as signals.

A job is a plain function; it returns plain data (or raises). The result, the error message or the progress
reports it makes come back through signals of an object that lives in the GUI thread, so the callbacks run
there and may touch widgets and models. Errors are never printed or swallowed: they become `failed`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from shiboken6 import Shiboken

from core.errors import TimekeepError

log = logging.getLogger(__name__)

Report = Callable[[Any], object]


class Superseded(Exception):
    """Raised by a job that noticed nobody wants its answer any more; reported quietly, never logged."""


class WorkerSignals(QObject):
    """Lives in the GUI thread, so a worker's emit is delivered there (queued)."""

    finished = Signal(object)
    failed = Signal(str)
    progressed = Signal(object)


class Worker(QRunnable):
    """Runs `fn(*args)`; with `wants_report`, a `report(obj)` callable is passed as the last argument."""

    def __init__(self, fn: Callable[..., Any], *args: Any, wants_report: bool = False) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the pool's Python side keeps it alive until its signals are delivered
        self.fn, self.args, self.wants_report = fn, args, wants_report
        self.signals = WorkerSignals()
        self.done = threading.Event()

    def run(self) -> None:
        try:
            args = (*self.args, self.signals.progressed.emit) if self.wants_report else self.args
            result = self.fn(*args)
        except (TimekeepError, Superseded) as err:
            self.signals.failed.emit(str(err) or "superseded")
        except Exception as err:  # a bug or an OS error: report it to the person, log the details
            log.exception("worker %s failed", getattr(self.fn, "__name__", self.fn))
            self.signals.failed.emit(describe_error(err))
        else:
            self.signals.finished.emit(result)
        finally:
            self.done.set()


def describe_error(err: BaseException) -> str:
    """One line for a person: the OS's words for OS errors, the type and message otherwise."""
    if isinstance(err, OSError) and err.strerror:
        where = f": {err.filename}" if err.filename else ""
        return f"{err.strerror}{where}"
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


class WorkerPool(QObject):
    """Starts workers and keeps them alive until their outcome has reached the GUI thread.

    A job may name a *lane*: a pool of one long-lived thread, so its jobs run in order, always on the same
    thread. Reads of the repository use lanes, which bounds the SQLite connections peewee opens per thread
    (one per lane) and lets them all be closed when the drive goes away. Other jobs use the shared pool.
    A failure with no `on_failed` of its own is re-emitted as `job_failed`, which the window shows.
    """

    job_failed = Signal(str)

    def __init__(self, pool: QThreadPool | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = pool if pool is not None else QThreadPool.globalInstance()
        self.lanes: dict[str, QThreadPool] = {}
        self._active: set[Worker] = set()

    def lane(self, name: str) -> QThreadPool:
        if name not in self.lanes:
            lane = QThreadPool(self)
            lane.setMaxThreadCount(1)
            lane.setExpiryTimeout(-1)  # the thread (and the connection it holds) lives until closed on purpose
            self.lanes[name] = lane
        return self.lanes[name]

    def start(self, fn: Callable[..., Any], *args: Any, on_done: Report | None = None,
              on_failed: Callable[[str], None] | None = None, on_progress: Report | None = None,
              lane: str | None = None) -> Worker:
        """Run `fn(*args)` in the pool (or a lane); callbacks run in the GUI thread. `on_progress` makes it a
        reporting job."""
        worker = Worker(fn, *args, wants_report=on_progress is not None)
        self._active.add(worker)
        if on_progress is not None:
            worker.signals.progressed.connect(on_progress)
        worker.signals.finished.connect(lambda result: self._settle(worker, on_done, result))
        worker.signals.failed.connect(lambda message: self._settle(worker, on_failed or self.job_failed.emit, message))
        (self.pool if lane is None else self.lane(lane)).start(worker)
        return worker

    def _settle(self, worker: Worker, callback: Callable[[Any], object] | None, value: Any) -> None:
        self._active.discard(worker)
        if callback is not None:
            callback(value)

    @property
    def busy(self) -> bool:
        return bool(self._active)

    def wait_idle(self, msecs: int = 30_000) -> bool:
        """Block until every started job has finished (closing the app, tests); True if they all did."""
        pools = [self.pool, *self.lanes.values()]
        return all([pool.waitForDone(msecs) for pool in pools])

    def close(self, msecs: int = 30_000) -> bool:
        """Wait for every job, then end the lanes' threads (a lane's thread otherwise lives for ever)."""
        done = self.wait_idle(msecs)
        lanes, self.lanes = list(self.lanes.values()), {}
        for lane in lanes:
            Shiboken.delete(lane)  # the pool's destructor joins its idle thread
        return done


Start = Callable[[Report, Callable[[str], None], Callable[[], bool]], bool]


class LatestOnly:
    """One job at a time for one purpose (the tree at T, the preview): while it runs, newer requests collapse
    into the newest, and an answer is delivered only if nothing newer was asked since.

    This is what keeps a dragged slider from queueing a hundred listings: at most one runs and one waits.
    `start(on_done, on_failed, still_wanted)` launches the job and returns whether it could; the job may poll
    `still_wanted()` (from its thread) to stop early.
    """

    def __init__(self) -> None:
        self.serial = 0
        self._running = False
        self._waiting: Callable[[], None] | None = None

    def submit(self, start: Start, on_done: Report, on_failed: Callable[[str], None]) -> None:
        self.serial += 1
        serial = self.serial

        def launch() -> None:
            self._running = start(lambda value: self._settle(serial, on_done, value),
                                  lambda message: self._settle(serial, on_failed, message),
                                  lambda: serial == self.serial)

        if self._running:
            self._waiting = launch
        else:
            launch()

    def cancel(self) -> None:
        """Forget whatever was asked: answers still on their way are dropped."""
        self.serial += 1
        self._waiting = None

    def _settle(self, serial: int, callback: Callable[[Any], object], value: Any) -> None:
        self._running = False
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            waiting()
        elif serial == self.serial:
            callback(value)
