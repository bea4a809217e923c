"""A runtime folder too deep for a Unix socket: the agent and its clients say so plainly, naming the path and
the limit, instead of an OSError ("AF_UNIX path too long") or a silent "the agent is not running"."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.agent_support import agent_env, cli, short_runtime_dir
from tests.helpers import new_repo
from timekeep.core.agent.paths import SOCKET_PATH_MAX, AgentPaths, SocketPathTooLong


def paths_with_socket_of(length: int, base: Path) -> AgentPaths:
    """Agent paths whose socket path is exactly `length` bytes long."""
    filler = length - len(str(base / "agent.sock")) - 1
    runtime = base / ("r" * filler)
    paths = AgentPaths(runtime, base / "logs", base / "state", base / "config")
    assert len(str(runtime / "agent.sock")) == length
    return paths


def can_bind(path: Path) -> bool:
    path.parent.mkdir(parents=True, exist_ok=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(str(path))
        except OSError:
            return False
    path.unlink()
    return True


def test_the_limit_is_the_kernels() -> None:
    """107 bytes binds and is accepted; 108 is refused by the kernel and by us, with the path and the limit."""
    base = short_runtime_dir()
    longest = paths_with_socket_of(SOCKET_PATH_MAX, base)
    assert can_bind(longest.socket)
    too_long = paths_with_socket_of(SOCKET_PATH_MAX + 1, base)
    assert not can_bind(too_long.runtime / "agent.sock")
    with pytest.raises(SocketPathTooLong) as raised:
        _ = too_long.socket
    message = str(raised.value)
    assert str(too_long.runtime / "agent.sock") in message
    assert "107 bytes" in message and "XDG_RUNTIME_DIR" in message


def test_ensure_fails_before_creating_anything(tmp_path: Path) -> None:
    paths = paths_with_socket_of(200, tmp_path)
    with pytest.raises(SocketPathTooLong):
        paths.ensure()
    assert not paths.runtime.exists() and not paths.logs.exists()


@pytest.mark.parametrize("command", ["agent", "status", "backup"])
def test_agent_and_clients_fail_with_the_message(tmp_path: Path, command: str) -> None:
    (tmp_path / "src").mkdir()
    repo = new_repo(tmp_path, tmp_path / "src")
    runtime = tmp_path / ("deep-" * 20)
    env = agent_env(runtime, tmp_path / "home")
    done = cli(env, command, "--repo", str(repo))
    assert done.returncode == 1
    assert done.stderr.startswith("timekeep: the agent's socket path ")
    assert str(runtime / "timekeep" / "agent.sock") in done.stderr and "107 bytes" in done.stderr
    assert "Traceback" not in done.stderr and "AF_UNIX" not in done.stderr
    assert not (runtime / "timekeep").exists()  # the agent created nothing it cannot use


def test_the_app_starts_without_the_agent_when_its_socket_cannot_exist(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The desktop app does not crash on such a folder: it backs up by itself and logs why."""
    from timekeep.gui.settings import AppPaths

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / ("deep-" * 20)))
    paths = AppPaths.default()
    assert paths.agent_socket is None
    assert "107 bytes" in caplog.text
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(short_runtime_dir()))
    assert AppPaths.default().agent_socket is not None
