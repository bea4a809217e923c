"""Following the agent for the bridge: whether it serves the repository shown, its drives, and the storage
times it starts by itself (its schedule, the CLI, a drive plugged in), told apart from those the window
asked for, which the bridge follows on their own connection.

The following itself is a worker job of `timekeep.gui.agent_link`; this object turns what it reports into signals and
keeps the little state they need (which job is being shown), so the bridge only has to announce them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from timekeep.core.agent.messages import DestinationStatus, GuardStatus, JobFinished, JobStarted
from timekeep.core.types import Progress
from timekeep.gui.agent_link import Drives, Serving, follow_agent, keeps_here
from timekeep.gui.location import Location
from timekeep.gui.workers import WorkerPool


class AgentFollower(QObject):
    serving_changed = Signal(bool)  # an agent now backs the repository up (or no longer does)
    destinations_changed = Signal(object)  # tuple[DestinationStatus, ...]: the agent's drives, () without one
    job_started = Signal()  # a storage time the agent started by itself
    job_progressed = Signal(object)  # its Progress
    job_finished = Signal(object)  # its JobFinished
    job_lost = Signal()  # the agent stopped during it
    guard_changed = Signal(object)  # GuardStatus: an incident suspected or cleared (timekeep.gui.guard_banner)

    def __init__(self, workers: WorkerPool, socket: Path | None, own_running: Callable[[], bool],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.workers, self.socket = workers, socket  # socket None: never look for an agent
        self.own_running = own_running  # the window's own backup runs: the agent's events are its job's
        self.serving = False
        self.destinations: tuple[DestinationStatus, ...] = ()  # the agent's, as it last said
        self.job: int | None = None  # a storage time the agent started by itself, being shown
        self.own_jobs: set[int] = set()  # those the window asked for: followed by its own job, not here
        self._stop: threading.Event | None = None

    def follow(self, repo: Location | None) -> None:
        """(Re)start following the agent for `repo`; the previous follower stops."""
        self.stop()
        self.job = None
        self._set_serving(False)
        if repo is None or self.socket is None:
            self._set_destinations(())
            return
        self.destinations_changed.emit(self.destinations)  # the same drives; another is shown now
        stop = self._stop = threading.Event()
        self.workers.start_reporting(follow_agent, self.socket, repo, stop, lane="agent",
                                     on_progress=lambda report: None if stop.is_set() else self._reported(report))

    def keeps_here(self, repo: Location | None) -> bool:
        """Whether the agent, as it last said, keeps a storage time of `repo` asked now on this computer."""
        return self.socket is not None and repo is not None and keeps_here(self.destinations, repo)

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
            self._stop = None

    def _reported(self, report: object) -> None:
        if isinstance(report, Progress):
            if self.job is not None:
                self.job_progressed.emit(report)
        elif isinstance(report, Drives):
            self._set_destinations(report.destinations)
        elif isinstance(report, Serving):
            self._presence(report.serving)
        elif isinstance(report, JobStarted | JobFinished):
            self._job_reported(report)
        elif isinstance(report, GuardStatus):
            self.guard_changed.emit(report)

    def _presence(self, serving: bool) -> None:
        self._set_serving(serving)
        if not serving:
            self._set_destinations(())
        if not serving and self.job is not None:
            self.job = None
            self.job_lost.emit()

    def _job_reported(self, report: JobStarted | JobFinished) -> None:
        job = report.info.job
        if self.own_running() or job in self.own_jobs:
            return  # the window's own request: its job follows it
        if isinstance(report, JobStarted) and self.job is None:
            self.job = job
            self.job_started.emit()
        elif isinstance(report, JobFinished) and job == self.job:
            self.job = None
            self.job_finished.emit(report)

    def _set_serving(self, serving: bool) -> None:
        if serving != self.serving:
            self.serving = serving
            self.serving_changed.emit(serving)

    def _set_destinations(self, destinations: tuple[DestinationStatus, ...]) -> None:
        if destinations != self.destinations:
            self.destinations = destinations
            self.destinations_changed.emit(destinations)
