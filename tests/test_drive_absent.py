"""An absent drive is named, not mistaken for a folder: `init` refuses a mount point with no drive mounted
(unless told to go ahead), and a missing repository's error says which drive is not mounted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.agent_support import agent_env, agent_process, cli, paths_for, short_runtime_dir, wait_for
from tests.helpers import make_tree, new_repo
from timekeep.core.drives import (
    drive_mount_point,
    init_refusal,
    load_known,
    missing_drive,
    parse_mount_sources,
    probe,
    save_known,
    unmounted_drive,
)

ROOT_ONLY = "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
WITH_RUN = ROOT_ONLY + "25 22 0:23 / /run rw,nosuid - tmpfs tmpfs rw\n"
USB = WITH_RUN + "40 22 8:17 / /media/ann/my\\040backup rw - vfat /dev/sdb1 rw\n"


def mountinfo(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mountinfo"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("path", "expected"), [
    ("/media/ann/backup/Timekeep/laptop", "/media/ann/backup"),  # udisks on Debian, Ubuntu
    ("/media/usb0/Timekeep/laptop", "/media/usb0"),  # older udisks, usbmount
    ("/run/media/ann/backup/Timekeep", "/run/media/ann/backup"),  # udisks on Fedora, Arch
    ("/mnt/nas/Timekeep", "/mnt/nas"),
    ("/media/ann", None),  # the folder drives are mounted in, not a drive
    ("/run/media/ann", None),
    ("/mnt", None),
    ("/home/ann/backups", None),
    ("/tmp/audit/usb", None),
])
def test_where_a_drive_would_be_mounted(path: str, expected: str | None) -> None:
    assert drive_mount_point(path, user="ann") == expected


@pytest.mark.parametrize(("path", "mounts", "absent"), [
    ("/media/ann/backup/Timekeep/laptop", ["/", "/run"], "/media/ann/backup"),
    ("/media/ann/my backup/Timekeep/laptop", ["/", "/run", "/media/ann/my backup"], None),
    ("/run/media/ann/backup", ["/", "/run"], "/run/media/ann/backup"),  # /run is a tmpfs, not the drive
    ("/mnt/nas/Timekeep", ["/", "/mnt/nas"], None),
    ("/mnt/nas/Timekeep", ["/", "/mnt"], "/mnt/nas"),
    ("/home/ann/backups", ["/"], None),
])
def test_unmounted_drive(path: str, mounts: list[str], absent: str | None) -> None:
    assert unmounted_drive(path, mounts, user="ann") == absent


def test_a_mount_point_the_agent_saw_before_counts_anywhere() -> None:
    assert unmounted_drive("/tmp/audit/usb/Timekeep/laptop", ["/"], known_mount="/tmp/audit/usb") == "/tmp/audit/usb"
    assert unmounted_drive("/tmp/audit/usb/Timekeep/laptop", ["/", "/tmp/audit/usb"],
                           known_mount="/tmp/audit/usb") is None
    assert unmounted_drive("/tmp/elsewhere", ["/"], known_mount="/tmp/audit/usb") is None  # not below it


def test_init_refuses_an_empty_mount_point_and_names_the_disk_beneath(tmp_path: Path) -> None:
    info = mountinfo(tmp_path, WITH_RUN)
    refusal = init_refusal("/media/ann/backup/Timekeep/laptop", mountinfo=info, user="ann")
    assert refusal is not None
    assert refusal.startswith("no drive is mounted at /media/ann/backup;")
    assert "--here" in refusal and "/media/ann/backup/Timekeep/laptop" in refusal
    assert "the disk mounted at / (/dev/sda1)" in refusal
    assert "--anyway" in (init_refusal("/mnt/nas/repo", "--anyway", mountinfo=info) or "")
    usb = mountinfo(tmp_path, USB)
    assert init_refusal("/media/ann/my backup/Timekeep/laptop", mountinfo=usb, user="ann") is None
    assert init_refusal(tmp_path / "repo", mountinfo=usb) is None  # an ordinary folder


def test_mount_sources() -> None:
    assert parse_mount_sources(USB) == {"/": "/dev/sda1", "/run": "tmpfs", "/media/ann/my backup": "/dev/sdb1"}


def test_a_missing_repository_names_its_absent_drive(tmp_path: Path) -> None:
    info = mountinfo(tmp_path, ROOT_ONLY)
    assert missing_drive("/media/ann/backup/Timekeep/laptop", mountinfo=info, user="ann") == (
        "the repository /media/ann/backup/Timekeep/laptop is on a drive that is not connected "
        "(/media/ann/backup is not mounted); plug the drive in and try again")
    assert missing_drive(tmp_path / "repo", mountinfo=info) is None  # just missing: no drive to name
    known = tmp_path / "state" / "destinations.json"
    known.parent.mkdir()
    save_known(known, {tmp_path / "usb" / "Timekeep" / "laptop": ("0" * 32, str(tmp_path / "usb"))})
    assert json.loads(known.read_text())
    said = missing_drive(tmp_path / "usb" / "Timekeep" / "laptop", known, mountinfo=info)
    assert said is not None and f"({tmp_path / 'usb'} is not mounted)" in said


def test_the_agent_says_which_drive_is_not_mounted(tmp_path: Path) -> None:
    found = probe(Path("/media/nobody-here/backup/Timekeep/laptop"), ["/"])
    assert not found.present and "/media/nobody-here" in found.reason and "not mounted" in found.reason
    assert "does not exist" not in found.reason


def test_status_without_the_agent_names_the_drive_it_saw(tmp_path: Path) -> None:
    env = agent_env(tmp_path / "runtime", tmp_path / "home")  # no agent runs
    repo = tmp_path / "usb" / "Timekeep" / "laptop"
    known = paths_for(env).known_drives
    known.parent.mkdir(parents=True)
    save_known(known, {repo: ("0" * 32, str(tmp_path / "usb"))})
    done = cli(env, "status", "--repo", str(repo))
    assert done.returncode == 2
    assert f"({tmp_path / 'usb'} is not mounted)" in done.stderr and "does not exist" not in done.stderr


def test_the_running_agent_records_where_it_saw_each_drive_at_once(tmp_path: Path) -> None:
    runtime = short_runtime_dir()
    env = agent_env(runtime, tmp_path / "home")
    make_tree(tmp_path / "src", {"a.txt": b"a"})
    repo = new_repo(tmp_path, tmp_path / "src")
    try:
        with agent_process(env, repo) as (_proc, paths):
            wait_for(lambda: Path(str(repo)) in load_known(paths.known_drives), what="the drive to be recorded")
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


def test_the_cli_refuses_init_on_an_empty_mount_point_and_names_the_absent_drive(tmp_path: Path) -> None:
    """Through `timekeep`: init on /mnt/NAME with nothing mounted creates nothing unless --here says so, and
    a repository there is reported as on a drive that is not connected."""
    import os
    import subprocess
    import sys
    import uuid

    point = Path("/mnt") / f"timekeep-test-{uuid.uuid4().hex[:8]}"
    repo = point / "Timekeep" / "laptop"
    env = {**os.environ, "XDG_RUNTIME_DIR": str(short_runtime_dir())}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "timekeep.core.cli.main", *args], env=env, capture_output=True,
                              text=True, cwd=Path(__file__).resolve().parent.parent)

    try:
        refused = run("init", "--encryption", "none", str(repo))
        assert refused.returncode == 2 and f"no drive is mounted at {point}" in refused.stderr
        assert "--here" in refused.stderr and not point.exists()
        missing = run("snapshots", "--repo", str(repo))
        assert missing.returncode == 2
        assert f"is on a drive that is not connected ({point} is not mounted)" in missing.stderr
        created = run("init", "--here", "--encryption", "none", str(repo))
        assert created.returncode == 0 and (repo / "config.json").exists()
    finally:
        shutil.rmtree(point, ignore_errors=True)
