"""The guard end to end, in a real agent process on a real folder: an attack-like burst shows as an incident in
`timekeep status` (text and JSON), thinning is refused by the agent and by `timekeep coalesce`, the incident
survives a restart, `timekeep guard restore` gives the folder back byte for byte in a new place beside it, and
`timekeep guard clear` resumes thinning. Ordinary work opens no incident."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent_support import agent_env, agent_process, cli, journaled, short_runtime_dir, wait_for
from tests.guard_support import ATTACKS, DOCS, Files, git_checkout, make_docs, make_sources, photo_import
from tests.helpers import backup, new_repo, read_tree
from timekeep.core.agent.client import AgentClient, AgentError
from timekeep.core.agent.messages import GuardStatus
from timekeep.core.agent.paths import AgentPaths


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    runtime = short_runtime_dir()
    env = agent_env(runtime, tmp_path / "home")
    folder = Path(env["XDG_CONFIG_HOME"]) / "timekeep"
    folder.mkdir(parents=True)
    (folder / "settings.json").write_text(json.dumps({
        "interval_minutes": 24 * 60, "at_shutdown": False, "journal_max_paths": 10**9, "quiet_seconds": 0,
        "tick_seconds": 0.05}))
    yield env
    shutil.rmtree(runtime, ignore_errors=True)


def guard_of(paths: AgentPaths) -> GuardStatus:
    client = AgentClient.connect(paths.socket, timeout=30)
    assert client is not None
    with client:
        guard = client.status().guard
    assert guard is not None
    return guard


def changed(paths: AgentPaths, src: Path, path: Path) -> bool:
    client = AgentClient.connect(paths.socket, timeout=30)
    assert client is not None
    with client:
        return os.fsencode(path) in {c.path for c in client.changed(os.fsencode(src))}


def waited(paths: AgentPaths, condition: Callable[[], Any], what: str) -> Any:
    """`wait_for`, saying on a timeout what the agent logged meanwhile."""
    try:
        return wait_for(condition, what=what)
    except AssertionError as err:
        log = "\n".join(line for line in paths.log_file.read_text().splitlines() if " DEBUG " not in line)
        raise AssertionError(f"{err}; the agent's log:\n{log[-5000:]}") from None


def before_snapshot(paths: AgentPaths) -> int | None:
    incident = guard_of(paths).incident
    return None if incident is None or not incident.before else incident.before[0].snapshot


def test_an_attack_is_held_until_the_all_clear(tmp_path: Path, env: dict[str, str]) -> None:
    src = tmp_path / "src"
    make_docs(Files(src))
    repo = new_repo(tmp_path, src)
    snap = backup(repo)
    page = src / "Documents" / "written-since.txt"
    page.write_bytes(b"a page written after the last backup\n")  # found by the scan the agent starts with
    before = read_tree(src)
    with agent_process(env, repo) as (_, paths):
        wait_for(lambda: changed(paths, src, page), what="the new page to be journaled")
        ATTACKS["renamed to .locked"](Files(src))
        wait_for(lambda: guard_of(paths).incident, what="the incident")
        kept = waited(paths, lambda: before_snapshot(paths) != snap and before_snapshot(paths),
                      "the storage time of what changed before the burst")
        status = cli(env, "status")
        assert status.returncode == 0 and "GUARD: suspected mass damage" in status.stdout, status
        assert f"snapshot {kept}" in status.stdout and "timekeep guard restore" in status.stdout
        data: dict[str, Any] = json.loads(cli(env, "status", "--json").stdout)
        assert data["guard"]["incident"]["folders"] == [str(src)]
        assert data["guard"]["incident"]["before"] == [
            {"destination": str(repo), "snapshot": kept, "time": data["guard"]["incident"]["before"][0]["time"]}]
        burst = {os.fsencode(src / f"{rel}.locked") for rel in DOCS}  # waits for the all-clear
        waiting = waited(paths, lambda: burst <= (found := journaled(repo)) and found, "the burst to be journaled")
        assert os.fsencode(page) not in waiting  # stored: it came before
        client = AgentClient.connect(paths.socket, timeout=30)
        assert client is not None
        with client, pytest.raises(AgentError, match="thinning is paused"):
            client.coalesce_now()
        thin = cli(env, "--repo", str(repo), "coalesce")
        assert thin.returncode == 2 and thin.stderr.count("\n") == 1 and "thinning is paused" in thin.stderr, thin
    assert paths.guard_file.exists()
    stopped = cli(env, "--repo", str(repo), "status")
    assert "not running" in stopped.stdout and "GUARD: suspected mass damage" in stopped.stdout, stopped
    assert json.loads(cli(env, "--repo", str(repo), "status", "--json").stdout)["guard"]["incident"]["folders"] == \
        [str(src)]
    with agent_process(env, repo) as (_, paths):  # a restart keeps the incident
        assert guard_of(paths).incident is not None
        restored = cli(env, "--repo", str(repo), "guard", "restore", str(src))
        assert restored.returncode == 0, restored
        place = next(p for p in tmp_path.iterdir() if p.name.startswith("src as of "))
        assert read_tree(place / "src") == before
        assert str(place / "src") in restored.stdout
        assert read_tree(src) != before  # nothing was overwritten: the damaged folder is as the attack left it
        cleared = cli(env, "guard", "clear")
        assert cleared.returncode == 0 and "All clear" in cleared.stdout, cleared
        assert guard_of(paths).incident is None
        assert "nothing suspected" in cli(env, "status").stdout
    assert not paths.guard_file.exists()
    assert cli(env, "--repo", str(repo), "coalesce").returncode == 0


def test_guard_restore_says_what_it_needs(tmp_path: Path, env: dict[str, str]) -> None:
    src = tmp_path / "src"
    make_docs(Files(src))
    repo = new_repo(tmp_path, src)
    snap = backup(repo)
    missing = cli(env, "--repo", str(repo), "guard", "restore", str(src))
    assert missing.returncode == 2 and "--at" in missing.stderr and "Traceback" not in missing.stderr, missing
    place = tmp_path / "elsewhere"
    given = cli(env, "--repo", str(repo), "guard", "restore", str(src), "--at", str(snap), "--to", str(place))
    assert given.returncode == 0, given
    assert read_tree(place / "src") == read_tree(src)


def test_ordinary_work_opens_no_incident(tmp_path: Path, env: dict[str, str]) -> None:
    src = tmp_path / "src"
    make_docs(Files(src))
    make_sources(Files(src))
    repo = new_repo(tmp_path, src)
    backup(repo)
    with agent_process(env, repo) as (_, paths):
        start = guard_of(paths).seen
        changed = git_checkout(Files(src)) + photo_import(Files(src))
        wait_for(lambda: guard_of(paths).seen - start >= len(changed), what="the guard to see the burst")
        wait_for(lambda: guard_of(paths).waiting == 0, what="the guard to sample what settled")
        assert guard_of(paths).incident is None
        assert "nothing suspected" in cli(env, "status").stdout
    assert not os.path.exists(paths.guard_file)
