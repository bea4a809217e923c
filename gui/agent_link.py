"""The GUI's line to the agent (DESIGN §5): when an agent serves this repository, its storage times show in
the window, and "Back up now" asks it to store rather than opening the repository for writing here.

Both are worker jobs over the agent's socket (`core.agent.protocol.AgentClient`), so the GUI thread never
touches a socket. `follow_agent` runs for as long as the repository is open: it connects (retrying while no
agent listens), checks the agent serves this repository, subscribes and reports the events of its storage
times. `back_up_via_agent` asks for one storage time and follows it to the end on its own connection, as
`timekeep backup` does, answering None when no agent can take it so the caller backs up directly.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from core.agent.protocol import AgentClient, AgentError, progress_from
from core.types import SnapshotInfo

POLL_S = 0.25  # how often a waiting job looks at its stop or cancel event
RETRY_S = 3.0  # how often to look for an agent while none listens
SNAPSHOT_FIELDS = {f.name for f in dataclasses.fields(SnapshotInfo)}


@dataclass(frozen=True)
class DestinationState:
    """One of the agent's destinations as the window lists it: which drive holds how many snapshots."""

    path: str
    present: bool
    snapshots: int
    latest_ns: int | None
    reason: str = ""  # why it is not connected


@dataclass(frozen=True)
class AgentEvent:
    """What the window needs to know about the agent: it is there (serving us) or gone, the storage times of
    this repository starting and ending, and its destinations. Progress travels as `core.types.Progress`."""

    kind: Literal["serving", "gone", "started", "finished", "destinations"]  # gone: it left, or lost our drive
    job: int = 0
    outcome: Literal["", "stored", "skipped", "cancelled", "failed"] = ""
    snapshot: SnapshotInfo | None = None
    message: str = ""
    destinations: tuple[DestinationState, ...] = ()


def _ns(iso: str | None) -> int | None:
    if not iso:
        return None
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return int(moment.timestamp()) * 10**9 + moment.microsecond * 1000


def destinations_of(status: dict[str, Any]) -> AgentEvent:
    """The agent's destinations, from its status, as one event."""
    return AgentEvent("destinations", destinations=tuple(
        DestinationState(str(d.get("path", "")), bool(d.get("present")), int(d.get("snapshots") or 0),
                         _ns(d.get("latest")), str(d.get("reason") or ""))
        for d in status.get("destinations", [])))


def serves(status: dict[str, Any], repo: Path) -> bool:
    """Whether the agent's status lists this repository as a connected destination."""
    wanted = os.path.abspath(repo)
    return any(d.get("path") == wanted and d.get("present") for d in status.get("destinations", []))


def finished_event(event: dict[str, Any]) -> AgentEvent:
    """A `job_finished` message as the window reads it."""
    job = int(event.get("job", 0))
    if event.get("cancelled"):
        return AgentEvent("finished", job, "cancelled", message=str(event.get("error", "")))
    if not event.get("ok"):
        return AgentEvent("finished", job, "failed", message=str(event.get("error") or "the storage time failed"))
    data = event.get("snapshot")
    if not data:
        return AgentEvent("finished", job, "skipped", message=str(event.get("skipped", "")))
    snapshot = SnapshotInfo(**{k: v for k, v in data.items() if k in SNAPSHOT_FIELDS})
    return AgentEvent("finished", job, "stored", snapshot)


Report = Callable[[object], None]


def follow_agent(socket: Path, repo: Path, stop: threading.Event, report: Report) -> None:
    """Until `stop`: report the agent's storage times of `repo` (AgentEvent and Progress), reconnecting when
    the agent comes and goes."""
    maybe_there = True  # a follower before this one may have seen it: the first miss says it is gone
    while not stop.is_set():
        client = AgentClient.connect(socket, timeout=10.0)
        if client is not None:
            with client:
                maybe_there = _follow(client, repo, stop, report)
        elif maybe_there:  # no agent listens (any more): nothing it said earlier holds
            report(AgentEvent("gone"))
            maybe_there = False
        stop.wait(RETRY_S)


def _follow(client: AgentClient, repo: Path, stop: threading.Event, report: Report) -> bool:
    """Follow one connection; True when it ended with the agent still there (serving other drives)."""
    try:
        status = client.request("status")
        report(destinations_of(status))
        if not serves(status, repo):
            return True  # an agent for other drives, or ours is not connected to it: look again later
        client.request("subscribe")
        report(AgentEvent("serving"))
        ours: set[int] = set()
        while not stop.is_set():
            for event in client.events(timeout=POLL_S):
                _relay(event, repo, ours, report)
                if event.get("event") in ("destination", "job_finished"):  # counts or presence changed
                    report(destinations_of(client.request("status")))
                if stop.is_set():
                    return True
    except AgentError:
        pass  # the agent stopped: say so, and look for it again
    report(AgentEvent("gone"))
    return False


def _relay(event: dict[str, Any], repo: Path, ours: set[int], report: Report) -> None:
    """Pass on the events of this repository's storage times (not scans, not other drives')."""
    kind, job = event.get("event"), int(event.get("job") or 0)
    if kind == "destination" and event.get("path") == os.path.abspath(repo):
        report(AgentEvent("serving" if event.get("present") else "gone"))
    elif kind == "job_started" and event.get("kind") == "backup" and event.get("destination") == os.path.abspath(repo):
        ours.add(job)
        report(AgentEvent("started", job))
    elif kind == "progress" and job in ours:
        report(progress_from(event))
    elif kind == "job_finished" and job in ours:
        ours.discard(job)
        report(finished_event(event))


def back_up_via_agent(socket: Path, repo: Path, cancel: threading.Event, report: Report) -> AgentEvent | None:
    """Ask the agent for a storage time of `repo` and follow it: progress and an AgentEvent("started") are
    reported, the "finished" event returned. None when no agent serves `repo` (back up directly then)."""
    client = AgentClient.connect(socket, timeout=30.0)
    if client is None:
        return None
    with client:
        if not serves(client.request("status"), repo):
            return None
        client.request("subscribe")
        job = int(client.request("backup_now", destination=str(repo))["job"])
        report(AgentEvent("started", job))
        asked = False
        while True:
            if cancel.is_set() and not asked:
                asked = True
                client.request("cancel", job=job)
            event = next(client.events(timeout=POLL_S), None)
            if event is None or event.get("job") != job:
                continue
            if event.get("event") == "progress":
                report(progress_from(event))
            elif event.get("event") == "job_finished":
                return finished_event(event)


def cancel_agent_job(socket: Path, job: int) -> bool:
    """Ask the agent to cancel one of its jobs (one it started itself); False if no agent answers."""
    client = AgentClient.connect(socket, timeout=10.0)
    if client is None:
        return False
    with client:
        return bool(client.request("cancel", job=job).get("cancelled"))
