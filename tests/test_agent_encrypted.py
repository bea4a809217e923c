"""The agent and an encrypted repository: unlocked without asking anyone (the keyring, $TIMEKEEP_PASSPHRASE), or
locked in plain words while it cannot be, journaling on, until a person gives the passphrase over the agent's
socket (`timekeep unlock`); what changed meanwhile is stored then, and restores byte-exact (issue 12).

Keyrings: keyring's fail backend stands for "no keyring" (in process, and for agent subprocesses through
PYTHON_KEYRING_BACKEND); the unattended backup after a restart runs against a real Secret Service, GNOME
Keyring's daemon in a D-Bus session of the test's own, as tests/test_unlock_keyring.py starts it.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends.fail import Keyring as NoKeyring

from tests import helpers
from tests.agent_support import (
    ROOT,
    InProcess,
    agent_config,
    agent_env,
    agent_process,
    cli,
    short_runtime_dir,
    wait_for,
)
from tests.helpers import PASSPHRASE, make_tree, new_repo, read_tree
from tests.test_unlock_keyring import REAPER, SESSION
from tests.treeops import restore_into
from timekeep.core.agent.client import AgentClient
from timekeep.core.agent.messages import DestinationStatus, Status
from timekeep.core.agent.paths import AgentPaths
from timekeep.core.agent.service import Service
from timekeep.core.api import Timekeep, repository_id, unlock
from timekeep.core.cli.agent_cmd import status_lines
from timekeep.core.crypto import sealing
from timekeep.core.errors import KeyNeeded, WrongPassphrase
from timekeep.core.schedule.policy import Policy


@pytest.fixture(autouse=True)
def encrypted_and_no_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """New repositories are encrypted; this process has no keyring and no passphrase in its environment."""
    import timekeep.core.capture.read as read

    monkeypatch.setattr(read, "RACY_NS", 1)
    monkeypatch.delenv("TIMEKEEP_PASSPHRASE", raising=False)
    before = keyring.get_keyring()
    keyring.set_keyring(NoKeyring())
    helpers.INDEX_MODE[0] = "encrypted"
    try:
        yield
    finally:
        helpers.INDEX_MODE[0] = "drive"
        keyring.set_keyring(before)


def locked_repo(tmp_path: Path, src: Path) -> Path:
    """An encrypted repository protecting `src`, with one snapshot, whose key this process then forgets (as an
    agent started after a reboot has none)."""
    repo = new_repo(tmp_path, src)
    helpers.backup(repo)
    sealing.forget(repository_id(repo))
    return repo


def stored_tree(repo: Path, src: Path, scratch: Path) -> dict[bytes, tuple[str, bytes, int]]:
    with Timekeep.open(repo) as tk:
        return restore_into(tk, os.fsencode(src), tk.snapshots()[-1].id, scratch)[0]


def test_without_a_key_the_destination_is_locked_journals_and_stores_after_unlocking(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"before", "sub": {"b.txt": b"b"}})
    repo = locked_repo(tmp_path, src)
    hourly = Policy(interval_s=3600, at_shutdown=False, journal_paths=10**9)
    caplog.set_level(logging.INFO, logger="timekeep.core.agent")
    with InProcess(agent_config(repo, policy=hourly)) as run:
        dest = run.agent.destinations[str(repo)]
        assert dest.present and dest.locked is not None and "timekeep unlock" in dest.locked
        assert dest.folders == {os.fsencode(src): dest.folders[os.fsencode(src)]}  # from this computer's index
        with run.changes(src / "a.txt"):
            (src / "a.txt").write_bytes(b"changed while locked")
        assert dest.stats.paths == 1  # journaled in the local index, without the key
        with pytest.raises(KeyNeeded, match="locked"):
            run.agent.request_backup("backup-now", str(repo), explicit=True)
        for _ in range(2):  # two storage times come due while it is locked: one line says so
            run.clock.advance(hours=2)
            run.settled()
        skipped = [r for r in caplog.records if "skipped" in r.getMessage()]
        assert len(skipped) == 1 and "timekeep unlock" in skipped[0].getMessage()
        with pytest.raises(WrongPassphrase):
            run.agent.unlocks.give(str(repo), "not the passphrase")
        assert dest.locked is not None
        run.agent.unlocks.give(str(repo), PASSPHRASE)
        assert dest.locked is None
        run.until(lambda: dest.snapshot_count == 2, what="the storage time after unlocking")
        run.idle()
    with Timekeep.open(repo) as tk:
        latest = tk.snapshots()[-1]
    assert latest.files_changed == 1  # the journaled change (its trigger: whichever came first, hours passed)
    assert stored_tree(repo, src, tmp_path / "r") == read_tree(src)


def test_the_passphrase_in_the_environment_unlocks_and_a_drive_back_stays_unlocked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"one"})
    repo = locked_repo(tmp_path, src)
    monkeypatch.setenv("TIMEKEEP_PASSPHRASE", PASSPHRASE)
    away = repo.with_name("unplugged")
    with InProcess(agent_config(repo)) as run:
        dest = run.agent.destinations[str(repo)]
        assert dest.present and dest.locked is None
        monkeypatch.delenv("TIMEKEEP_PASSPHRASE")  # from here on only the key in the agent's memory
        os.rename(repo, away)
        run.until(lambda: not dest.present, what="the drive to be gone")
        (src / "a.txt").write_bytes(b"changed while the drive was away")
        os.rename(away, repo)
        run.until(lambda: dest.present and dest.snapshot_count == 2, what="the drive-connected storage time")
        assert dest.locked is None
        run.idle()
    assert stored_tree(repo, src, tmp_path / "r") == read_tree(src)


def test_a_wrong_passphrase_in_the_environment_leaves_it_locked_and_the_status_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"one"})
    repo = locked_repo(tmp_path, src)
    monkeypatch.setenv("TIMEKEEP_PASSPHRASE", "an old passphrase")
    with InProcess(agent_config(repo)) as run:
        status = Service(run.agent).status()
    wire = json.loads(json.dumps(status.to_wire()))
    (dest,) = wire["destinations"]
    assert dest["present"] and "$TIMEKEEP_PASSPHRASE does not open it" in dest["locked"]
    assert Status.from_wire(wire).destinations[0].locked == dest["locked"]
    lines = status_lines(status)
    assert f"  {repo}  locked: the passphrase in $TIMEKEEP_PASSPHRASE does not open it; open Timekeep or run " \
           "`timekeep unlock` to give the passphrase; 0 changes (0 bytes) waiting for the next backup" in lines
    assert f"Next backup: once {repo} is unlocked." in lines


def agent_env_without_keyring(tmp_path: Path) -> dict[str, str]:
    """An agent subprocess's environment: no passphrase, no keyring, this test's cache folder (where the
    encrypted repository's index lives)."""
    env = agent_env(short_runtime_dir(), tmp_path / "home")
    env.update(XDG_CACHE_HOME=os.environ["XDG_CACHE_HOME"], PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    env.pop("TIMEKEEP_PASSPHRASE", None)
    return env


def destination(paths: AgentPaths) -> DestinationStatus:
    with AgentClient.connect(paths.socket) as client:  # type: ignore[union-attr]
        return client.status().destinations[0]


def read_with_passphrase(repo: Path, tmp_path: Path) -> Path:
    """Unlock `repo` in this process from a passphrase file (as a person would), for checking what it holds."""
    given = tmp_path / "passphrase"
    given.write_text(PASSPHRASE + "\n")
    assert unlock(repo, given, interactive=False)
    return given


def test_timekeep_unlock_gives_the_running_agent_the_passphrase_and_a_wrong_one_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"before"})
    repo = locked_repo(tmp_path, src)
    env = agent_env_without_keyring(tmp_path)
    given = tmp_path / "given"
    given.write_text(PASSPHRASE + "\n")
    with agent_process(env, repo) as (_, paths):
        wire = json.loads(cli(env, "status", "--json").stdout)
        assert "open Timekeep or run `timekeep unlock`" in wire["destinations"][0]["locked"]
        assert f"{repo}  locked: open Timekeep or run `timekeep unlock`" in cli(env, "status").stdout
        (src / "a.txt").write_bytes(b"changed while locked")
        wait_for(lambda: destination(paths).pending_paths == 1, what="the change journaled while locked")
        with AgentClient.connect(paths.socket) as client, pytest.raises(WrongPassphrase):  # type: ignore[union-attr]
            client.unlock(str(repo), "not the passphrase")
        wrong = cli({**env, "TIMEKEEP_PASSPHRASE": "not the passphrase"}, "unlock", "--repo", str(repo))
        assert wrong.returncode == 2 and wrong.stdout == "" and wrong.stderr.count("\n") == 1, wrong
        assert wrong.stderr.startswith("timekeep: ") and "Traceback" not in wrong.stderr
        assert destination(paths).locked
        done = cli(env, "unlock", "--repo", str(repo), "--passphrase-file", str(given))
        assert done.returncode == 0 and "unlocked" in done.stdout, done
        assert destination(paths).locked is None
        wait_for(lambda: destination(paths).snapshots == 2, 60, what="the storage time after unlocking")
    read_with_passphrase(repo, tmp_path)
    with Timekeep.open(repo) as tk:
        latest = tk.snapshots()[-1]
    assert latest.trigger == "unlocked" and latest.files_changed == 1
    assert stored_tree(repo, src, tmp_path / "r") == read_tree(src)


def test_unlock_without_a_running_agent_says_so_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    repo = locked_repo(tmp_path, tmp_path / "src")
    env = agent_env_without_keyring(tmp_path)
    done = cli({**env, "TIMEKEEP_PASSPHRASE": PASSPHRASE}, "unlock", "--repo", str(repo))
    assert done.returncode == 2 and "agent is not running" in done.stderr and done.stderr.count("\n") == 1


def test_the_status_without_an_agent_says_locked_rather_than_fail_or_ask(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    repo = locked_repo(tmp_path, tmp_path / "src")
    env = agent_env_without_keyring(tmp_path)
    locked = cli(env, "status", "--repo", str(repo))
    assert locked.returncode == 0 and f"{repo}  locked: encrypted: give its passphrase" in locked.stdout, locked
    assert json.loads(cli(env, "status", "--json", "--repo", str(repo)).stdout)["locked"].startswith("encrypted")
    opened = cli({**env, "TIMEKEEP_PASSPHRASE": PASSPHRASE}, "status", "--json", "--repo", str(repo))
    assert json.loads(opened.stdout)["snapshots"] == 1 and "locked" not in json.loads(opened.stdout)


SCENARIO = textwrap.dedent("""
    import json, os, sys
    from pathlib import Path
    from tests.agent_support import agent_process, cli, wait_for
    from timekeep.core.agent.client import AgentClient

    repo, src, passphrase = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring"}
    # Before the reboot: the passphrase kept in the keyring (no agent runs to hand it to).
    kept = cli({**env, "TIMEKEEP_PASSPHRASE": passphrase}, "unlock", "--remember", "--repo", str(repo))
    assert kept.returncode == 0 and "kept in the system keyring" in kept.stdout, kept

    def dest(paths):
        with AgentClient.connect(paths.socket) as client:
            return client.status().destinations[0]

    with agent_process(env, repo) as (_, paths):
        first = wait_for(lambda: (d := dest(paths)).snapshots == 1 and d, 60, what="the first storage time")
        away = repo.with_name("unplugged")
        os.rename(repo, away)
        wait_for(lambda: not dest(paths).present, 30, what="the drive to be gone")
        (src / "b.txt").write_bytes(b"written while the drive was away")
        os.rename(away, repo)
        back = wait_for(lambda: (d := dest(paths)).snapshots == 2 and d, 60, what="the drive-connected one")
    print(json.dumps({"first": first.locked, "back": back.locked}))
""")


@pytest.mark.skipif(not (shutil.which("gnome-keyring-daemon") and shutil.which("dbus-run-session")),
                    reason="needs Debian's gnome-keyring and dbus (apt-get install gnome-keyring dbus)")
def test_an_agent_started_fresh_unlocks_from_the_secret_service_and_backs_up_unattended(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"private words", "sub": {"c.bin": os.urandom(300_000)}})
    repo = new_repo(tmp_path, src)  # no snapshot yet: the agent's first storage time makes one
    sealing.forget(repository_id(repo))
    env = {k: v for k, v in agent_env_without_keyring(tmp_path).items() if not k.startswith("DBUS_")}
    env.pop("PYTHON_KEYRING_BACKEND")
    home = tmp_path / "home"
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / "data"))
    run = shlex.join([sys.executable, "-c", SCENARIO, str(repo), str(src), PASSPHRASE])
    session = ["dbus-run-session", "--", "bash", "-c", SESSION.replace('"$@"', run)]
    done = subprocess.run([sys.executable, "-c", REAPER, *session], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"first": None, "back": None}
    read_with_passphrase(repo, tmp_path)
    with Timekeep.open(repo) as tk:
        assert [s.trigger for s in tk.snapshots()] == ["first", "drive-connected"]
    assert stored_tree(repo, src, tmp_path / "r") == read_tree(src)


def test_timekeep_backup_hands_a_locked_agent_its_passphrase_and_the_agent_backs_up(tmp_path: Path) -> None:
    """The agent holds the drive locked; `timekeep backup` with the passphrase at hand gives it over (it would
    have unlocked with it itself) and the agent takes the backup; a wrong one is one line, exit 2."""
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"before"})
    repo = locked_repo(tmp_path, src)
    env = agent_env_without_keyring(tmp_path)
    with agent_process(env, repo) as (_, paths):
        assert destination(paths).locked
        (src / "a.txt").write_bytes(b"changed while locked")
        wait_for(lambda: destination(paths).pending_paths == 1, what="the change journaled while locked")
        wrong = cli({**env, "TIMEKEEP_PASSPHRASE": "not the passphrase"}, "backup", "--repo", str(repo))
        assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1 and "Traceback" not in wrong.stderr, wrong
        assert destination(paths).locked
        done = cli({**env, "TIMEKEEP_PASSPHRASE": PASSPHRASE}, "backup", "--repo", str(repo), "--json")
        assert done.returncode == 0, done
        assert json.loads(done.stdout)["destination"] == str(repo)  # the agent's backup, not one of its own
        assert destination(paths).locked is None and destination(paths).snapshots == 2
    read_with_passphrase(repo, tmp_path)
    assert stored_tree(repo, src, tmp_path / "r") == read_tree(src)
