"""History while the drive is away, through the in-process agent with real watchers and an injected clock: storage
times due while the drive is absent go to the away store on this computer; when the drive returns each away
snapshot lands on it with its own time and trigger, every version restores byte-exact, and the store is gone.
Plain and encrypted (the store then uses the drive's key, which the agent holds)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.agent_support import (
    InProcess,
    agent_config,
    agent_process,
    cli,
    kept,
    settled_agent_env,
    short_runtime_dir,
    wait_for,
)
from tests.helpers import backup, child_env, make_tree, new_repo, read_tree
from tests.treeops import fill_leaving, restore_into, small_tmpfs
from timekeep.core.agent.client import AgentClient
from timekeep.core.agent.destination import Destination
from timekeep.core.agent.messages import JobFinished, Status
from timekeep.core.agent.service import Service
from timekeep.core.api import Timekeep, is_encrypted, repository_id
from timekeep.core.away import store
from timekeep.core.cli.agent_cmd import status_lines
from timekeep.core.schedule.policy import Policy

HOURLY = Policy(interval_s=3600, at_shutdown=False, journal_paths=10**9, reconcile_every_s=10**8,
                coalesce_every_s=10**8, coalesce_after_start_s=10**8)


@pytest.fixture(autouse=True)
def no_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    import timekeep.core.capture.read as read

    monkeypatch.setattr(read, "RACY_NS", 1)


def away_snapshots(path: Path) -> int:
    return store.describe(path, 0).snapshots if store.exists(path) else 0


def unplug(run: InProcess, repo: Path, to: Path) -> Destination:
    """Once the agent has seen the drive (and whether it is encrypted), take it away: renamed to `to`."""
    dest = run.agent.destinations[str(repo)]
    run.until(lambda: dest.present and str(repo) in run.agent.away.encrypted, what="the drive to be seen")
    os.rename(repo, to)
    run.until(lambda: not dest.present, what="the drive to be gone")
    return dest


def test_storage_times_while_away_reach_the_drive_with_their_times(tmp_path: Path, plain_and_encrypted: str) -> None:
    src = tmp_path / "src"
    make_tree(src, {"notes.txt": b"before", "keep.txt": b"untouched"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    away_path = store.path_for(repository_id(repo))
    unplugged = repo.with_name("unplugged")
    states = []
    with InProcess(agent_config(repo, policy=HOURLY)) as run:
        unplug(run, repo, unplugged)
        for i in range(3):
            with run.changes(src / "notes.txt", src / f"new{i}.txt"):
                (src / "notes.txt").write_bytes(f"edited while away, {i}\n".encode() * (i + 1))
                (src / f"new{i}.txt").write_bytes(os.urandom(5000))
            run.clock.advance(hours=1, seconds=1)
            run.until(lambda i=i: away_snapshots(away_path) == i + 1, what=f"away snapshot {i + 1}")
            run.idle()
            states.append(read_tree(src))
        assert is_encrypted(away_path) == (plain_and_encrypted == "encrypted")
        status = Status.from_wire(Service(run.agent).op_status())  # as a client reads it
        line = next(t for t in status_lines(status) if str(repo) in t)
        assert "absent" in line and "3 snapshots kept on this computer" in line
        with Timekeep.open(away_path) as tk:
            times = [s.time_ns for s in tk.snapshots()]
        os.rename(unplugged, repo)
        run.until(lambda: not away_path.exists(), what="the away store to be moved and removed")
        run.idle()
    with Timekeep.open(repo) as tk:
        snaps = tk.snapshots()
        moved = [s for s in snaps if s.trigger == "away"]
        assert [s.time_ns for s in moved] == times
        assert snaps[0].time_ns < moved[0].time_ns and snaps.index(moved[-1]) >= len(snaps) - 2
        for snap, state in zip(moved, states, strict=True):
            assert restore_into(tk, os.fsencode(src), snap.id, tmp_path / f"r{snap.id}")[0] == state
        assert restore_into(tk, os.fsencode(src), snaps[-1].id, tmp_path / "last")[0] == read_tree(src)



def test_a_nearly_full_disk_refuses_cleanly_and_the_drive_gets_the_changes(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    make_tree(src, {"notes.txt": b"before"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    data = tmp_path / "data"
    events: list[object] = []
    with small_tmpfs(data, "96m"):
        monkeypatch.setenv("XDG_DATA_HOME", str(data))
        away_path = store.path_for(repository_id(repo))
        unplugged = repo.with_name("unplugged")
        with InProcess(agent_config(repo, policy=HOURLY)) as run:
            run.agent.publish = events.append
            dest = unplug(run, repo, unplugged)
            with run.changes(src / "notes.txt"):
                (src / "notes.txt").write_bytes(b"edited on a nearly full disk")
            assert store.exists(away_path)
            fill_leaving(data, 40 << 20)
            run.clock.advance(hours=1, seconds=1)
            finished = run.until(lambda: [e for e in events if isinstance(e, JobFinished) and e.info.kind == "away"],
                                 what="the away storage time to end")
            result = finished[0].result
            assert not result.ok and result.exit_code == 4 and "not kept on this computer" in result.error
            assert "\n" not in result.error and away_snapshots(away_path) == 0
            os.rename(unplugged, repo)
            run.until(lambda: not away_path.exists(), what="the empty away store to be removed")
            run.until(lambda: dest.snapshot_count == 2, what="the drive-connected storage time")
            run.idle()
    with Timekeep.open(repo) as tk:
        last = tk.snapshots()[-1]
        assert restore_into(tk, os.fsencode(src), last.id, tmp_path / "r")[0] == read_tree(src)


def test_while_away_the_command_line_reads_the_snapshots_kept_on_this_computer(tmp_path: Path,
                                                                               plain_and_encrypted: str) -> None:
    src = tmp_path / "src"
    make_tree(src, {"notes.txt": b"before"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    away_path = store.path_for(repository_id(repo))
    with InProcess(agent_config(repo, policy=HOURLY)) as run:
        unplug(run, repo, repo.with_name("unplugged"))
        for text in (b"first away", b"second away"):
            with run.changes(src / "notes.txt"):
                (src / "notes.txt").write_bytes(text)
            run.clock.advance(hours=1, seconds=1)
            run.until(lambda text=text: away_snapshots(away_path) == (1 if text == b"first away" else 2),
                      what="an away snapshot")
            run.idle()
    # an encrypted store opens with the drive's passphrase, through the copy of its key slots the agent kept
    env = child_env(PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
                    XDG_RUNTIME_DIR=str(short_runtime_dir()))  # where no agent listens, whatever runs on the machine
    listed = cli(env, "--repo", str(repo), "snapshots", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [s["trigger"] for s in json.loads(listed.stdout)] == ["away", "away"]
    assert "kept on this computer" in listed.stderr
    first = cli(env, "--repo", str(repo), "cat", str(src / "notes.txt"), "--at", "1")
    assert first.returncode == 0 and first.stdout == "first away", first.stderr
    restored = cli(env, "--repo", str(repo), "restore", str(src), "--at", "2", "--to", str(tmp_path / "back"))
    assert restored.returncode == 0, restored.stderr
    assert (tmp_path / "back" / "src" / "notes.txt").read_bytes() == b"second away"
    log = cli(env, "--repo", str(repo), "log", str(src / "notes.txt"))
    assert log.returncode == 0 and log.stdout.count("\n") >= 2, log.stderr
    status = cli(env, "--repo", str(repo), "status")  # no agent runs: read from this computer's disk
    assert status.returncode == 0 and "absent" in status.stdout, status.stderr
    assert "away history: 2 snapshots kept on this computer" in status.stdout
    refused = cli(env, "--repo", str(repo), "backup")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    if plain_and_encrypted == "encrypted":
        without = cli({k: v for k, v in env.items() if k != "TIMEKEEP_PASSPHRASE"}, "--repo", str(repo), "snapshots")
        assert without.returncode != 0 and "Traceback" not in without.stderr


def test_an_away_store_this_computer_cannot_read_keeps_nothing_more_and_says_why(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"notes.txt": b"before"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    away_path = store.path_for(repository_id(repo))
    with InProcess(agent_config(repo, policy=HOURLY)) as run:
        unplug(run, repo, repo.with_name("unplugged"))
        with run.changes(src / "notes.txt"):
            (src / "notes.txt").write_bytes(b"first")
        assert store.exists(away_path)
        (away_path / "config.json").write_bytes(b"{ damaged")
        with run.changes(src / "notes.txt"):
            (src / "notes.txt").write_bytes(b"second")
        run.clock.advance(hours=1, seconds=1)
        run.ticked(5)  # every tick ran without failing (InProcess says so at its end)
        line = next(t for t in status_lines(Service(run.agent).status()) if str(repo) in t)
    assert "absent" in line and "cannot be read" in line


def test_back_up_now_and_the_shutdown_storage_time_while_away_keep_history_here(tmp_path: Path) -> None:
    """"Back up now" with the drive away stores into the away store (a person asked: not refused), and so does
    the storage time the agent takes as it shuts down; both reach the drive when it returns."""
    src = tmp_path / "src"
    make_tree(src, {"notes.txt": b"before"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    away_path = store.path_for(repository_id(repo))
    unplugged = repo.with_name("unplugged")
    policy = dataclasses.replace(HOURLY, at_shutdown=True)
    with InProcess(agent_config(repo, policy=policy)) as run:
        unplug(run, repo, unplugged)
        with run.changes(src / "notes.txt"):
            (src / "notes.txt").write_bytes(b"asked for while away")
        job = Service(run.agent).op_backup_now()
        assert job["kind"] == "away" and job["destination"] == str(repo), job
        run.until(lambda: away_snapshots(away_path) == 1, what="the asked-for away snapshot")
        run.idle()
        asked = read_tree(src)
        with run.changes(src / "notes.txt"):
            (src / "notes.txt").write_bytes(b"changed just before shutting down")
    assert away_snapshots(away_path) == 2, "the shutdown storage time kept the last change here"
    os.rename(unplugged, repo)
    with InProcess(agent_config(repo, policy=HOURLY)) as run:
        run.until(lambda: not away_path.exists(), what="the away store to be moved and removed")
        run.idle()
    with Timekeep.open(repo) as tk:
        moved = [s for s in tk.snapshots() if s.trigger == "away"]
        assert len(moved) == 2
        assert restore_into(tk, os.fsencode(src), moved[0].id, tmp_path / "asked")[0] == asked
        assert restore_into(tk, os.fsencode(src), moved[1].id, tmp_path / "last")[0] == read_tree(src)


def test_timekeep_backup_while_away_says_the_snapshot_is_kept_on_this_computer(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"notes.txt": b"before"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    env = settled_agent_env(tmp_path / "home")
    runtime = Path(env["XDG_RUNTIME_DIR"])
    away = Path(env["XDG_DATA_HOME"]) / "timekeep" / store.home().name / repository_id(repo)  # its away store
    try:
        with agent_process(env, repo) as (_proc, paths):
            client = AgentClient.connect(paths.socket, timeout=30)
            assert client is not None
            with client:
                wait_for(lambda: client.status().destinations[0].present, 60, what="the drive to be seen")
                os.rename(repo, repo.with_name("unplugged"))
                wait_for(lambda: not client.status().destinations[0].present, 60, what="the drive to be gone")
            (src / "notes.txt").write_bytes(b"asked for from the command line while away")
            # (an away storage time stores what the watcher journaled: asked for sooner, it finds nothing)
            wait_for(lambda: os.fsencode(src / "notes.txt") in kept(away), what="the change journaled here")
            done = cli(env, "backup", "--json")
            assert done.returncode == 0, done.stderr
            assert "kept on this computer" in done.stderr and "Traceback" not in done.stderr, done.stdout
            said = json.loads(done.stdout)
            assert said["kept_on_this_computer"] is True and said["trigger"] == "away"
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


def test_a_drive_gone_again_before_the_agent_looked_at_it_still_gets_its_away_store(tmp_path: Path) -> None:
    """The poll that finds the drive reads whether it is encrypted with its id: the look that follows needs the
    drive no more, so a drive unplugged between the two (or a status read that saw it present, then a person
    pulling it) still has its changes kept here."""
    src = tmp_path / "src"
    make_tree(src, {"notes.txt": b"before"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    unplugged = repo.with_name("unplugged")
    with InProcess(agent_config(repo, policy=HOURLY)) as run:
        dest = unplug(run, repo, unplugged)
        with run.held():
            run.agent.away.encrypted.clear()  # as for a drive this agent has never looked at
            os.rename(unplugged, repo)
            run.agent._poll_drives()
            assert dest.present and dest.presence.encrypted is False
            os.rename(repo, unplugged)
            run.agent.away.check()
            assert run.agent.away.encrypted == {str(repo): False}
        run.until(lambda: not dest.present, what="the drive to be gone")
        with run.changes(src / "notes.txt"):
            (src / "notes.txt").write_bytes(b"changed while away")
        run.until(lambda: os.fsencode(src / "notes.txt") in kept(store.path_for(repository_id(unplugged))),
                  what="the change journaled here")
