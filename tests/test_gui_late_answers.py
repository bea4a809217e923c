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
