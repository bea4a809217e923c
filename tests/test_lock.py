"""The writer lock holds on the repository folder: deleting or replacing the `lock` file under a running
writer lets no second writer in, a killed holder's lock is broken by itself, and readers that keep
writers out still see a writer whose `lock` file is gone.

Holders are real processes that wait on a pipe (closing it lets them go), never on a clock.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import timekeep.core.storage.lock as lock_mod
from timekeep.core.api import Timekeep, init_repository
from timekeep.core.errors import RepositoryLocked
from timekeep.core.storage.lock import WriterLock, writer_running, writers_kept_out

ROOT = Path(__file__).resolve().parent.parent

HOLDER = """
import sys
from timekeep.core.api import Timekeep

with Timekeep.open(sys.argv[1], writer=True):
    print("locked", flush=True)
    sys.stdin.read()  # until the test closes the pipe
print("released", flush=True)
"""


class Holder:
    """A writer in another process, holding the repository until `let_go` (or `kill`)."""

    def __init__(self, repo: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(repo)], cwd=ROOT, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line == b"locked\n", line + self.proc.communicate(timeout=30)[1]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def let_go(self) -> None:
        out, err = self.proc.communicate(timeout=30)  # closes its stdin: it releases and exits
        assert self.proc.returncode == 0 and out == b"released\n", err

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.communicate(timeout=30)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "drive" / "Timekeep" / "repo"
    init_repository(path)
    return path


@pytest.fixture
def holder(repo: Path) -> Iterator[Holder]:
    held = Holder(repo)
    yield held
    if held.proc.poll() is None:
        held.kill()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "timekeep.core.cli.main", *args], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=60, check=False)


def delete(lock: Path) -> None:
    lock.unlink()


def replace_with_other_file(lock: Path) -> None:
    other = lock.with_name("other")
    other.write_text(json.dumps({"host": "elsewhere", "pid": 1, "started": 0}))
    os.replace(other, lock)


def replace_with_empty_file(lock: Path) -> None:
    lock.unlink()
    lock.touch()


CLEARINGS: list[Callable[[Path], None]] = [delete, replace_with_other_file, replace_with_empty_file]


@pytest.mark.parametrize("clear", CLEARINGS, ids=lambda f: f.__name__)
def test_clearing_the_lock_file_under_a_live_writer_lets_no_second_writer_in(
        repo: Path, holder: Holder, clear: Callable[[Path], None]) -> None:
    clear(repo / "lock")
    with pytest.raises(RepositoryLocked) as refused:
        Timekeep.open(repo, writer=True)
    assert "\n" not in str(refused.value) and "in use" in str(refused.value)
    assert writer_running(repo / "lock")
    with writers_kept_out(repo / "lock") as still:
        assert not still
    run = cli("add", str(repo.parent), "--repo", str(repo))
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "in use" in run.stderr, run.stderr
    holder.let_go()
    assert not writer_running(repo / "lock")
    with Timekeep.open(repo, writer=True) as tk:  # the first writer is gone: the second gets in
        assert tk._repo.writable
    assert json.loads((repo / "lock").read_text() or "{}") == {}  # emptied on release


def test_the_refusal_names_the_live_holder_while_its_lock_file_is_there(repo: Path, holder: Holder) -> None:
    with pytest.raises(RepositoryLocked, match=f"process {holder.pid} on "):
        Timekeep.open(repo, writer=True)
    (repo / "lock").unlink()
    with pytest.raises(RepositoryLocked, match="in use by another process"):
        Timekeep.open(repo, writer=True)


def test_a_renamed_repository_folder_stays_locked(repo: Path, holder: Holder) -> None:
    moved = repo.with_name("moved")
    repo.rename(moved)
    with pytest.raises(RepositoryLocked):
        Timekeep.open(moved, writer=True)
    holder.let_go()
    Timekeep.open(moved, writer=True).close()


@pytest.mark.parametrize("text", [b'{"host": "laptop", "pi', b"\0" * 48, b"[1, 2]"], ids=["torn", "zeros", "a list"])
def test_a_holder_text_a_crash_left_torn_is_another_process_and_no_obstacle(repo: Path, holder: Holder,
                                                                          text: bytes) -> None:
    """The holder's text is not synced (it is read only while its lock is held): whatever a crash left of it
    is read as another process while a writer holds the lock, and is no obstacle once none does."""
    (repo / "lock").write_bytes(text)
    with pytest.raises(RepositoryLocked, match="in use by another process") as refused:
        Timekeep.open(repo, writer=True)
    assert "\n" not in str(refused.value)
    holder.kill()
    (repo / "lock").write_bytes(text)
    with Timekeep.open(repo, writer=True):
        assert json.loads((repo / "lock").read_text())["pid"] == os.getpid()


@pytest.mark.parametrize("clear", [None, delete], ids=["lock file kept", "lock file deleted"])
def test_a_killed_holders_lock_is_broken_automatically(repo: Path, holder: Holder,
                                                       clear: Callable[[Path], None] | None) -> None:
    if clear is not None:
        clear(repo / "lock")
    holder.kill()
    assert not writer_running(repo / "lock")
    with Timekeep.open(repo, writer=True):
        assert json.loads((repo / "lock").read_text())["pid"] == os.getpid()


def test_a_reader_keeping_writers_out_refuses_the_writer(repo: Path) -> None:
    with writers_kept_out(repo / "lock") as still:
        assert still
        (repo / "lock").unlink(missing_ok=True)  # nothing a person does to the file lets a writer start
        with pytest.raises(RepositoryLocked):
            WriterLock(repo / "lock").acquire()
    lock = WriterLock(repo / "lock")
    lock.acquire()
    lock.release()


def test_where_folders_cannot_be_locked_the_lock_file_is(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """NFS emulates flock() with byte-range locks, which a folder cannot take exclusively."""
    real = fcntl.flock

    def refuse_folders(fd: int, operation: int) -> None:
        if os.path.isdir(f"/proc/self/fd/{fd}") and operation & fcntl.LOCK_EX:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        real(fd, operation)

    monkeypatch.setattr(lock_mod.fcntl, "flock", refuse_folders)
    first = WriterLock(repo / "lock")
    first.acquire()
    try:
        with pytest.raises(RepositoryLocked, match=f"process {os.getpid()}"):
            WriterLock(repo / "lock").acquire()
        assert writer_running(repo / "lock")
    finally:
        first.release()
    assert not writer_running(repo / "lock")
    with writers_kept_out(repo / "lock") as still:
        assert still
        with pytest.raises(RepositoryLocked):
            WriterLock(repo / "lock").acquire()
    second = WriterLock(repo / "lock")
    second.acquire()
    second.release()


def test_the_lock_file_is_private(repo: Path) -> None:
    (repo / "lock").unlink(missing_ok=True)
    old = os.umask(0)
    try:
        with Timekeep.open(repo, writer=True):
            assert (repo / "lock").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)
