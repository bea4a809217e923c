"""The agent with its backups in a bucket, as a separate process against a real S3 server (`rclone serve s3`)
that the test stops and starts again: storage times and "Back up now" as for a drive; while the server is
away the status says "waiting for the network" and the log says so once; once it is back, the next storage
time stores what changed meanwhile."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent_support import agent_env, agent_process, cli, short_runtime_dir, wait_for
from tests.helpers import PASSPHRASE, make_tree
from tests.s3_support import Rclone, S3Server
from timekeep.core.agent.client import AgentClient
from timekeep.core.agent.messages import DestinationStatus


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Rclone]:
    (tmp_path / "served").mkdir()
    rclone = Rclone(tmp_path / "served")
    rclone.start()
    yield rclone
    rclone.kill()


@pytest.fixture
def env(tmp_path: Path, s3_credentials: None) -> Iterator[dict[str, str]]:
    runtime = short_runtime_dir()
    yield agent_env(runtime, tmp_path / "home")  # the test keys are in the environment it copies
    shutil.rmtree(runtime, ignore_errors=True)


def write_settings(env: dict[str, str], location: str, endpoint: str) -> None:
    """The agent's settings: the bucket its one destination, at the endpoint `init --endpoint` would
    remember; nothing on a schedule; looks at an unreachable bucket at least every half second."""
    path = Path(env["XDG_CONFIG_HOME"]) / "timekeep" / "settings.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update({"destinations": [location], "endpoints": {location: endpoint}, "interval_minutes": 24 * 60,
                 "at_shutdown": False, "journal_max_paths": 10**9, "quiet_seconds": 0, "tick_seconds": 0.05,
                 "remote_poll_seconds": 0.5, "remote_backoff_max_seconds": 0.5})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def ours(client: AgentClient, location: str) -> DestinationStatus:
    (found,) = [d for d in client.status().destinations if d.path == location]
    return found


def run(env: dict[str, str], *args: str) -> Any:
    done = cli(env, *args)
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.parametrize("encryption", ["none", "repokey"])
def test_the_agent_backs_up_to_a_bucket_and_carries_on_after_the_server_was_away(
        tmp_path: Path, server: Rclone, env: dict[str, str], encryption: str) -> None:
    """Encrypted, the agent unlocks the bucket's repository without asking, as it does a drive's (here from
    $TIMEKEEP_PASSPHRASE; the keyring is the same path, tests/test_agent_encrypted.py)."""
    bucket = S3Server("rclone", server.endpoint).new_bucket()
    location = f"s3://{bucket}/laptop"
    src = tmp_path / "src"
    make_tree(src, {"notes.txt": b"first", "sub": {"a.txt": b"a"}})
    if encryption != "none":
        env["TIMEKEEP_PASSPHRASE"] = PASSPHRASE
    run(env, "init", location, "--endpoint", server.endpoint, "--encryption", encryption)
    run(env, "--repo", location, "add", str(src))
    write_settings(env, location, server.endpoint)
    with agent_process(env, location) as (_proc, paths):  # type: ignore[arg-type]  # --repo s3://… too
        client = AgentClient.connect(paths.socket, timeout=30)
        assert client is not None
        with client:
            wait_for(lambda: ours(client, location).snapshots == 1, 60, what="the first storage time, in the bucket")
            (src / "notes.txt").write_bytes(b"second")
            run(env, "--repo", location, "backup")  # "Back up now": the agent takes it
            taken = client.status().last_result
            assert taken is not None and taken.snapshot is not None and taken.snapshot.trigger == "backup-now"
            assert ours(client, location).snapshots == 2

            server.kill()
            away = wait_for(lambda: (d := ours(client, location)) and not d.present and d, 30,
                            what="the agent to notice the server is gone")
            assert "waiting for the network" in away.reason
            assert "waiting for the network" in run(env, "status").stdout
            (src / "sub" / "b.txt").write_bytes(b"written while offline")
            wait_for(lambda: "waiting for the network" in paths.log_file.read_text()
                     or paths.log_file.read_text().count("is gone") >= 1, 10, what="the log line")

            server.start()
            wait_for(lambda: ours(client, location).snapshots == 3, 60,
                     what="a storage time once the server is back")
            assert ours(client, location).present
            result = client.status().last_result
            assert result is not None and result.ok and result.snapshot is not None
    log = paths.log_file.read_text()
    assert log.count("is gone") == 1, "one line for the outage, not one per look"
    restored = tmp_path / "restored"
    run(env, "--repo", location, "restore", str(src), "--to", str(restored))
    assert (restored / "src" / "sub" / "b.txt").read_bytes() == b"written while offline"
    assert (restored / "src" / "notes.txt").read_bytes() == b"second"
