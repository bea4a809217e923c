"""`check` beside a running backup: the backup's unfinished snapshot and its packs not yet in the index are
its work in progress, not leftovers of an interrupted one. Once its process is gone, they are."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent_support import wait_for
from tests.helpers import child_env, new_repo
from timekeep.core.api import Timekeep
from timekeep.core.storage.lock import WriterLock
from timekeep.core.types import CheckReport

ROOT = Path(__file__).resolve().parent.parent
BIG = 80 << 20  # more than two 32 MiB packs, so some are sealed before the snapshot's first commit

# A real backup that stops at its first progress report with bytes read (its readers go on storing the file)
# and finishes when told to on stdin. A report comes before the commit it shares a tick with, so nothing of the
# file is indexed yet unless a commit fell between the first bytes and their report.
PAUSED_BACKUP = """
import sys
from timekeep.core.api import Timekeep, unlock

def pause(progress):
    if not pause.done and progress.bytes_done:
        pause.done = True
        print("paused", flush=True)
        sys.stdin.readline()

pause.done = False
unlock(sys.argv[1], interactive=False)  # an encrypted one, from $TIMEKEEP_PASSPHRASE
with Timekeep.open(sys.argv[1], writer=True) as tk:
    print(tk.backup(progress=pause).id, flush=True)
"""


@pytest.fixture
def paused(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    src = Path(os.path.realpath(tmp_path)) / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(os.urandom(BIG))
    repo = new_repo(tmp_path, src)
    child = subprocess.Popen([sys.executable, "-c", PAUSED_BACKUP, str(repo)], env=child_env(), cwd=ROOT, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdout is not None and child.stdout.readline() == "paused\n"
    wait_for(lambda: len(list((repo / "packs").glob("*/*.pack"))) >= 2, 60, what="the child's packs")
    yield repo, child
    child.kill()
    child.wait()


def check(repo: Path) -> CheckReport:
    with Timekeep.open(repo) as tk:
        return tk.check(read_data=True)


def test_check_calls_a_running_backup_running_not_interrupted(paused: tuple[Path, subprocess.Popen[str]]) -> None:
    repo, child = paused
    with Timekeep.open(repo) as tk:
        assert [s.id for s in tk.snapshots()] == []  # its snapshot is unfinished; its packs are not indexed
    report = check(repo)
    assert report.ok, report.problems
    assert not [n for n in report.notes if "interrupted" in n], report.notes
    assert any("backup is running" in n for n in report.notes), report.notes
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write("\n")
    child.stdin.flush()
    assert child.wait(timeout=120) == 0
    after = check(repo)
    assert after.ok and after.snapshots == 1 and after.notes == ()


def test_once_the_backup_died_its_leftovers_are_called_interrupted(
        plain_and_encrypted: str, paused: tuple[Path, subprocess.Popen[str]]) -> None:
    repo, child = paused
    child.send_signal(signal.SIGKILL)
    child.wait()
    report = check(repo)
    assert report.ok, report.problems
    assert any("interrupted snapshot" in n for n in report.notes), report.notes
    assert any("left by an interrupted backup" in n for n in report.notes), report.notes
    assert not any("backup is running" in n for n in report.notes)


@pytest.mark.parametrize("writer_alive", [False, True])
def test_a_lost_pack_is_a_problem_with_or_without_a_writer(plain_and_encrypted: str, tmp_path: Path,
                                                           writer_alive: bool) -> None:
    """A running writer excuses its own work in progress, never a pack the index still needs."""
    src = Path(os.path.realpath(tmp_path)) / "src"
    src.mkdir()
    (src / "a.bin").write_bytes(os.urandom(200_000))
    repo = new_repo(tmp_path, src)
    with Timekeep.open(repo, writer=True) as tk:
        tk.backup()
    lost = next((repo / "packs").glob("*/*.pack"))
    lost.unlink()
    writer = WriterLock(repo / "lock")
    if writer_alive:
        writer.acquire()
    try:
        report = check(repo)
    finally:
        writer.release()
    # an index kept on this computer is first brought up to the drive when no writer runs: it knew it since
    assert report.problems[0] in (f"pack {lost.stem} is missing from the drive",
                                  f"pack {lost.stem} is missing (found so before)"), report.problems
