"""A drive failing mid-backup (read-only, I/O errors, full, unplugged) ends the backup with exit 4 and one
sentence; every pack descriptor is closed exactly once; nothing half-written is left under a pack's final
name; and the next backup completes with every earlier snapshot restoring byte-exact.

Faults are injected where the pack writer meets the file system (its `os` and file creation, and the drive
backend's folder creation and rename that publish a pack), and for real: a tmpfs standing in for the drive is
lazily unmounted while a `timekeep backup` process writes to it.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import timekeep.core.storage.atomic as atomic_mod
import timekeep.core.storage.local_backend as local_mod
import timekeep.core.storage.pack as pack_mod
from tests.helpers import read_tree
from tests.test_cli import ROOT, Cli, one_error_line
from tests.test_cli import cli as cli
from tests.treeops import assert_snapshot_matches, payload, small_tmpfs
from timekeep.core.api import Timekeep, init_repository
from timekeep.core.errors import DriveFull, DriveGone, StorageError
from timekeep.core.storage.failures import drive_error
from timekeep.core.storage.layout import Layout
from timekeep.core.storage.pack import END_MAGIC, MAGIC, read_footer, stored_packs

STEPS = ("create", "magic", "frames", "footer", "fsync", "close", "mkdir", "rename")
KINDS: dict[int, tuple[type[StorageError], str]] = {
    errno.EROFS: (StorageError, "read-only"),
    errno.EIO: (DriveGone, "disconnected or failed"),
    errno.ENOSPC: (DriveFull, "full"),
}


class PackFaults:
    """Stands in for `os` inside timekeep.core.storage.pack: counts the descriptors it opens and closes, and makes
    one step fail with `code` every time it is reached, as a broken drive does."""

    def __init__(self, step: str, code: int) -> None:
        self.step, self.code = step, code
        self.hits = 0
        self.live: set[int] = set()
        self.closed_twice: list[int] = []
        self._lock = threading.Lock()

    def fail(self, filename: object = None) -> None:
        with self._lock:
            self.hits += 1
        raise OSError(self.code, os.strerror(self.code), filename)

    def opened(self, fd: int) -> int:
        with self._lock:
            self.live.add(fd)
        return fd

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def open(self, path: Any, flags: int, mode: int = 0o777) -> int:
        return self.opened(os.open(path, flags, mode))

    def write(self, fd: int, data: Any) -> int:
        head, tail = bytes(data[: len(MAGIC)]), bytes(data[-len(END_MAGIC) :])
        step = "magic" if head == MAGIC and len(data) == len(MAGIC) else "footer" if tail == END_MAGIC else "frames"
        if step == self.step:
            self.fail()
        return os.write(fd, data)

    def writev(self, fd: int, buffers: Any) -> int:
        """Frames are written gathered (pack.py `_write_pieces`)."""
        if self.step == "frames":
            self.fail()
        return os.writev(fd, buffers)

    def fsync(self, fd: int) -> None:
        if self.step == "fsync":
            self.fail()
        os.fsync(fd)

    def close(self, fd: int) -> None:
        with self._lock:
            if fd not in self.live:
                self.closed_twice.append(fd)
                raise OSError(errno.EBADF, os.strerror(errno.EBADF))  # never close someone else's file
            self.live.discard(fd)
        os.close(fd)  # a close that fails has released the descriptor all the same
        if self.step == "close":
            self.fail()


def install(monkeypatch: pytest.MonkeyPatch, faults: PackFaults) -> None:
    real_create, real_mkdir = pack_mod.create_private, local_mod.make_private_dir
    real_rename = atomic_mod._rename_noreplace

    def create_private(path: Path) -> int:
        if faults.step == "create":
            faults.fail(path)
        return faults.opened(real_create(path))

    def make_private_dir(path: Path, exist_ok: bool = False) -> None:
        if faults.step == "mkdir" and Path(path).parent.name == "packs":
            faults.fail(path)
        real_mkdir(path, exist_ok)

    def rename_noreplace(tmp: Path, target: Path) -> bool:
        if faults.step == "rename" and target.suffix == ".pack":
            faults.fail(target)
        return real_rename(tmp, target)

    monkeypatch.setattr(pack_mod, "os", faults)
    monkeypatch.setattr(pack_mod, "create_private", create_private)
    monkeypatch.setattr(local_mod, "make_private_dir", make_private_dir)
    monkeypatch.setattr(atomic_mod, "_rename_noreplace", rename_noreplace)


def distinct_pack_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each new pack gets a subfolder of its own, so every backup creates one (the mkdir step)."""
    count = iter(range(1, 256))
    monkeypatch.setattr(pack_mod, "secrets", SimpleNamespace(token_hex=lambda n: f"{next(count):02x}" + "0" * 30))


def fill(docs: Path, seed: int) -> None:
    """Big random files (frames written apart from the pack's magic) and a few small text ones."""
    for i in range(3):
        (docs / f"big{i}.bin").write_bytes(payload(seed * 10 + i, 1_500_000))
    for i in range(5):
        (docs / f"note{i}.txt").write_bytes(payload(seed * 10 + i, 3000, "text"))


def assert_only_sealed_packs(repo: Path) -> None:
    layout = Layout(repo)
    assert list(layout.packs.glob(".*.tmp")) == []
    for name in stored_packs(layout.store):
        assert read_footer(layout.store, name), name  # CorruptData if anything under a final name is not sealed


@pytest.mark.parametrize("code", list(KINDS), ids=errno.errorcode.get)
@pytest.mark.parametrize("step", STEPS)
def test_a_pack_failing_at_any_step_ends_in_exit_4_and_costs_nothing(cli: Cli, monkeypatch: pytest.MonkeyPatch,
                                                                     step: str, code: int) -> None:
    distinct_pack_names(monkeypatch)
    fill(cli.docs, 1)
    cli.ok("init", str(cli.repo), "--encryption", "none")
    cli.ok("add", str(cli.docs))
    trees = {backed_up(cli): read_tree(cli.docs)}
    fill(cli.docs, 2)
    faults = PackFaults(step, code)
    install(monkeypatch, faults)
    kind, words = KINDS[code]
    with Timekeep.open(cli.repo, writer=True) as tk, pytest.raises(StorageError) as failed:
        tk.backup(make_room=False)
    assert type(failed.value) is kind and "\n" not in str(failed.value)
    run = cli("backup", "--quiet")
    assert run.code == 4 and words in one_error_line(run.err)
    assert faults.hits >= 2 and faults.closed_twice == [] and faults.live == set()
    assert_only_sealed_packs(cli.repo)
    monkeypatch.undo()
    trees[backed_up(cli)] = read_tree(cli.docs)
    with Timekeep.open(cli.repo) as tk:
        assert tk.check(read_data=True).ok
        assert [s.id for s in tk.snapshots()] == sorted(trees)
        for sid, tree in trees.items():
            assert_snapshot_matches(tk, os.fsencode(cli.docs), sid, tree, cli.tmp / "restores")


def backed_up(cli: Cli) -> int:
    snap = cli.json("backup")
    assert snap["errors"] == 0
    return int(snap["id"])


def test_drive_errors_are_told_apart_by_kind(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    init_repository(repo)
    inside = str(repo / "packs" / "ab" / "x.pack")
    assert isinstance(drive_error(OSError(errno.ENOSPC, "full"), repo), DriveFull)
    for code in (errno.EIO, errno.ENODEV, errno.ENXIO, errno.ESTALE, errno.ENOTCONN):
        assert isinstance(drive_error(OSError(code, os.strerror(code), inside), repo), DriveGone)
    for code in (errno.EBADF, errno.ENOENT):  # the drive's only once the repository is gone from its place
        assert drive_error(OSError(code, os.strerror(code), inside), repo) is None
    assert type(drive_error(OSError(errno.EROFS, "ro"), repo)) is StorageError
    (repo / "config.json").rename(tmp_path / "config.json")  # what an unmounted drive looks like
    for code in (errno.EBADF, errno.ENOENT):
        found = drive_error(OSError(code, os.strerror(code), inside), repo)
        assert isinstance(found, DriveGone) and "disconnected or failed" in str(found)
    assert drive_error(OSError(errno.ENOENT, "gone", str(tmp_path / "elsewhere")), repo) is None


BACKUP = [sys.executable, "-m", "timekeep.core.cli.main", "backup", "--quiet", "--repo"]


def test_a_drive_unmounted_mid_backup_ends_in_exit_4_and_one_line(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(8):
        (src / f"f{i}.bin").write_bytes(payload(i, 12 << 20))
    with small_tmpfs(tmp_path / "drive", "256m") as drive:
        repo = drive / "Timekeep" / "repo"
        init_repository(repo)
        with Timekeep.open(repo, writer=True) as tk:
            tk.add_folder(os.fsencode(src))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen([*BACKUP, str(repo)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            writing = until(lambda: proc.poll() is not None or any((repo / "packs").glob(".*.tmp")))
            assert writing and proc.poll() is None, "the backup ended before a pack was being written"
            subprocess.run(["umount", "-l", str(drive)], check=True)
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 4, err.decode()
    assert "disconnected or failed" in one_error_line(err) and out == b""


def until(condition: Any, timeout: float = 60.0) -> bool:
    """Poll `condition` until it holds (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)  # the pause between two looks at another process's state, not a wait for time to pass
    return True


def test_a_flush_failing_on_one_lane_discards_the_other_lanes_packs(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A flush seals each lane's pack in turn outside the writer's lock; when one fails, the packs not sealed
    yet are discarded with it: no descriptor left open, no temporary left behind, and the writer stays failed."""
    layout = Layout(tmp_path / "repo")
    layout.packs.mkdir(parents=True)
    writer = pack_mod.PackWriter(layout)
    faults = PackFaults("none", errno.EIO)
    install(monkeypatch, faults)
    for lane in ("a", "b", "c"):
        blob = payload(ord(lane), 5000)
        writer.add(blob, [(lane.encode() * 32, 0, len(blob))], lane)
    faults.step = "fsync"
    with pytest.raises(StorageError):
        writer.flush()
    assert faults.hits == 1 and faults.live == set() and faults.closed_twice == []
    assert list(layout.packs.glob(".*.tmp")) == [] and stored_packs(layout.store) == {}
    with pytest.raises(StorageError):
        writer.flush()
