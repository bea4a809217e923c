"""The bench's filesystem of its own for a restore (bench/fresh_fs.py): a new, empty, journaled ext4 mounted where
asked, and nothing of it left after; where none can be made, one clear reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import fresh_fs


def mounted_at(where: Path) -> list[str]:
    """The /proc/mounts lines of the filesystem mounted at `where`."""
    with open("/proc/mounts") as mounts:
        return [line for line in mounts if line.split()[1] == str(where)]


def test_a_fresh_ext4_is_new_journaled_and_gone_after(tmp_path: Path) -> None:
    where = tmp_path / "out"
    try:
        with fresh_fs.fresh_ext4(where, 1 << 20) as root:
            [line] = mounted_at(where)
            device, kind = line.split()[0], line.split()[2]
            assert root == where and kind == "ext4"
            assert sorted(os.listdir(where)) == ["lost+found"]  # new and empty
            journals = os.listdir("/proc/fs/jbd2")
            assert any(j.startswith(os.path.basename(device) + "-") for j in journals), journals
            (where / "a.txt").write_bytes(b"written into it")
            assert os.statvfs(where).f_blocks * os.statvfs(where).f_frsize >= 200 << 20
    except fresh_fs.NoFilesystem as err:  # not root, or no loop device: the bench leaves the row out
        pytest.skip(str(err))
    assert mounted_at(where) == [] and not where.exists()
    assert os.listdir(tmp_path) == []  # the image removed too


def test_no_filesystem_is_one_reason_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "nothing here"))
    with pytest.raises(fresh_fs.NoFilesystem, match=r"mkfs\.ext4 is not installed"), \
            fresh_fs.fresh_ext4(tmp_path / "out", 1 << 20):
        pytest.fail("entered without a filesystem")
    assert os.listdir(tmp_path) == []
