"""Helpers for the watcher and agent tests: an in-process agent ticked by a thread, polling waits, the
full-scan oracle (a copy of the repository backed up with a plain metadata scan), and agent subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from timekeep.core.agent.agent import Agent, Decision
from timekeep.core.agent.client import AgentClient
from timekeep.core.agent.config import AgentConfig
from timekeep.core.agent.messages import JobResult
from timekeep.core.agent.paths import AgentPaths
from timekeep.core.api import Timekeep
from timekeep.core.away import store
from timekeep.core.errors import RepositoryError
from timekeep.core.index import journal
from timekeep.core.index.schema import open_index
from timekeep.core.schedule.policy import Policy
from timekeep.core.types import SnapshotInfo

ROOT = Path(__file__).parent.parent
# Nothing happens unless a test asks: no interval, no journal bound, no storage time at shutdown.
QUIET = Policy(interval_s=24 * 3600, at_shutdown=False, journal_paths=10**9)


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, step: float = 0.02, what: str = "") -> Any:
    """Poll until `condition()` is truthy (returning it); fail after `timeout` seconds. For what sends no
    signal to wait on: files another process writes, a subprocess agent's answers. An in-process agent is
    waited on tick by tick instead (`InProcess.until`)."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(step)  # the pause between two looks at another process's state, not a wait for time to pass


class Clock:
    """An in-process agent's two clocks. `monotonic` moves one tick_s per tick of `InProcess` (so drive polls,
    folder polls and debounce count ticks, not seconds); `wall`, the schedule's, moves only when the test
    says (`advance`)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.now = datetime.now(UTC)
        self._lock = threading.Lock()  # the test and the ticking thread both move it

    def monotonic(self) -> float:
        return self.seconds

    def wall(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        step = timedelta(**delta)
        with self._lock:
            self.seconds += step.total_seconds()
            self.now += step

    def tick(self, seconds: float) -> None:
        """One tick of the agent: its monotonic clock moves, its wall clock does not."""
        with self._lock:
            self.seconds += seconds


def agent_config(*repos: Path, policy: Policy = QUIET, **kw: Any) -> AgentConfig:
    values: dict[str, Any] = {"quiet_s": 0.0, "tick_s": 0.05, "drive_poll_s": 0.2, "folders_poll_s": 0.2}
    values.update(kw)
    return AgentConfig(tuple(repos), policy, **values)


def journaled(repo: Path) -> set[bytes]:
    db = open_index(repo / "index.db")
    try:
        return {p for paths in journal.pending(db).values() for p in paths}
    finally:
        db.close()


def kept(away: Path) -> set[bytes]:
    """What the agent journaled in an away store (nothing while the store is still being made)."""
    try:
        return journaled(away) if store.exists(away) else set()
    except RepositoryError:  # its index made a moment ago, not yet written
        return set()


class InProcess:
    """An Agent ticked by a background thread the way run.py ticks it (without the socket or signals), on an
    injected `Clock`. Each tick runs under a lock, so a test can wait for whole ticks (`ticked`), hold them
    (`held`), or wait until the agent has looked at its schedule and found nothing to do (`settled`)."""

    def __init__(self, config: AgentConfig, clock: Clock | None = None, **kw: Any) -> None:
        self.clock = clock or Clock()
        self.agent = Agent(config, clock=self.clock.monotonic, wall=self.clock.wall, **kw)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._turn = threading.Condition()
        self._ticks = 0
        self._holds = 0
        self.errors: list[BaseException] = []

    def __enter__(self) -> InProcess:
        self.agent.start()
        self._thread.start()
        self.idle()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with self._turn:
            self._turn.notify_all()
        self._thread.join(timeout=30)
        self.agent.shutdown()
        assert not self.errors, self.errors

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._turn:
                self._turn.wait_for(lambda: not self._holds or self._stop.is_set())
                self.clock.tick(self.agent.config.tick_s)
                try:
                    self.agent.tick()
                except BaseException as err:  # surfaced at exit: a tick must never fail
                    self.errors.append(err)
                self._ticks += 1
                self._turn.notify_all()
            self._stop.wait(self.agent.config.tick_s)  # the agent's own pace between ticks, as in run.py

    def ticked(self, count: int = 1, timeout: float = 30.0) -> None:
        """Wait until `count` whole ticks ran after this call (no tick runs while this holds the lock)."""
        with self._turn:
            wanted = self._ticks + count
            assert self._turn.wait_for(lambda: self._ticks >= wanted or self.errors, timeout), "the agent stopped"
        assert not self.errors, self.errors

    def until(self, condition: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
        """Tick by tick until `condition()` is truthy (returning it); fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not (found := condition()):
            assert time.monotonic() < deadline, f"timed out waiting for {what or condition}"
            self.ticked()
        return found

    @contextmanager
    def held(self) -> Iterator[None]:
        """No tick runs inside (one running when this is entered finishes first)."""
        with self._turn:
            self._holds += 1
        try:
            yield
        finally:
            with self._turn:
                self._holds -= 1
                self._turn.notify_all()

    @contextmanager
    def changes(self, *paths: Path, timeout: float = 20.0) -> Iterator[None]:
        """Changes made inside wait in the watcher's buffer until every path in `paths` was reported; then one
        tick journals them, wherever they belong. So a test knows the watcher saw them before it asserts
        what came of them (which may be nothing)."""
        wanted = {os.fsencode(p) for p in paths}
        with self.held():
            yield
            wait_for(lambda: all(self.agent.buffer.holds(p) for p in wanted), timeout, what="the changes' events")
        self.ticked()

    def settled(self, timeout: float = 30.0) -> Decision:
        """Wait until a whole tick found no job running and started none: the agent looked at its schedule
        (at the wall clock's time now) and found nothing due. Returns what it concluded."""
        def looked() -> Decision | None:
            decision = self.agent.decision
            quiet = decision is not None and not decision.busy and decision.queued is None
            return decision if quiet and not self.agent.runner.busy() else None
        self.ticked()
        return self.until(looked, timeout, "the agent to find nothing to do")  # type: ignore[no-any-return]

    def idle(self, timeout: float = 30.0) -> None:
        self.until(lambda: not self.agent.runner.busy(), timeout, "the agent's jobs to finish")

    def sees(self, repo: Path, paths: set[bytes], timeout: float = 20.0) -> None:
        """Wait until every path is journaled in `repo` (events arrive asynchronously; each tick journals)."""
        self.until(lambda: paths <= journaled(repo), timeout, f"{len(paths)} paths to be journaled")

    def backup(self, destination: Path | None = None, timeout: float = 60.0) -> JobResult:
        job = self.agent.request_backup("backup-now", None if destination is None else str(destination), True)
        assert job.done.wait(timeout), "the storage time did not end"
        assert job.result.ok, job.result
        return job.result


def snapshot_of(result: JobResult) -> SnapshotInfo:
    assert result.snapshot is not None, result
    return result.snapshot


def copy_repo(repo: Path, dest: Path) -> Path:
    """A consistent copy of a repository (the index through SQLite's backup API) for the full-scan oracle."""
    shutil.copytree(repo, dest, ignore=shutil.ignore_patterns("index.db*", "lock"))
    src, out = sqlite3.connect(repo / "index.db"), sqlite3.connect(dest / "index.db")
    try:
        src.backup(out)
    finally:
        src.close()
        out.close()
    return dest


def full_scan(repo_copy: Path) -> SnapshotInfo:
    with Timekeep.open(repo_copy, writer=True) as tk:
        return tk.backup(trigger="manual")


# agent subprocesses
def short_runtime_dir() -> Path:
    """A private runtime folder with a short path (Unix socket paths are limited to 107 bytes)."""
    return Path(tempfile.mkdtemp(prefix="tk", dir="/tmp"))


def agent_env(runtime: Path, home: Path) -> dict[str, str]:
    runtime.mkdir(parents=True, exist_ok=True, mode=0o700)  # as a session's is: platformdirs ignores another
    runtime.chmod(0o700)
    env = dict(os.environ)
    env.update({"XDG_RUNTIME_DIR": str(runtime), "XDG_CONFIG_HOME": str(home / "config"),
                "XDG_STATE_HOME": str(home / "state"), "XDG_CACHE_HOME": str(home / "cache"),
                "XDG_DATA_HOME": str(home / "share"), "XDG_CONFIG_DIRS": str(home / "etc-xdg"),
                "TIMEKEEP_NO_SYSTEMCTL": "1", "PYTHONPATH": str(ROOT)})
    env.pop("TIMEKEEP_REPO", None)
    return env


def settled_agent_env(home: Path, **settings: object) -> dict[str, str]:
    """`agent_env` in a new short runtime folder (`XDG_RUNTIME_DIR`, the caller removes it) with an agent that
    stores once a day, not at shutdown, at once after a change and on a fast tick; `settings` override those."""
    env = agent_env(short_runtime_dir(), home)
    chosen = {"interval_minutes": 24 * 60, "at_shutdown": False, "quiet_seconds": 0, "tick_seconds": 0.05}
    path = Path(env["XDG_CONFIG_HOME"]) / "timekeep" / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({**chosen, **settings}))
    return env


def paths_for(env: dict[str, str]) -> AgentPaths:
    runtime = Path(env["XDG_RUNTIME_DIR"]) / "timekeep"
    state = Path(env["XDG_STATE_HOME"]) / "timekeep"
    return AgentPaths(runtime, state / "log", state, Path(env["XDG_CONFIG_HOME"]) / "timekeep")


def cli(env: dict[str, str], *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "timekeep.core.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, check=False)


@contextmanager
def agent_process(env: dict[str, str], repo: Path) -> Iterator[tuple[subprocess.Popen[str], AgentPaths]]:
    """`timekeep agent --repo REPO` in a subprocess, yielded once it answers `status`; stopped with SIGTERM."""
    proc = subprocess.Popen([sys.executable, "-m", "timekeep.core.cli.main", "agent", "--repo", str(repo)], env=env,
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    paths = paths_for(env)
    try:
        wait_for(lambda: proc.poll() is not None or ready(paths), 30, 0.05, "the agent to start")
        assert proc.poll() is None, proc.communicate()
        yield proc, paths
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()


def ready(paths: AgentPaths) -> bool:
    client = AgentClient.connect(paths.socket, timeout=5)
    if client is None:
        return False
    with client:
        client.status()
    return True
