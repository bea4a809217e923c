"""The one way the GUI runs work off its thread: a QRunnable on a QThreadPool whose outcome arrives as signals.

A job is a plain function; it returns plain data (or raises). The result, the error message or the progress
reports it makes come back through signals of an object that lives in the GUI thread, so the callbacks run
there and may touch widgets and models. Errors are never printed or swallowed: they become `failed`.

The signals carry `object`, but the door is typed: `start(fn, *args, on_done=...)` checks that `args` fit
`fn` and that `on_done` takes what `fn` returns (and `start_reporting`, that `on_progress` takes what `fn`
reports), so a worker's result type reaches its slot.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import partial
from typing import Any, Generic, TypeVar, TypeVarTuple

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from shiboken6 import Shiboken

from timekeep.core.errors import TimekeepError

log = logging.getLogger(__name__)

R = TypeVar("R")
T = TypeVar("T")
Ts = TypeVarTuple("Ts")
Failed = Callable[[str], object]
Report = Callable[[Any], object]  # what an untyped caller hands on (a signal's emit)
Call = Callable[[Callable[[object], None]], object]  # a job with its arguments bound, given its report function


class Superseded(Exception):
    """Raised by a job that noticed nobody wants its answer any more; reported quietly, never logged."""


class WorkerSignals(QObject):
    """Lives in the GUI thread, so a worker's emit is delivered there (queued)."""

    finished = Signal(object)
    failed = Signal(str)
    progressed = Signal(object)


class Worker(QRunnable):
    """Runs one job, `call(report)`: its result, its error or its reports come back as signals."""

    def __init__(self, call: Call, name: str) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the pool's Python side keeps it alive until its signals are delivered
        self.call, self.name = call, name
        self.signals = WorkerSignals()
        self.done = threading.Event()

    def run(self) -> None:
        try:
            result = self.call(self.signals.progressed.emit)
        except (TimekeepError, Superseded) as err:
            self.signals.failed.emit(str(err) or "superseded")
        except Exception as err:  # a bug or an OS error: report it to the person, log the details
            log.exception("worker %s failed", self.name)
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

    def start(self, fn: Callable[[*Ts], R], *args: *Ts, on_done: Callable[[R], object] | None = None,
              on_failed: Failed | None = None, lane: str | None = None) -> Worker:
        """Run `fn(*args)` in the pool (or a lane); `on_done` gets its result, `on_failed` its error, both in
        the GUI thread."""
        return self._launch(Worker(lambda _report: fn(*args), _name(fn)), on_done, on_failed, lane)

    def start_reporting(self, fn: Callable[[*Ts, Callable[[T], None]], R], *args: *Ts,
                        on_progress: Callable[[T], object], on_done: Callable[[R], object] | None = None,
                        on_failed: Failed | None = None, lane: str | None = None) -> Worker:
        """Run `fn(*args, report)`, a job that reports as it goes: each `report(x)` reaches `on_progress(x)`
        in the GUI thread."""
        worker = Worker(lambda report: fn(*args, report), _name(fn))
        worker.signals.progressed.connect(on_progress)
        return self._launch(worker, on_done, on_failed, lane)

    def _launch(self, worker: Worker, on_done: Callable[[R], object] | None, on_failed: Failed | None,
                lane: str | None) -> Worker:
        self._active.add(worker)
        worker.signals.finished.connect(lambda result: self._settle(worker, on_done, result))
        worker.signals.failed.connect(lambda message: self._settle(worker, on_failed or self.job_failed.emit, message))
        (self.pool if lane is None else self.lane(lane)).start(worker)
        return worker

    def _settle(self, worker: Worker, callback: Callable[[Any], object] | None, value: Any) -> None:
        self._active.discard(worker)
        if callback is not None and still_there(callback):
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


def still_there(callback: Callable[..., object]) -> bool:
    """Whether the Qt object a callback is a method of still exists: an answer arriving after its window
    was closed (a job outlives the widget that asked) is dropped instead of touching a deleted object. A
    `functools.partial` is judged by the method it wraps."""
    while isinstance(callback, partial):
        callback = callback.func
    owner = getattr(callback, "__self__", None)
    return not isinstance(owner, QObject) or Shiboken.isValid(owner)


def _name(fn: Callable[..., object]) -> str:
    return str(getattr(fn, "__qualname__", fn))


# start(on_done, on_failed, still_wanted) launches one job and says whether it could
Start = Callable[[Callable[[T], None], Callable[[str], None], Callable[[], bool]], bool]


class LatestOnly(Generic[T]):
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

    def submit(self, start: Start[T], on_done: Callable[[T], object], on_failed: Failed,
               on_overtaken: Callable[[T], object] | None = None) -> None:
        """`on_overtaken`, if given, gets an answer that a newer request overtook while it ran (shown meanwhile
        where that is cheap and helps: the folder view following a long drag), just before the newer starts."""
        self.serial += 1
        serial = self.serial

        def launch() -> None:
            self._running = start(lambda value: self._settle(serial, on_done, value, on_overtaken),
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

    def _settle(self, serial: int, callback: Callable[[Any], object], value: object,
                overtaken: Callable[[Any], object] | None = None) -> None:
        self._running = False
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            if overtaken is not None and still_there(overtaken):
                overtaken(value)
            waiting()
        elif serial == self.serial and still_there(callback):
            callback(value)
