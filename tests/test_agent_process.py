"""The agent as a separate process: its socket protocol, progress events, versions built by the test from
the agent's plan and chunks, SIGTERM keeping the journal, one agent per user, and the CLI talking to it."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.agent.protocol import AgentClient, AgentError, chunk_from, plan_from
from core.api import Timekeep
from tests.agent_support import agent_env, agent_process, cli, journaled, short_runtime_dir, wait_for
from tests.helpers import backup, make_tree, new_repo

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
    (folder / "agent.json").write_text(json.dumps(settings))


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
        changed = client.request("changed", path=str(folder))["changed"]
        return str(path) in {c["path"] for c in changed}
    wait_for(seen, what=f"{path} to show as changed")


def combine(client: AgentClient, plan_data: dict[str, Any]) -> bytes:
    """What another process does with the agent's answers: fetch each chunk and paint the pieces."""
    plan = plan_from(plan_data)
    out = bytearray(plan.size)
    for piece in plan.pieces:
        chunk = chunk_from(client.request("chunk", digest=piece.digest.hex()))
        out[piece.offset : piece.offset + piece.length] = chunk[piece.chunk_offset : piece.chunk_offset + piece.length]
    return bytes(out)


def follow(client: AgentClient, job: int) -> list[dict[str, Any]]:
    seen = []
    for event in client.events(timeout=60):
        if event.get("job") == job:
            seen.append(event)
            if event["event"] == "job_finished":
                return seen
    raise AssertionError(f"job {job} did not finish: {seen}")


def test_protocol_round_trip(tmp_path: Path, env: dict[str, str], repo: Path) -> None:
    with agent_process(env, repo) as (proc, paths), client_for(paths) as client:
        assert stat.S_IMODE(os.stat(paths.socket).st_mode) == 0o600
        status = client.request("status")
        assert status["pid"] == proc.pid and status["destinations"][0]["present"]
        assert status["folders"] == [{"path": str(tmp_path / "src"), "watched": True, "connected": True,
                                      "note": None, "destinations": [str(repo)]}]
        assert client.request("pause") == {"paused": True} and client.request("status")["state"] == "paused"
        assert client.request("resume") == {"paused": False}
        with pytest.raises(AgentError, match="unknown request"):
            client.request("explode")
        with pytest.raises(AgentError, match="bad request"):
            client.request("plan")
        with pytest.raises(AgentError, match="not a connected destination"):
            client.request("chunk", digest="00", destination=str(tmp_path / "nowhere"))
        assert client.request("status")["pid"] == proc.pid  # errors never cost the connection


def test_progress_events_and_a_version_built_from_plan_and_chunks(tmp_path: Path, env: dict[str, str],
                                                                   repo: Path) -> None:
    src = tmp_path / "src"
    with agent_process(env, repo) as (_proc, paths), client_for(paths) as client:
        new_big = BIG[:300_000] + b"inserted" + BIG[300_000:]
        (src / "big.bin").write_bytes(new_big)
        wait_journaled(client, src, src / "big.bin")  # "now" on the timeline (claim 30)
        client.request("subscribe")
        job = client.request("backup_now")["job"]
        events = follow(client, job)
        kinds = [e["event"] for e in events]
        assert kinds[0] == "job_started" and "progress" in kinds and kinds[-1] == "job_finished"
        finished = events[-1]
        assert finished["ok"] and finished["snapshot"]["trigger"] == "backup-now"
        sid = finished["snapshot"]["id"]
        answer = client.request("plan", path=str(src / "big.bin"), at=str(sid))
        assert answer["snapshot"]["id"] == sid
        assert combine(client, answer["plan"]) == new_big
        assert client.request("changed", path=str(src))["changed"] == []
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
        client.request("subscribe")
        finished = follow(client, client.request("backup_now")["job"])[-1]
    assert finished["ok"] and finished["snapshot"]["id"] == before + 1
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
    with Timekeep.open(repo) as tk:
        assert tk.snapshots()[-1].trigger == "shutdown"
    assert journaled(repo) == set()


def test_status_and_backup_without_an_agent(tmp_path: Path, env: dict[str, str], repo: Path) -> None:
    status = cli(env, "status", "--json", "--repo", str(repo))
    data = json.loads(status.stdout)
    assert data["agent"] is False and data["snapshots"] == 1
    assert "not running" in cli(env, "status", "--repo", str(repo)).stdout
    done = cli(env, "backup", "--repo", str(repo), "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["trigger"] == "manual"
