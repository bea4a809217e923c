"""Killed writers: `kill -9` a backup subprocess at random points and at known phases.

After every kill the repository must check clean (every chunk re-hashed), every earlier complete snapshot
must restore byte-exact to the tree recorded when it was taken, and the next backup must complete and
restore byte-exact too. A lock held by a live writer refuses a second one; a killed holder's lock is
taken over without help.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests import depth
from tests.helpers import Tree, child_env, new_repo, read_tree
from tests.test_kill_writers import kill_when_written
from tests.treeops import MtimeClock, fresh_dir, insert, overwrite
from timekeep.core.api import Timekeep
from timekeep.core.errors import RepositoryLocked

ROOT = Path(__file__).resolve().parent.parent
MiB = 1 << 20

BACKUP_CHILD = """
import sys
from timekeep.core.api import Timekeep, unlock

def said(progress):
    print(progress.phase, flush=True)

unlock(sys.argv[1], interactive=False)  # an encrypted one, from $TIMEKEEP_PASSPHRASE
print("go", flush=True)
with Timekeep.open(sys.argv[1], writer=True) as tk:
    tk.backup(progress=said)
print("done", flush=True)
"""

LOCK_HOLDER = """
import signal, sys
from timekeep.core.api import Timekeep

with Timekeep.open(sys.argv[1], writer=True):
    print("locked", flush=True)
    signal.pause()  # hold the lock until the test kills this process
"""


def python(code: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, env=child_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)


# --- the source tree -----------------------------------------------------------------------------------


@dataclass
class Source:
    """A tree of a few big random files and a few hundred small ones, changed a lot between backups."""

    root: Path
    rng: random.Random
    clock: MtimeClock = field(default_factory=MtimeClock)
    new_bytes: int = 0  # new content written since the last look: about what the next backup stores

    def taken(self) -> int:
        """The new bytes since the last call (what the next backup will write to the drive, give or take)."""
        found, self.new_bytes = self.new_bytes, 0
        return found

    def build(self, big: int = 8, small: int = 300) -> None:
        for i in range(big):
            self.write(self.root / f"big{i}.bin", self.rng.randbytes(self.rng.randint(1, 8) * MiB))
        for i in range(small):
            folder = self.root / f"d{i % 12}"
            folder.mkdir(exist_ok=True)
            self.write(folder / f"f{i}.txt", self.rng.randbytes(self.rng.randint(0, 20_000)))

    def write(self, path: Path, data: bytes) -> None:
        path.write_bytes(data)
        self.clock.bump(path)
        self.new_bytes += len(data)

    def files(self, pattern: str) -> list[Path]:
        return sorted(self.root.glob(pattern))

    def change_big_files(self) -> None:
        bigs = self.rng.sample(self.files("big*.bin"), 6)
        for path in bigs[:3]:
            self.write(path, self.rng.randbytes(self.rng.randint(1, 8) * MiB))
        for path in bigs[3:5]:
            overwrite(path, self.rng.randrange(path.stat().st_size), self.rng.randbytes(MiB))
            self.clock.bump(path)
            self.new_bytes += MiB
        insert(bigs[5], self.rng.randrange(bigs[5].stat().st_size), b"inserted" * 13)
        self.clock.bump(bigs[5])

    def change_small_files(self, n: int = 60) -> None:
        smalls = self.rng.sample(self.files("d*/f*.txt"), n)
        for path in smalls[: n // 2]:
            self.write(path, self.rng.randbytes(self.rng.randint(0, 30_000)))
        for path in smalls[n // 2 : n // 2 + n // 6]:
            path.unlink()
        for path in smalls[n // 2 + n // 6 :]:
            path.rename(path.with_name(f"moved-{self.rng.randrange(10**9)}.txt"))
        for i in range(n // 6):
            self.write(self.root / f"d{i % 12}" / f"new-{self.rng.randrange(10**9)}.txt", self.rng.randbytes(5000))

    def rewrite_big_files(self, size: int = 8 * MiB) -> None:
        for path in self.files("big*.bin"):
            self.write(path, self.rng.randbytes(size))

    def change(self) -> None:
        self.change_big_files()
        self.change_small_files()


# --- the repository and what each snapshot held ----------------------------------------------------------


@dataclass
class History:
    repo: Path
    src: Path
    scratch: Path
    trees: dict[int, Tree] = field(default_factory=dict)

    @property
    def folder(self) -> bytes:
        return os.fsencode(self.src)

    def backup(self) -> int:
        with Timekeep.open(self.repo, writer=True) as tk:
            sid = tk.backup().id
        self.trees[sid] = read_tree(self.src)
        return sid

    def adopt_new_snapshots(self, tree: Tree) -> list[int]:
        """Snapshots not recorded yet were taken of `tree` (the source did not change since)."""
        with Timekeep.open(self.repo) as tk:
            new = [s.id for s in tk.snapshots() if s.id not in self.trees]
        for sid in new:
            self.trees[sid] = tree
        return new

    def assert_whole(self) -> None:
        """check --read-data is clean and every complete snapshot restores exactly as it was recorded."""
        with Timekeep.open(self.repo) as tk:
            report = tk.check(read_data=True)
            assert report.ok, report.problems
            assert {s.id for s in tk.snapshots()} == set(self.trees)
            for sid, tree in sorted(self.trees.items()):
                self.assert_restores(tk, sid, tree)

    def assert_restores(self, tk: Timekeep, sid: int, tree: Tree) -> None:
        dest = fresh_dir(self.scratch)
        result = tk.restore(self.folder, sid, dest=os.fsencode(dest))
        assert result.errors == ()
        assert read_tree(dest / self.src.name) == tree, f"snapshot {sid} does not restore as recorded"


@pytest.fixture
def history(tmp_path: Path) -> History:
    src = Path(os.path.realpath(tmp_path)) / "src"
    src.mkdir()
    return History(new_repo(tmp_path, src), src, tmp_path / "restores")


def backup_killed_after_writing(repo: Path, threshold: int) -> bool:
    """Start a backup in a subprocess and SIGKILL it once it has written `threshold` bytes (its progress, not the
    time it took: the same point however loaded the machine is); True if it finished first."""
    proc = python(BACKUP_CHILD, str(repo))
    assert proc.stdout is not None and proc.stdout.readline() == b"go\n"
    if kill_when_written(proc, threshold, fallback_s=0.3):
        return False
    out, err = proc.communicate()
    assert proc.returncode == 0 and out.endswith(b"done\n"), err
    return True


def backup_killed_at_phase(repo: Path, phase: bytes) -> None:
    """SIGKILL a backup subprocess as soon as it reports `phase` (store: mid-read; commit: writing the end)."""
    proc = python(BACKUP_CHILD, str(repo))
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == phase:
            break
    else:
        pytest.fail(f"the backup never reported phase {phase!r}: {proc.stderr.read() if proc.stderr else b''!r}")
    kill(proc)


def after_kill(history: History, tree: Tree) -> None:
    """The repository as a killed writer left it, then after the next backup."""
    history.adopt_new_snapshots(tree)
    history.assert_whole()
    sid = history.backup()
    history.adopt_new_snapshots(tree)
    assert history.trees[sid] == tree
    history.assert_whole()


# --- the tests ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("phase", [b"store", b"commit"])
def test_backup_killed_at_a_known_phase(plain_and_encrypted: str, history: History, phase: bytes) -> None:
    source = Source(history.src, random.Random(7))
    source.build(big=6, small=100)
    history.backup()
    source.change()
    source.rewrite_big_files()  # long enough to report progress while storing
    tree = read_tree(history.src)
    backup_killed_at_phase(history.repo, phase)
    after_kill(history, tree)


# (big files, small files, backups killed): the encrypted history smaller, its kills fewer (each restores all)
RANDOM_POINTS = {"drive": (8, 300, depth.runs(6, 4)), "encrypted": (6, 120, 3)}  # 6: TIMEKEEP_FULL_LOOPS=1


@pytest.mark.slow
def test_backup_killed_at_random_points(plain_and_encrypted: str, history: History) -> None:
    big, small, kills = RANDOM_POINTS[plain_and_encrypted]
    rng = random.Random(20261125)
    source = Source(history.src, rng)
    source.build(big, small)
    history.backup()
    killed = 0
    for _ in range(kills):
        source.taken()
        source.change()
        tree = read_tree(history.src)
        # after a random share of what it will store, skewed early (its scan and first reads write little)
        killed += not backup_killed_after_writing(history.repo, int(source.taken() * rng.random() ** 1.5))
        after_kill(history, tree)
    assert killed >= kills - 1, "nearly every backup should have been killed mid-way"


@pytest.fixture
def lock_holder(history: History) -> Iterator[subprocess.Popen[bytes]]:
    proc = python(LOCK_HOLDER, str(history.repo))
    assert proc.stdout is not None and proc.stdout.readline() == b"locked\n"
    yield proc
    if proc.poll() is None:
        kill(proc)


def test_live_lock_refuses_a_second_writer(history: History, lock_holder: subprocess.Popen[bytes]) -> None:
    with pytest.raises(RepositoryLocked, match=str(lock_holder.pid)):
        Timekeep.open(history.repo, writer=True)
    with Timekeep.open(history.repo) as tk:  # readers are not held up
        assert tk.snapshots() == []


def test_live_lock_gives_exit_code_2_from_the_cli(history: History, lock_holder: subprocess.Popen[bytes]) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-m", "timekeep.core.cli.main", "backup", "--repo", str(history.repo)],
                         cwd=ROOT, env=env, capture_output=True, timeout=60, check=False)
    assert run.returncode == 2
    lines = run.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "in use" in lines[0] and "Traceback" not in run.stderr.decode()


def test_lock_of_a_killed_holder_is_taken_automatically(history: History,
                                                        lock_holder: subprocess.Popen[bytes]) -> None:
    (history.src / "a.txt").write_bytes(b"after the holder died")
    kill(lock_holder)
    sid = history.backup()
    history.assert_whole()
    assert history.trees[sid][b"a.txt"][1] == b"after the holder died"
