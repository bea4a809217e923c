"""The mount as a process: refused in one line where it cannot be made, gone cleanly on SIGINT, SIGTERM and
`timekeep unmount`, harmless when killed outright, and served from a bucket as from a drive."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.agent_support import wait_for
from tests.helpers import backup, child_env, make_tree, read_tree
from tests.mount_support import ROOT, history, mounted, names, needs_fuse, timekeep
from timekeep.core.cli.main import main
from timekeep.core.cli.mount_cmd import records_folder
from timekeep.core.mount import available
from timekeep.core.mount.run import mounted_type, read_record


def test_without_fuse_the_mount_says_so_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no-such-fuse-device"
    assert "no-such-fuse-device does not exist" in (available.fuse_missing(missing) or "")
    monkeypatch.setattr(available, "DEVICE", missing)
    (tmp_path / "mnt").mkdir()
    code = main(["mount", str(tmp_path / "mnt"), "--repo", str(tmp_path / "repo")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("timekeep: this computer cannot mount history")
    assert "Traceback" not in err


@needs_fuse
@pytest.mark.parametrize("problem", ["not empty", "not a folder", "missing"])
def test_a_mountpoint_that_is_not_an_empty_folder_is_refused(tmp_path: Path, problem: str,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    where = tmp_path / "mnt"
    if problem == "not empty":
        make_tree(where, {"x": b"x"})
    elif problem == "not a folder":
        where.write_bytes(b"x")
    code = main(["mount", str(where), "--repo", str(tmp_path / "repo")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and str(where) in err, err


@needs_fuse
def test_unmount_of_what_is_not_mounted_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["unmount", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err == f"timekeep: nothing is mounted at {tmp_path}\n"


@needs_fuse
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_foreground_mount_unmounts_cleanly_on_a_signal(tmp_path: Path, sig: signal.Signals) -> None:
    repo, _ = history(tmp_path)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    child = subprocess.Popen([sys.executable, "-m", "timekeep.core.cli.main", "mount", str(mnt), "--repo",
                              str(repo), "--foreground"], env=child_env(), cwd=ROOT, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert child.stdout is not None and "Ctrl-C unmounts it" in child.stdout.readline()
        assert mounted_type(mnt) == "fuse.timekeep"
        assert read_record(records_folder(), mnt) is not None
        child.send_signal(sig)
        assert child.wait(timeout=30) == 0, child.stderr.read() if child.stderr else ""
    finally:
        child.kill()
        child.wait()
    assert mounted_type(mnt) is None
    assert read_record(records_folder(), mnt) is None
    assert os.listdir(mnt) == []


@needs_fuse
def test_a_killed_mount_harms_nothing_and_unmount_clears_it(plain_and_encrypted: str, tmp_path: Path) -> None:
    repo, src = history(tmp_path)
    mnt = tmp_path / "mnt"
    with mounted(repo, mnt):
        reading = open(mnt / "latest" / str(src).lstrip("/") / "big.bin", "rb")  # noqa: SIM115 (open as it dies)
        reading.read(1000)
        record = read_record(records_folder(), mnt)
        assert record is not None
        os.kill(record.pid, signal.SIGKILL)
        wait_for(lambda: not Path(f"/proc/{record.pid}").exists(), what="the mount's process to end")
        assert mounted_type(mnt) == "fuse.timekeep"  # the kernel keeps a dead mount until it is unmounted
        left = timekeep("unmount", str(mnt))  # with a file still open in it
        assert left.returncode == 0, left.stderr
        assert mounted_type(mnt) is None
        assert read_record(records_folder(), mnt) is None
        with contextlib.suppress(OSError):  # the dead mount's file, closed after it went: ENOTCONN
            reading.close()
    checked = timekeep("check", "--read-data", "--repo", str(repo))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    backup(repo)  # a writer finds nothing left behind
    with mounted(repo, mnt):
        assert len(os.listdir(mnt / "by-time")) == len(names(repo)) == 4


@needs_fuse
def test_a_repository_in_a_bucket_mounts_as_one_on_a_drive(rclone_server: object, s3_credentials: None,
                                                           tmp_path: Path) -> None:
    from timekeep.core.api import Timekeep, init_repository

    server = rclone_server
    bucket = server.new_bucket()  # type: ignore[attr-defined]
    location = f"s3://{bucket}/history"
    init_repository(location, endpoint=server.endpoint)  # type: ignore[attr-defined]
    src = Path(os.path.realpath(tmp_path)) / "src"
    make_tree(src, {"a.txt": b"in a bucket", "big.bin": os.urandom(2_500_000), "sub": {"b": b"b"}})
    with Timekeep.open(location, writer=True) as tk:
        tk.add_folder(os.fsencode(src))
        tk.backup()
    with mounted(location, tmp_path / "mnt", "--endpoint", server.endpoint) as mnt:  # type: ignore[attr-defined]
        assert read_tree(mnt / "latest" / str(src).lstrip("/")) == read_tree(src)

