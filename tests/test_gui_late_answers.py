"""A job's answer that arrives after the window part that asked for it was deleted is dropped: closing a
window while a listing runs must not raise on a deleted Qt object."""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject
from shiboken6 import Shiboken

from timekeep.gui.workers import LatestOnly, WorkerPool


class Asker(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.answers: list[object] = []

    def answered(self, value: object) -> None:
        self.setObjectName(str(value))  # touches the Qt object, as a model reset does
        self.answers.append(value)


def test_an_answer_for_a_deleted_asker_is_dropped_and_a_living_one_gets_it(qtbot) -> None:  # type: ignore[no-untyped-def]
    pool = WorkerPool()
    release = threading.Event()
    gone, alive = Asker(), Asker()
    latest: LatestOnly[str] = LatestOnly()

    def start(on_done, on_failed, _wanted) -> bool:  # type: ignore[no-untyped-def]
        pool.start(lambda: release.wait(10) and "listing", on_done=on_done, on_failed=on_failed)
        return True

    latest.submit(start, gone.answered, gone.answered)
    def fail() -> None:
        release.wait(10)
        raise OSError("the drive went away")

    pool.start(fail, on_failed=gone.answered)
    pool.start(lambda: release.wait(10) and "done", on_done=alive.answered)
    Shiboken.delete(gone)
    release.set()
    qtbot.waitUntil(lambda: not pool.busy, timeout=10_000)
    assert alive.answers == ["done"]  # answers still reach an asker that exists
    assert not Shiboken.isValid(gone)  # and the deleted one was never called: it would have raised in the event loop
    pool.close()


def test_an_overtaken_answer_goes_to_its_own_slot_before_the_newest_starts(qtbot) -> None:  # type: ignore[no-untyped-def]
    """A listing overtaken by newer requests while it ran is handed to `on_overtaken` (the folder view follows a
    long drag with it), never to `on_done`; the request in between is skipped and the newest one answers."""
    pool = WorkerPool()
    gates = {name: threading.Event() for name in ("first", "second", "third")}
    started: list[str] = []
    done, overtaken = Asker(), Asker()
    latest: LatestOnly[str] = LatestOnly()

    def asking(name: str):  # type: ignore[no-untyped-def]
        def start(on_done, on_failed, _wanted) -> bool:  # type: ignore[no-untyped-def]
            started.append(name)
            pool.start(lambda: gates[name].wait(10) and name, on_done=on_done, on_failed=on_failed)
            return True
        return start

    for name in gates:
        latest.submit(asking(name), done.answered, done.answered, overtaken.answered)
    assert started == ["first"]  # one at a time: the second waits, then the third takes its place
    gates["first"].set()
    qtbot.waitUntil(lambda: started == ["first", "third"], timeout=10_000)
    assert overtaken.answers == ["first"] and done.answers == []
    gates["third"].set()
    qtbot.waitUntil(lambda: done.answers == ["third"], timeout=10_000)
    assert overtaken.answers == ["first"] and "second" not in started
    pool.close()
