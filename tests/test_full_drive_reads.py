"""A drive filled to its last byte still gives every file back: ls, cat, restore, snapshots and check read
the index from a local copy (SQLite cannot create its -shm file there), while a backup fails clearly.

The latest snapshot is committed only to index.db-wal (its writer died before any checkpoint), so a copy
that ignored the -wal would show an older history: these tests catch that too.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Tree, make_tree, new_repo, read_tree
from tests.treeops import assert_snapshot_matches, fill_leaving, payload, small_tmpfs
from timekeep.core.api import Timekeep
from timekeep.core.cli import exits
from timekeep.core.errors import StorageError
from timekeep.core.storage.lock import WriterLock

ROOT = Path(__file__).resolve().parent.parent

# A backup in a process of its own that dies right after committing, without closing the index: its
# snapshot lives only in index.db-wal (autocheckpoint off), as after a crash or a pulled plug.
DIE_AFTER_BACKUP = """
import os, sys
from timekeep.core.api import Timekeep
from timekeep.core.cli import exits
tk = Timekeep.open(sys.argv[1], writer=True)
tk._repo.db.execute_sql("PRAGMA wal_autocheckpoint = 0")
print(tk.backup().id, flush=True)
os._exit(0)
"""


@pytest.fixture
def small_drive(tmp_path: Path) -> Iterator[Path]:
    """A 6 MiB tmpfs where new_repo puts the repository (tmp_path/drive)."""
    drive = tmp_path / "drive"
    with small_tmpfs(drive, "6m"):
        yield drive


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = Path(os.path.realpath(tmp_path)) / "src"
    make_tree(path, {"big.bin": payload(1, 1_500_000), "note.txt": b"first note\n",
                     "sub": {"keep.txt": payload(2, 5000, "text")}})
    return path


def fill_to_the_last_byte(drive: Path) -> Path:
    filler = fill_leaving(drive, 0)
    with open(filler, "ab", buffering=0) as fh:  # whatever a rounding left
        try:
            while True:
                fh.write(b"\0" * 512)
        except OSError:
            pass
    assert os.statvfs(drive).f_bavail == 0
    return filler


def die_after_backup(repo: Path) -> int:
    """A backup whose snapshot only index.db-wal holds; its stale -shm is gone too."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", DIE_AFTER_BACKUP, str(repo)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=True)
    Path(f"{repo / 'index.db'}-shm").unlink(missing_ok=True)
    assert Path(f"{repo / 'index.db'}-wal").stat().st_size > 0
    return int(done.stdout)


def snapshot_ids_without_wal(repo: Path, scratch: Path) -> list[int]:
    """What index.db alone knows: proof the last snapshot is only in the -wal."""
    shutil.copyfile(repo / "index.db", scratch / "alone.db")
    with sqlite3.connect(scratch / "alone.db") as db:
        return [row[0] for row in db.execute("SELECT id FROM snapshot WHERE state = 'complete'")]


def cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "timekeep.core.cli.main", *args], env=env, cwd=ROOT,
                          capture_output=True, timeout=120, check=False)


@pytest.fixture
def full_repo(src: Path, tmp_path: Path, small_drive: Path) -> Iterator[tuple[Path, int, Tree]]:
    """A repository of two snapshots, the second only in the -wal, on a drive with no free byte."""
    repo = new_repo(tmp_path, src)
    with Timekeep.open(repo, writer=True) as tk:
        tk.backup()
    gc.collect()  # the backup's reader threads' index connections: closing last, they would checkpoint
    (src / "note.txt").write_bytes(b"second note, longer than the first\n")
    (src / "new.bin").write_bytes(payload(3, 300_000))
    latest = die_after_backup(repo)
    assert latest not in snapshot_ids_without_wal(repo, tmp_path)
    tree = read_tree(src)
    filler = fill_to_the_last_byte(small_drive)
    yield repo, latest, tree
    filler.unlink(missing_ok=True)


def test_the_cli_reads_a_full_drive_byte_exact_and_backup_fails_clearly(full_repo: tuple[Path, int, Tree],
                                                                       src: Path, tmp_path: Path) -> None:
    repo, latest, tree = full_repo
    at = ("--repo", str(repo), "--at", str(latest))
    snaps = cli("snapshots", "--json", "--repo", str(repo))
    assert snaps.returncode == 0, snaps.stderr
    assert [s["id"] for s in json.loads(snaps.stdout)] == [1, latest]
    listing = cli("ls", str(src), "--json", *at)
    assert listing.returncode == 0, listing.stderr
    assert {e["name"] for e in json.loads(listing.stdout)} == {"big.bin", "new.bin", "note.txt", "sub"}
    cat = cli("cat", str(src / "big.bin"), *at)
    assert cat.returncode == 0 and cat.stdout == (src / "big.bin").read_bytes()
    restored = cli("restore", str(src), "--to", str(tmp_path / "out"), "--quiet", *at)
    assert restored.returncode == 0, restored.stderr
    assert read_tree(tmp_path / "out" / "src") == tree
    check = cli("check", "--read-data", "--repo", str(repo))
    assert check.returncode == 0, check.stderr + check.stdout
    backup = cli("backup", "--repo", str(repo))
    assert backup.returncode == exits.DRIVE and b"drive is full" in backup.stderr and b"Traceback" not in backup.stderr


def test_a_reader_leaves_the_drive_untouched_and_its_copy_is_removed(full_repo: tuple[Path, int, Tree],
                                                                    src: Path) -> None:
    repo, latest, _ = full_repo
    index = [repo / "index.db", repo / "index.db-wal"]
    on_drive = [p.read_bytes() for p in index]
    with Timekeep.open(repo) as tk:
        copy = tk._repo.index_copy
        assert copy is not None and copy.is_dir() and not copy.is_relative_to(repo.parent.parent)
        assert [s.id for s in tk.snapshots()][-1] == latest
        assert {e.path for e in tk.list_dir(os.fsencode(src), latest)} >= {os.fsencode(src / "new.bin")}
    assert not copy.exists()
    assert [p.read_bytes() for p in index] == on_drive  # nothing checkpointed, nothing lost
    with pytest.raises(StorageError, match="drive is full"):
        Timekeep.open(repo, writer=True)


def test_a_running_backup_is_not_copied_under_its_feet(src: Path, tmp_path: Path, small_drive: Path) -> None:
    """While a live writer holds the lock its index may change mid-copy: the reader says so and stops."""
    repo = new_repo(tmp_path, src)
    with Timekeep.open(repo, writer=True) as tk:
        tk.backup()
    gc.collect()
    writer = WriterLock(repo / "lock")
    writer.acquire()
    filler = fill_to_the_last_byte(small_drive)
    copies = set(Path(tempfile.gettempdir()).glob("timekeep-index-*"))
    try:
        with pytest.raises(StorageError, match=r"drive is full.*backup is running"):
            Timekeep.open(repo)
    finally:
        writer.release()
        filler.unlink()
    assert set(Path(tempfile.gettempdir()).glob("timekeep-index-*")) == copies


def test_with_room_again_the_drive_opens_in_place(full_repo: tuple[Path, int, Tree]) -> None:
    repo, latest, _ = full_repo
    (repo.parent.parent / "filler").unlink()
    with Timekeep.open(repo) as tk:
        assert not tk.on_copy
        assert [s.id for s in tk.snapshots()][-1] == latest
        assert tk.check(read_data=True).ok


def test_a_read_only_drive_reads_the_same_way(src: Path, tmp_path: Path, small_drive: Path) -> None:
    repo = new_repo(tmp_path, src)
    with Timekeep.open(repo, writer=True) as tk:
        latest = tk.backup().id
    gc.collect()
    tree = read_tree(src)
    subprocess.run(["mount", "-o", "remount,ro", str(small_drive)], check=True)
    with Timekeep.open(repo) as tk:
        assert tk.on_copy
        assert_snapshot_matches(tk, os.fsencode(src), latest, tree, tmp_path / "restores")
        assert tk.check(read_data=True).ok
