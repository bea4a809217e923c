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
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends.fail import Keyring as NoKeyring

from tests import helpers
from tests.agent_support import InProcess, agent_config, snapshot_of
from tests.helpers import PASSPHRASE, make_tree, new_repo, read_tree
from tests.treeops import restore_into
from timekeep.core.agent.messages import Status
from timekeep.core.agent.service import Service
from timekeep.core.api import Timekeep, repository_id
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
