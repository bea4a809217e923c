"""What the drive's backend adds to the storage contract: a missing object is ObjectMissing while the drive
is there and DriveGone once its folder is gone; a write never leaves a temporary behind; and an engine that
opens, backs up, checks, restores and closes a repository again and again keeps no descriptor open."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

from tests.helpers import backup, new_repo, read_tree
from tests.treeops import payload
from timekeep.core.api import Timekeep, rebuild_index
from timekeep.core.errors import DriveGone, ObjectExists, ObjectMissing
from timekeep.core.storage.local_backend import LocalBackend


def open_descriptors(under: Path) -> list[str]:
    """What this process holds open under `under` (descriptors elsewhere come and go with other tests'
    leftovers in a shared worker, and are not the engine's to keep)."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed while listed
        if target.startswith(f"{under}{os.sep}"):
            held.append(target)
    return sorted(held)


def test_missing_while_the_drive_is_there_gone_once_it_is_not(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    backend = LocalBackend(root)
    backend.write("packs/aa/aa.pack", b"sealed")
    with pytest.raises(ObjectMissing, match=r"packs/aa/bb\.pack"):
        backend.read("packs/aa/bb.pack", 0, 4)
    root.rename(tmp_path / "unplugged")
    root.mkdir()  # the empty mount point a drive leaves behind
    with pytest.raises(DriveGone, match="reconnect"):
        backend.read("packs/aa/aa.pack")
    with pytest.raises(DriveGone):
        backend.read("packs/aa/aa.pack", 1, 2)


def test_writes_leave_no_temporary_and_refusals_keep_the_original(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    backend = LocalBackend(root)
    backend.write("snapshots/0000000001.manifest", b"one")
    with pytest.raises(ObjectExists):
        backend.write("snapshots/0000000001.manifest", b"two")
    backend.write("config.json", b"{}")
    backend.write("config.json", b"{ }", replace=True)
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == ["config.json", "snapshots/0000000001.manifest"]
    assert (root / "snapshots" / "0000000001.manifest").read_bytes() == b"one"
    assert (root / "snapshots").stat().st_mode & 0o777 == 0o700


def test_the_engine_keeps_no_descriptor_open_between_uses(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for n in range(6):
        (src / f"f{n}.bin").write_bytes(payload(n, 300_000))
    repo = new_repo(tmp_path, src)
    backup(repo)
    before = open_descriptors(tmp_path)
    for n in range(3):
        (src / f"f{n}.bin").write_bytes(payload(n + 10, 300_000))
        sid = backup(repo)
        with Timekeep.open(repo) as tk:
            assert tk.check(read_data=True).ok
            tk.restore(os.fsencode(src), sid, dest=os.fsencode(tmp_path / f"out{n}"))
        assert read_tree(tmp_path / f"out{n}" / "src") == read_tree(src)
        rebuild_index(repo)
    assert open_descriptors(tmp_path) == before


def test_a_closed_writer_leaves_nothing_open_on_the_drive(tmp_path: Path) -> None:
    """A backup's worker threads each had a connection to index.db, closed only when the garbage collector
    got round to them: an idle agent could keep the drive busy long after its backup (the person's eject
    then fails). With the collector held off, closing the repository must close them all."""
    src = tmp_path / "src"
    src.mkdir()
    for n in range(6):
        (src / f"f{n}.bin").write_bytes(payload(n, 300_000))
    repo = new_repo(tmp_path, src)
    gc.collect()
    gc.disable()
    try:
        backup(repo)
        assert open_descriptors(tmp_path) == []
        (src / "f0.bin").write_bytes(payload(99, 300_000))
        sid = backup(repo)
        with Timekeep.open(repo) as tk:
            tk.restore(os.fsencode(src), sid, dest=os.fsencode(tmp_path / "out"))
        assert open_descriptors(tmp_path) == []
    finally:
        gc.enable()
    assert read_tree(tmp_path / "out" / "src") == read_tree(src)
