"""The agent as a separate process: its socket protocol, progress events, versions built by the test from
the agent's plan and chunks, SIGTERM keeping the journal, one agent per user, and the CLI talking to it."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent_support import agent_env, agent_process, cli, journaled, short_runtime_dir, wait_for
from tests.helpers import backup, make_tree, new_repo
from tests.treeops import film_on_a_small_drive
from timekeep.core.agent.client import AgentClient, AgentError
from timekeep.core.agent.messages import DestinationChanged, Event, FolderStatus, JobFinished, JobProgress, JobStarted
from timekeep.core.api import Timekeep
from timekeep.core.types import Plan

BIG = os.urandom(900_000)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    runtime = short_runtime_dir()
    yield agent_env(runtime, tmp_path / "home")
    shutil.rmtree(runtime, ignore_errors=True)


def write_settings(env: dict[str, str], **extra: Any) -> None:
    settings = {"interval_minutes": 24 * 60, "at_shutdown": False, "journal_max_paths": 10**9,
                "quiet_seconds": 0, "tick_seconds": 0.05, **extra}
    folder = Path(env["XDG_CONFIG_HOME"]) / "timekeep"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "settings.json").write_text(json.dumps(settings))


@pytest.fixture
def repo(tmp_path: Path, env: dict[str, str]) -> Path:
    make_tree(tmp_path / "src", {"big.bin": BIG, "notes.txt": b"notes", "sub": {"a.txt": b"a"}})
    repo = new_repo(tmp_path, tmp_path / "src")
    backup(repo)
    write_settings(env)
    return repo


def client_for(paths: Any) -> AgentClient:
    client = AgentClient.connect(paths.socket, timeout=30)
    assert client is not None
    return client


def wait_journaled(client: AgentClient, folder: Path, path: Path) -> None:
    def seen() -> bool:
        return os.fsencode(path) in {c.path for c in client.changed(os.fsencode(folder))}
    wait_for(seen, what=f"{path} to show as changed")


def wait_events_delivered(client: AgentClient, folder: Path) -> None:
    """Wait until every change event made so far has reached the journal. A write makes several events (the
    truncation, the writes, the close); under load the watcher can deliver the last ones after the first is
    journaled, and after a backup took its journal's watermark. The kernel queues a watch's events in order,
    so once a folder made now is journaled, every event before it has been too."""
    marker = folder / f"marker-{os.urandom(4).hex()}"
    marker.mkdir()
    wait_journaled(client, folder, marker)


def combine(client: AgentClient, plan: Plan) -> bytes:
    """What another process does with the agent's answers: fetch each chunk and paint the pieces."""
    out = bytearray(plan.size)
    for piece in plan.pieces:
        chunk = client.chunk(piece.digest)
        out[piece.offset : piece.offset + piece.length] = chunk[piece.chunk_offset : piece.chunk_offset + piece.length]
    return bytes(out)


def follow(client: AgentClient, job: int) -> list[Event]:
    """The job's events, to its end."""
    seen: list[Event] = []
    for event in client.events(timeout=60):
        if not isinstance(event, DestinationChanged) and event.job == job:
            seen.append(event)
            if isinstance(event, JobFinished):
                return seen
    raise AssertionError(f"job {job} did not finish: {seen}")


def test_protocol_round_trip(tmp_path: Path, env: dict[str, str], repo: Path) -> None:
    with agent_process(env, repo) as (proc, paths), client_for(paths) as client:
        assert stat.S_IMODE(os.stat(paths.socket).st_mode) == 0o600
        status = client.status()
        assert status.pid == proc.pid and status.destinations[0].present and status.serves(repo)
        assert status.folders == (FolderStatus(str(tmp_path / "src"), True, True, None, (str(repo),)),)
        assert client.request("pause") == {"paused": True} and client.status().state == "paused"
        assert client.resume() and client.status().state != "paused"
        # a reconcile held back by the pause may run first (a loaded machine): it ends, and the agent is idle
        wait_for(lambda: client.status().state == "idle", timeout=60, what="the resumed agent to be idle")
        with pytest.raises(AgentError, match="unknown request"):
            client.request("explode")
        with pytest.raises(AgentError, match="bad request"):
            client.request("plan")
        with pytest.raises(AgentError, match="not a connected destination"):
            client.request("chunk", digest="00", destination=str(tmp_path / "nowhere"))
        assert client.status().pid == proc.pid  # errors never cost the connection


def test_progress_events_and_a_version_built_from_plan_and_chunks(tmp_path: Path, env: dict[str, str],
                                                                   repo: Path) -> None:
    src = tmp_path / "src"
    with agent_process(env, repo) as (_proc, paths), client_for(paths) as client:
        new_big = BIG[:300_000] + b"inserted" + BIG[300_000:]
        (src / "big.bin").write_bytes(new_big)
        wait_journaled(client, src, src / "big.bin")  # "now" on the timeline
        wait_events_delivered(client, src)  # none of the write's events comes after the backup's watermark
        client.subscribe()
        job = client.backup_now().job
        events = follow(client, job)
        kinds = [type(e) for e in events]
        assert kinds[0] == JobStarted and JobProgress in kinds and kinds[-1] == JobFinished
        finished = events[-1]
        assert isinstance(finished, JobFinished) and finished.result.exit_code == 0
        snap = finished.result.snapshot
        assert snap is not None and snap.trigger == "backup-now"
        sid = snap.id
        snapshot, plan = client.plan(os.fsencode(src / "big.bin"), at=str(sid))
        assert snapshot.id == sid
        assert combine(client, plan) == new_big
        assert client.changed(os.fsencode(src)) == []
    with Timekeep.open(repo) as tk:
        restored = io.BytesIO()
        tk.write_version(tk.plan(os.fsencode(src / "big.bin"), sid), restored)
    assert restored.getvalue() == new_big


def test_the_cli_uses_the_running_agent_and_a_second_agent_is_refused(tmp_path: Path, env: dict[str, str],
                                                                       repo: Path) -> None:
    with agent_process(env, repo) as (proc, paths):
        second = cli(env, "agent", "--repo", str(repo))
        assert second.returncode == 1 and "already running" in second.stderr
        (tmp_path / "src" / "notes.txt").write_bytes(b"edited")
        with client_for(paths) as client:
            wait_journaled(client, tmp_path / "src", tmp_path / "src" / "notes.txt")
        done = cli(env, "backup", "--repo", str(repo), "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["trigger"] == "backup-now"  # the agent took it
        status = cli(env, "status", "--json")
        assert json.loads(status.stdout)["agent"] is True
        text = cli(env, "status").stdout
        assert "Agent running" in text and str(repo) in text and "watched" in text
        assert proc.poll() is None


def test_sigterm_keeps_the_journal_for_the_next_agent(tmp_path: Path, env: dict[str, str], repo: Path) -> None:
    src = tmp_path / "src"
    with agent_process(env, repo) as (proc, paths):
        (src / "sub" / "a.txt").write_bytes(b"changed before SIGTERM")
        with client_for(paths) as client:
            wait_journaled(client, src, src / "sub" / "a.txt")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert not paths.socket.exists()
        log = paths.log_file.read_text()
        assert "agent ready" in log and "paths wait in the journals" in log
    assert os.fsencode(src / "sub" / "a.txt") in journaled(repo)
    with Timekeep.open(repo) as tk:
        before = len(tk.snapshots())
    with agent_process(env, repo) as (proc, paths), client_for(paths) as client:
        finished = client.back_up(None, threading.Event())
    assert isinstance(finished, JobFinished) and finished.result.snapshot is not None
    assert finished.result.snapshot.id == before + 1
    with Timekeep.open(repo) as tk:
        assert tk.versions(os.fsencode(src / "sub" / "a.txt"))[-1].snapshot_id == before + 1
    assert journaled(repo) == set()


def test_a_storage_time_at_shutdown(tmp_path: Path, env: dict[str, str], repo: Path) -> None:
    write_settings(env, at_shutdown=True)
    src = tmp_path / "src"
    with agent_process(env, repo) as (proc, paths):
        (src / "notes.txt").write_bytes(b"stored on the way out")
        with client_for(paths) as client:
            wait_journaled(client, src, src / "notes.txt")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        log = paths.log_file.read_text()
    with Timekeep.open(repo) as tk:
        assert tk.snapshots()[-1].trigger == "shutdown", log
    assert journaled(repo) == set()


def test_status_and_backup_without_an_agent(tmp_path: Path, env: dict[str, str], repo: Path) -> None:
    status = cli(env, "status", "--json", "--repo", str(repo))
    data = json.loads(status.stdout)
    assert data["agent"] is False and data["snapshots"] == 1
    assert "not running" in cli(env, "status", "--repo", str(repo)).stdout
    (tmp_path / "src" / "notes.txt").write_bytes(b"changed since")  # else the backup would find nothing new
    done = cli(env, "backup", "--repo", str(repo), "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["trigger"] == "manual"


def test_a_full_drive_through_the_agent_exits_4_as_without_it(tmp_path: Path, env: dict[str, str]) -> None:
    with film_on_a_small_drive(tmp_path) as repo:
        write_settings(env)
        with agent_process(env, repo) as (_proc, paths):
            done = cli(env, "backup", "--repo", str(repo))
        assert done.returncode == 4, done.stderr  # the drive could not be written: nothing new, nothing lost
        assert done.stderr.startswith("timekeep: the backup drive is full"), done.stderr
        assert re.search(r"job \d+ \(backup, backup-now\) on \S+ failed", paths.log_file.read_text())  # the agent's
