"""Two computers backing up into one prefix of a bucket: each keeps its own index (its own cache folder), the
lease lock lets only one write at a time (the other, even as another process, is refused in one line), and
each computer's index catches up with the other's snapshots, so both histories restore exactly from
either computer."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace as replace_
from pathlib import Path

import pytest

from tests.helpers import Tree, make_tree, read_tree
from tests.s3_support import S3Server
from timekeep.core import api
from timekeep.core.api import Timekeep
from timekeep.core.errors import RepositoryLocked
from timekeep.core.storage.layout import local_index_home
from timekeep.core.storage.lease_lock import Lease, machine_id

ROOT = Path(__file__).resolve().parent.parent


class Computer:
    """One computer: its own cache folder (where the repository's index lives)."""

    def __init__(self, name: str, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.name, self.cache, self.monkeypatch = name, tmp / f"{name}-cache", monkeypatch

    def be(self) -> None:
        self.monkeypatch.setenv("XDG_CACHE_HOME", str(self.cache))

    def back_up(self, url: str) -> int:
        self.be()
        with Timekeep.open(url, writer=True) as tk:
            return tk.backup(trigger=self.name).id


def test_two_computers_take_turns_and_keep_both_histories(s3_server: S3Server, s3_bucket: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"s3://{s3_bucket}/shared"
    alice, bob = Computer("alice", tmp_path, monkeypatch), Computer("bob", tmp_path, monkeypatch)
    alice.be()
    api.init_repository(url, endpoint=s3_server.endpoint)
    source = tmp_path / "docs"
    make_tree(source, {"plan.txt": b"version 0\n"})
    with Timekeep.open(url, writer=True) as tk:
        tk.add_folder(os.fsencode(source))
        rid = tk.repository_id
    trees: dict[int, Tree] = {}
    for turn, computer in enumerate([alice, bob, alice, bob]):
        make_tree(source, {"plan.txt": f"version {turn} by {computer.name}\n".encode(), f"{turn}.bin": os.urandom(
            50_000)})
        trees[computer.back_up(url)] = read_tree(source)
    assert len(trees) == 4
    assert local_index_home(rid).is_relative_to(bob.cache)
    for computer in (alice, bob):
        computer.be()
        assert local_index_home(rid).joinpath("index.db").exists()
        with Timekeep.open(url) as tk:
            assert [(s.id, s.trigger) for s in tk.snapshots()] == [
                (sid, name) for sid, name in zip(trees, ["alice", "bob", "alice", "bob"], strict=True)]
            for sid, tree in trees.items():
                dest = tmp_path / f"{computer.name}-{sid}"
                assert tk.restore(os.fsencode(source), sid, dest=os.fsencode(dest)).errors == ()
                assert read_tree(dest / "docs") == tree


def test_a_second_writer_is_refused_while_one_writes(s3_server: S3Server, s3_bucket: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"s3://{s3_bucket}/busy"
    alice, bob = Computer("alice", tmp_path, monkeypatch), Computer("bob", tmp_path, monkeypatch)
    alice.be()
    api.init_repository(url, endpoint=s3_server.endpoint)
    source = tmp_path / "docs"
    make_tree(source, {"a.txt": b"a\n"})
    with Timekeep.open(url, writer=True) as tk:
        tk.add_folder(os.fsencode(source))
        bob.be()
        with pytest.raises(RepositoryLocked, match="in use by process"):
            Timekeep.open(url, writer=True)
        other = subprocess.run(
            [sys.executable, "-m", "timekeep.core.cli.main", "backup", "--repo", url], capture_output=True, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(bob.cache)}, timeout=120, check=False)
        assert other.returncode == 2, other.stderr
        assert len(other.stderr.strip().splitlines()) == 1 and "in use by process" in other.stderr
        alice.be()
        first = tk.backup().id
    assert bob.back_up(url) == first + 1  # once alice let go


def test_a_lock_left_by_an_ended_process_of_this_computer_is_taken_at_once(s3_server: S3Server, s3_bucket: str
                                                                            ) -> None:
    """A command that lost its server mid-backup could not delete its lock: the next command on this computer
    does not wait for the lease to run out. Another computer's lock, with the same process number, is kept."""
    url = f"s3://{s3_bucket}/left"
    api.init_repository(url, endpoint=s3_server.endpoint)
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    store = api.locate(url).backend  # type: ignore[attr-defined]
    now = time.time()
    left = Lease("this-computer", ended.pid, "a" * 32, now, now + 90, machine_id())
    store.write("lock", left.encode(), replace=True)
    with Timekeep.open(url, writer=True) as tk:
        assert tk.snapshots() == []
    store.write("lock", replace_(left, machine="another-computer:4026531836").encode(), replace=True)
    with pytest.raises(RepositoryLocked, match=f"in use by process {ended.pid}"):
        Timekeep.open(url, writer=True)
