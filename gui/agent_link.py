"""The GUI's line to the agent: when an agent serves this repository, its storage times show in the window,
and "Back up now" asks it to store rather than opening the repository for writing here.

Both are worker jobs over the agent's socket, through the one agent client (`timekeep.core.agent.client`), so the
GUI thread never touches a socket. `follow_agent` runs for as long as the repository is open: it connects
(retrying while no agent listens), checks the agent serves this repository, subscribes and reports the
events of its storage times. `back_up_via_agent` asks for one storage time and follows it to the end on its
own connection, as `timekeep backup` does, answering None when no agent can take it so the caller backs up
directly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from timekeep.core.agent.client import POLL_S, AgentClient, AgentError, back_up_now
from timekeep.core.agent.messages import (
    DestinationChanged,
    DestinationStatus,
    Event,
    GuardChanged,
    JobFinished,
    JobProgress,
    JobStarted,
)
from timekeep.gui.location import Location, key_of

RETRY_S = 3.0  # how often to look for an agent while none listens


@dataclass(frozen=True)
class Serving:
    """Whether an agent serves this repository now; False when it left, or lost our drive."""

    serving: bool


@dataclass(frozen=True)
class Drives:
    """The agent's destinations as it last said."""

    destinations: tuple[DestinationStatus, ...]


# What the link reports, in the GUI thread: Serving, Drives, the guard's GuardStatus, and of this repository's
# storage times JobStarted, timekeep.core.types.Progress and JobFinished.
Report = Callable[[object], None]


def follow_agent(socket: Path, repo: Location, stop: threading.Event, report: Report) -> None:
    """Until `stop`: report the agent's storage times of `repo`, reconnecting when the agent comes and goes."""
    maybe_there = True  # a follower before this one may have seen it: the first miss says it is gone
    while not stop.is_set():
        client = AgentClient.connect(socket, timeout=10.0)
        if client is not None:
            with client:
                maybe_there = _follow(client, repo, stop, report)
        elif maybe_there:  # no agent listens (any more): nothing it said earlier holds
            report(Serving(False))
            maybe_there = False
        stop.wait(RETRY_S)


def _follow(client: AgentClient, repo: Location, stop: threading.Event, report: Report) -> bool:
    """Follow one connection; True when it ended with the agent still there (serving other drives)."""
    try:
        status = client.status()
        report(Drives(status.destinations))
        if not status.serves(repo):
            return True
        if status.guard is not None:
            report(status.guard)  # an agent for other drives, or ours is not connected to it: look again later
        client.subscribe()
        report(Serving(True))
        ours: set[int] = set()
        while not stop.is_set():
            for event in client.events(timeout=POLL_S):
                _relay(event, key_of(repo), ours, report)
                if isinstance(event, DestinationChanged | JobFinished):  # counts or presence changed
                    report(Drives(client.status().destinations))
                if stop.is_set():
                    return True
    except AgentError:
        pass  # the agent stopped: say so, and look for it again
    report(Serving(False))
    return False


def _relay(event: Event, repo: str, ours: set[int], report: Report) -> None:
    """Pass on the events of this repository's storage times (not scans, not other drives')."""
    if isinstance(event, DestinationChanged) and event.path == repo:
        report(Serving(event.present))
    elif isinstance(event, GuardChanged):  # the guard's incidents concern every folder the agent protects
        report(event.status)
    elif isinstance(event, JobStarted) and event.info.kind == "backup" and event.info.destination == repo:
        ours.add(event.info.job)
        report(event)
    elif isinstance(event, JobProgress) and event.job in ours:
        report(event.progress)
    elif isinstance(event, JobFinished) and event.job in ours:
        ours.discard(event.job)
        report(event)


def back_up_via_agent(socket: Path, repo: Location, cancel: threading.Event, report: Report) -> JobFinished | None:
    """Ask the agent for a storage time of `repo` and follow it: its JobStarted and progress are reported, its
    JobFinished returned. None when no agent serves `repo` (back up directly then)."""
    return back_up_now(repo, cancel, socket, on_started=lambda job: report(JobStarted(job)), on_progress=report)


def keep_here_via_agent(socket: Path, repo: Location, cancel: threading.Event, report: Report) -> JobFinished:
    """While the drive of `repo` is away: ask the agent for a storage time of it, which the agent keeps on this
    computer until the drive returns (its away store), and follow it as `back_up_via_agent` does."""
    client = AgentClient.connect(socket, timeout=30.0)
    if client is None:
        raise AgentError("the backup drive is not connected, and no agent runs to keep a backup on this computer")
    with client:
        return client.back_up(key_of(repo), cancel, on_started=lambda job: report(JobStarted(job)),
                              on_progress=report)


def keeps_here(destinations: tuple[DestinationStatus, ...], repo: Location) -> bool:
    """Whether the agent says a storage time of `repo` asked now is kept on this computer (its drive is away)."""
    return any(d.keeps_here and d.path == key_of(repo) for d in destinations)


def cancel_agent_job(socket: Path, job: int) -> bool:
    """Ask the agent to cancel one of its jobs (one it started itself); False if no agent answers."""
    client = AgentClient.connect(socket, timeout=10.0)
    if client is None:
        return False
    with client:
        return client.cancel(job)
