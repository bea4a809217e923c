"""A backup the agent took is durable before its client hears "stored": when `timekeep backup` returns, the
new snapshot's manifest is on the drive and the index's commit of it is in index.db itself (its write-ahead log
checkpointed into the file as the writer closed), so a power cut right after the reply costs nothing: the
index file alone, without its -wal, already holds the snapshot as complete."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent_support import agent_process, cli, settled_agent_env, wait_for
from tests.helpers import backup, make_tree, new_repo
from timekeep.core.agent.client import AgentClient
from timekeep.core.agent.paths import AgentPaths
from timekeep.core.storage.layout import layout_of, load_config
from timekeep.core.storage.manifest import manifest_files


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    found = settled_agent_env(tmp_path / "home")
    yield found
    shutil.rmtree(found["XDG_RUNTIME_DIR"], ignore_errors=True)


def pending(paths: AgentPaths) -> int:
    with AgentClient.connect(paths.socket) as client:  # type: ignore[union-attr]
        return client.status().destinations[0].pending_paths


def complete_in_the_file_alone(repo: Path, scratch: Path) -> set[int]:
    """The complete snapshots index.db holds by itself: copied without its -wal, as a power cut would leave it
    if the log's frames had never reached the file."""
    scratch.mkdir(exist_ok=True)
    alone = scratch / "index.db"
    shutil.copyfile(repo / "index.db", alone)
    with sqlite3.connect(alone) as conn:
        return {int(r[0]) for r in conn.execute("SELECT id FROM snapshot WHERE state = 'complete'")}


def test_when_the_client_hears_stored_the_snapshot_is_on_the_drive_and_in_the_index_file(
        tmp_path: Path, env: dict[str, str]) -> None:
    src = tmp_path / "src"
    make_tree(src, {"notes.txt": b"first"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    layout = layout_of(repo, load_config(repo))
    with agent_process(env, repo) as (_proc, paths):
        for n in range(2):
            (src / "notes.txt").write_bytes(f"edit {n}".encode())
            wait_for(lambda: pending(paths) >= 1, what="the change to be journaled")
            done = cli(env, "backup", "--json", "--repo", str(repo))
            assert done.returncode == 0, done.stderr
            sid = int(json.loads(done.stdout)["id"])
            assert sid in manifest_files(layout)  # on the drive
            assert sid in complete_in_the_file_alone(repo, tmp_path / f"copy{n}")  # and in the index file itself
