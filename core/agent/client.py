"""The one client of the agent: typed requests, typed events, and following a job to its end.

The CLI (`timekeep backup`, `timekeep status`) and the GUI (its agent link) both talk to the agent through
`AgentClient`, so there is one reading of the wire (`timekeep.core.agent.messages`), one test of whether the agent
serves a repository (`Status.serves`), and one way of asking for a storage time and following it
(`back_up`). A client is one connection (`timekeep.core.agent.connection`); answers come back in order, and
events that arrive while a request waits for its answer are kept for `events`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from timekeep.core.agent.connection import (
    AgentError as AgentError,  # what a client's caller catches: the agent refused or left
)
from timekeep.core.agent.connection import Connection, left_until, open_socket
from timekeep.core.agent.messages import (
    Changed,
    Event,
    GuardStatus,
    JobFinished,
    JobInfo,
    JobProgress,
    Status,
    event_from,
    snapshot_from,
)
from timekeep.core.agent.paths import AgentPaths
from timekeep.core.agent.paths import (
    SocketPathTooLong as SocketPathTooLong,  # no agent can listen where this user's would
)
from timekeep.core.agent.protocol import chunk_from, path_bytes, path_text, plan_from
from timekeep.core.errors import WrongPassphrase
from timekeep.core.types import Plan, Progress, SnapshotInfo

WRONG_SECRET = frozenset({"WrongKey", "WrongPassphrase", "WrongRecoveryKey", "RecoveryKeyTypo"})
POLL_S = 0.25  # how often a job being followed looks whether its follower wants it cancelled


class AgentClient(Connection):
    """One connection to the agent, with its typed requests (the wire is `Connection`'s)."""

    @classmethod
    def connect(cls, path: Path, timeout: float = 30.0) -> AgentClient | None:
        """A client, or None when no agent listens at `path` (not started, or gone)."""
        sock = open_socket(path)
        return None if sock is None else cls(sock, timeout)

    def __enter__(self) -> AgentClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # typed requests
    def status(self) -> Status:
        return Status.from_wire(self.request("status"))

    def serves(self, repo: str | Path) -> bool:
        """Whether the agent stores to `repo` and it is connected (else back up without the agent)."""
        return self.status().serves(repo)

    def subscribe(self) -> None:
        """Events follow on this connection from now on (`events`)."""
        self.request("subscribe")

    def backup_now(self, destination: str | Path | None = None) -> JobInfo:
        """Queue a storage time on `destination` (None: the next one in rotation) even if nothing changed."""
        where = None if destination is None else str(destination)
        return JobInfo.from_wire(self.request("backup_now", destination=where))

    def coalesce_now(self) -> tuple[JobInfo, ...]:
        return tuple(JobInfo.from_wire(job) for job in self.request("coalesce_now")["jobs"])

    def guard_clear(self) -> GuardStatus:
        """End a suspected incident (the person's all-clear)."""
        return GuardStatus.from_wire(self.request("guard_clear"))

    def cancel(self, job: int) -> bool:
        """Ask the agent to cancel a job; False when it has no such job (any more)."""
        return bool(self.request("cancel", job=job)["cancelled"])

    def pause(self) -> bool:
        return bool(self.request("pause")["paused"])

    def resume(self) -> bool:
        return not self.request("resume")["paused"]

    def plan(self, path: bytes, at: str = "latest", destination: str | None = None) -> tuple[SnapshotInfo, Plan]:
        """How to build `path` as it was at `at`: the snapshot that is, and the plan of its pieces."""
        answer = self.request("plan", path=path_text(path), at=at, destination=destination)
        return snapshot_from(answer["snapshot"]), plan_from(answer["plan"])

    def chunk(self, digest: bytes, destination: str | None = None) -> bytes:
        return chunk_from(self.request("chunk", digest=digest.hex(), destination=destination))

    def changed(self, path: bytes, destination: str | None = None) -> list[Changed]:
        """Paths under `path` changed since the last storage time (the timeline's "now")."""
        answer = self.request("changed", path=path_text(path), destination=destination)
        return [Changed(path_bytes(c["path"]), str(c["time"])) for c in answer["changed"]]

    def unlock(self, path: str, secret: str) -> None:
        """Give the agent the passphrase (or recovery key) of its encrypted destination `path`; it keeps the
        key in memory only. WrongPassphrase (exit 2) when the secret opens no key slot."""
        try:
            self.request("unlock", path=str(path), secret=secret)
        except AgentError as err:
            if err.kind in WRONG_SECRET:
                raise WrongPassphrase(str(err)) from None
            raise

    # following jobs
    def back_up(self, destination: str | Path | None, cancel: threading.Event,
                on_started: Callable[[JobInfo], object] | None = None,
                on_progress: Callable[[Progress], object] | None = None) -> JobFinished:
        """Ask for a storage time and follow it to its end (`follow`); `on_started` hears its job first."""
        self.subscribe()
        job = self.backup_now(destination)
        if on_started is not None:
            on_started(job)
        return self.follow(job.job, cancel, on_progress)

    def follow(self, job: int, cancel: threading.Event | None = None,
               on_progress: Callable[[Progress], object] | None = None) -> JobFinished:
        """Pass on `job`'s progress until it finishes (after `subscribe`); once `cancel` is set, ask the
        agent to cancel it, once. Nothing it stored is lost: the agent keeps the journal."""
        asked = False
        while True:
            if cancel is not None and cancel.is_set() and not asked:
                asked = True
                self.cancel(job)
            event = self.next_event(POLL_S)
            if isinstance(event, JobProgress) and event.job == job and on_progress is not None:
                on_progress(event.progress)
            elif isinstance(event, JobFinished) and event.job == job:
                return event

    def events(self, timeout: float | None = None) -> Iterator[Event]:
        """Events as they arrive (after `subscribe`); ends when `timeout` passes without one."""
        while (event := self.next_event(timeout)) is not None:
            yield event

    def next_event(self, timeout: float | None = None) -> Event | None:
        """The next event, or None when `timeout` seconds pass first (messages that are no known event are
        passed over)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            message = self.next_message(left_until(deadline))
            if message is None:
                return None
            event = event_from(message)
            if event is not None:
                return event


def back_up_now(repo: str | Path | None, cancel: threading.Event, socket: Path | None = None,
                on_started: Callable[[JobInfo], object] | None = None,
                on_progress: Callable[[Progress], object] | None = None) -> JobFinished | None:
    """The one "back up now" of the CLI and the window: through the agent when one runs and serves `repo`
    (its next destination when None), followed to the end; None when no agent can take it, and the caller
    backs up in its own process. The agent knows what changed (its journal), so it reads only that."""
    client = AgentClient.connect(socket or agent_socket(), timeout=30.0)
    if client is None:
        return None
    with client:
        status = client.status()
        if repo is not None and not status.serves(repo) and not status.keeps_away(repo):
            return None
        return client.back_up(repo, cancel, on_started, on_progress)


def agent_socket() -> Path:
    """Where this user's agent listens ($XDG_RUNTIME_DIR/timekeep/agent.sock); SocketPathTooLong when the path
    is too long for any socket. Builds the name only: nothing is created or read."""
    return AgentPaths.from_platform().socket

