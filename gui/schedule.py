"""When the next backup is due while the app runs: every N minutes after the last one, or never (0).

A timer, not a thread: it only says `due`; the app starts the backup through the bridge. The pure part
(`seconds_until`) is a function of the last backup time, the interval and the clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal

RETRY_S = 300  # a due backup that could not start (drive away) is tried again this often


def seconds_until(last_ns: int | None, interval_min: int, now_ns: int) -> float | None:
    """Seconds until the next backup (0 when overdue), None when backups are manual only."""
    if interval_min <= 0:
        return None
    if last_ns is None:
        return 0.0
    return max(0.0, (last_ns + interval_min * 60 * 10**9 - now_ns) / 1e9)


class Scheduler(QObject):
    due = Signal()

    def __init__(self, clock: Callable[[], int] = time.time_ns, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.clock = clock
        self.interval_min = 0
        self.last_ns: int | None = None
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self._fire)

    def configure(self, interval_min: int, last_ns: int | None) -> None:
        self.interval_min, self.last_ns = interval_min, last_ns
        self._arm()

    def backed_up(self, when_ns: int) -> None:
        self.last_ns = when_ns
        self._arm()

    def seconds_left(self) -> float | None:
        return seconds_until(self.last_ns, self.interval_min, self.clock())

    def _arm(self) -> None:
        left = self.seconds_left()
        if left is None:
            self.timer.stop()
            return
        self.timer.start(int(max(left, 5.0) * 1000))  # a few seconds' grace after start-up or a change

    def _fire(self) -> None:
        self.due.emit()
        self.timer.start(RETRY_S * 1000)  # re-armed properly by `backed_up` when the backup happens
