"""Whether protection is on for the repository shown: the agent asked over its socket (in a worker, every few
seconds), and turning protection on (installing and starting the agent) in a worker too.

`probe` and `protection_line` are plain functions; `ProtectionWatch` only times them and turns their answers
into signals for the window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from timekeep.core.agent.client import AgentClient, AgentError
from timekeep.core.agent.launch import Protection
from timekeep.core.agent.messages import DestinationStatus
from timekeep.core.api import is_remote
from timekeep.core.errors import WrongKey
from timekeep.gui.key_jobs import held_secret
from timekeep.gui.location import Location, key_of
from timekeep.gui.workers import WorkerPool

PROBE_MS = 5_000
Protector = Callable[[str], Protection]  # turns protection on for a repository (`launch.protect`)


@dataclass(frozen=True)
class ProtectionState:
    """What the agent said about the repository: whether it runs, backs this drive up, sees it connected,
    and when it plans the next backup (UTC nanoseconds; None when it plans none for this drive)."""

    agent: bool
    serves: bool = False
    connected: bool = False
    next_ns: int | None = None
    locked: bool = False  # encrypted, and the agent waits for its passphrase
    remote: bool = False  # the repository is in a bucket: reachable or not, rather than connected


def probe(socket: Path, repo: Location) -> ProtectionState:
    """Ask the agent (if one listens) how it stands with `repo`."""
    client = AgentClient.connect(socket, timeout=5.0)
    if client is None:
        return ProtectionState(False)
    wanted = key_of(repo)
    try:
        with client:
            status = client.status()
            if _hand_over_secret(client, [d for d in status.destinations if d.path == wanted]):
                status = client.status()
    except AgentError:
        return ProtectionState(False)
    ours = [d for d in status.destinations if d.path == wanted]
    planned = status.next_storage_time if status.next_destination == wanted else None
    return ProtectionState(True, bool(ours), bool(ours) and ours[0].present, _ns(planned),
                           bool(ours) and bool(ours[0].locked), is_remote(wanted))


def _hand_over_secret(client: AgentClient, ours: list[DestinationStatus]) -> bool:
    """Give the agent the secret typed in this window when it says the drive is locked; True when it took it.
    A secret it refuses (changed since) stays unsaid: the protection line then says the drive is locked."""
    secret = held_secret(ours[0].path) if ours and ours[0].locked else None
    if secret is None:
        return False
    try:
        client.unlock(ours[0].path, secret)
    except WrongKey:
        return False
    return True


def _ns(iso: str | None) -> int | None:
    if not iso:
        return None
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 10**9)


def protection_line(state: ProtectionState | None) -> tuple[str, bool]:
    """What the window says about protection, and whether "Turn on protection" is offered."""
    if state is None:
        return "Checking protection…", False
    if not state.agent:
        return "Protection is off: the background agent is not running", True
    medium = "storage" if state.remote else "drive"
    if not state.serves:
        return f"Protection is off: the background agent does not back up this {medium}", True
    if not state.connected:
        return ("Protection is on: backups resume when the backup storage can be reached" if state.remote else
                "Protection is on: backups resume when the backup drive is connected"), False
    if state.locked:
        return f"Protection is paused: the background agent waits for this {medium}'s passphrase", False
    return f"Protection is on: the background agent backs up this {medium}", False


class ProtectionWatch(QObject):
    state_changed = Signal(object)  # ProtectionState
    turned_on = Signal(object)  # Protection: what turning it on did
    turn_on_failed = Signal(str)

    def __init__(self, workers: WorkerPool, socket: Path | None, protector: Protector | None,
                 parent: QObject | None = None, probe_ms: int = PROBE_MS) -> None:
        super().__init__(parent)
        self.workers, self.socket, self.protector = workers, socket, protector
        self.repo: Location | None = None
        self.state: ProtectionState | None = None
        self.busy = False  # turning protection on
        self.timer = QTimer(self)
        self.timer.setInterval(probe_ms)
        self.timer.timeout.connect(self.look)

    def watch(self, repo: Location | None) -> None:
        self.repo, self.state = repo, None
        self.state_changed.emit(None)
        if repo is None or self.socket is None:
            self.timer.stop()
            return
        self.timer.start()
        self.look()

    def look(self) -> None:
        if self.repo is None or self.socket is None:
            return
        repo = self.repo
        self.workers.start(probe, self.socket, repo, on_done=lambda state: self._seen(repo, state))

    def _seen(self, repo: Location, state: ProtectionState) -> None:
        if repo == self.repo and state != self.state:
            self.state = state
            self.state_changed.emit(state)

    def next_in_s(self, now_ns: int) -> float | None:
        """Seconds to the agent's next backup of this drive, None when it plans none."""
        if self.state is None or not self.state.serves or self.state.next_ns is None:
            return None
        return max(0.0, (self.state.next_ns - now_ns) / 1e9)

    def turn_on(self, repo: Location | None = None) -> bool:
        """Install and start the agent for `repo` (the one watched) in a worker; False if that cannot start."""
        target = repo or self.repo
        if self.protector is None or target is None or self.busy:
            return False
        self.busy = True
        self.workers.start(self.protector, str(target), on_done=self._done, on_failed=self._failed)
        return True

    def _done(self, protection: Protection) -> None:
        self.busy = False
        self.turned_on.emit(protection)
        self.look()

    def _failed(self, message: str) -> None:
        self.busy = False
        self.turn_on_failed.emit(message)
