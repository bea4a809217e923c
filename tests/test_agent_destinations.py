"""Several destinations and drives coming and going, through the in-process agent with real watchers: each
destination keeps its own journal position and a complete history; an absent drive is never written to."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent_support import InProcess, agent_config, journaled, snapshot_of
from tests.helpers import backup, make_tree, new_repo, read_tree
from tests.treeops import restore_into
from timekeep.core.agent.destination import Destination
from timekeep.core.api import Timekeep, init_repository
from timekeep.core.drives import DrivePoller, mount_point_of, parse_mountinfo, probe
from timekeep.core.errors import UsageError


@pytest.fixture(autouse=True)
def no_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    import timekeep.core.capture.read as read

    monkeypatch.setattr(read, "RACY_NS", 1)


def second_repo(tmp_path: Path, src: Path) -> Path:
    repo = tmp_path / "other-drive" / "Timekeep" / "repo"
    init_repository(repo)
    with Timekeep.open(repo, writer=True) as tk:
        tk.add_folder(os.fsencode(src))
    return repo


def count_snapshots(repo: Path) -> int:
    with Timekeep.open(repo) as tk:
        return len(tk.snapshots())


def stored_tree(repo: Path, src: Path, scratch: Path) -> dict[bytes, tuple[str, bytes, int]]:
    with Timekeep.open(repo) as tk:
        return restore_into(tk, os.fsencode(src), tk.snapshots()[-1].id, scratch)[0]


def test_storage_times_rotate_and_each_destination_keeps_its_own_journal(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"one.txt": b"1", "two.txt": b"2", "three.txt": b"3"})
    first = new_repo(tmp_path, src)
    backup(first)
    second = second_repo(tmp_path, src)
    backup(second)
    with InProcess(agent_config(first, second)) as run:
        (src / "one.txt").write_bytes(b"one, edited")
        run.sees(first, {os.fsencode(src / "one.txt")})
        run.sees(second, {os.fsencode(src / "one.txt")})
        to_first = run.backup()
        assert to_first.destination == str(first)  # stored to least recently
        assert os.fsencode(src / "one.txt") in journaled(second)  # still pending there
        (src / "two.txt").write_bytes(b"two, edited")
        run.sees(second, {os.fsencode(src / "two.txt")})
        to_second = run.backup()
    assert to_second.destination == str(second)
    assert snapshot_of(to_second).files_read == 2  # one.txt (from its own journal) and two.txt
    assert stored_tree(second, src, tmp_path / "r2") == read_tree(src)
    assert journaled(first) == {os.fsencode(src / "two.txt")}


def test_a_destination_that_was_away_catches_up_when_it_returns(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"one.txt": b"1", "two.txt": b"2"})
    first = new_repo(tmp_path, src)
    backup(first)
    second = second_repo(tmp_path, src)
    backup(second)
    away = second.with_name("unplugged")
    with InProcess(agent_config(first, second)) as run:
        os.rename(second, away)
        run.until(lambda: not run.agent.destinations[str(second)].present, what="the drive to be gone")
        with pytest.raises(UsageError, match="not connected"):
            run.agent.request_backup("backup-now", str(second), explicit=True)
        (src / "one.txt").write_bytes(b"changed while the drive was away")
        run.sees(first, {os.fsencode(src / "one.txt")})
        assert run.backup().destination == str(first)
        os.rename(away, second)
        run.until(lambda: count_snapshots(second) == 2, what="the drive-connected storage time")
        run.idle()
    with Timekeep.open(second) as tk:
        assert tk.snapshots()[-1].trigger == "drive-connected"
    assert stored_tree(second, src, tmp_path / "r2") == read_tree(src)


def bind(store: Path, mount_point: Path) -> None:
    done = subprocess.run(["mount", "--bind", str(store), str(mount_point)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {done.stderr.decode().strip()}")


def unmount(mount_point: Path) -> None:
    subprocess.run(["umount", "-l", str(mount_point)], check=True, capture_output=True)


@pytest.fixture
def drive(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A 'drive': a folder bind-mounted on a mount point, which stays behind, empty, once unmounted."""
    store, mount_point = tmp_path / "store", tmp_path / "media" / "usb"
    store.mkdir()
    mount_point.mkdir(parents=True)
    bind(store, mount_point)
    yield store, mount_point
    subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, check=False)


def test_an_unplugged_drive_is_never_written_to(tmp_path: Path, drive: tuple[Path, Path]) -> None:
    store, mount_point = drive
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"a"})
    repo = mount_point / "Timekeep" / "repo"
    init_repository(repo)
    with Timekeep.open(repo, writer=True) as tk:
        tk.add_folder(os.fsencode(src))
        tk.backup()
    with InProcess(agent_config(repo)) as run:
        polls = round(run.agent.config.drive_poll_s / run.agent.config.tick_s) + 1  # ticks holding a drive poll
        dest = run.agent.destinations[str(repo)]
        # the agent looks at a drive once it is seen (encrypted or not): only then may it keep history for it
        run.until(lambda: dest.present and str(repo) in run.agent.away.encrypted, what="the drive to be looked at")
        unmount(mount_point)
        run.until(lambda: not dest.present, what="the drive to be gone")
        # still watched: its changes go to the drive's away store on this computer (core/agent/away.py)
        assert run.agent.watcher.plan.watched == (os.fsencode(src),)
        (src / "a.txt").write_bytes(b"edited while unplugged")
        (src / "b.txt").write_bytes(b"new while unplugged")
        run.ticked(polls)
        assert list(mount_point.iterdir()) == []  # the empty mount point on the system disk stays empty
        init_repository(repo)  # someone creates a repository there: a different one, still not ours
        run.until(lambda: "different repository" in dest.presence.reason or "not mounted" in dest.presence.reason)
        (src / "a.txt").write_bytes(b"edited again while unplugged")
        run.ticked(polls)
        assert journaled(repo) == set()  # (whether src stays watched then depends on the away store: not this test's)
        for leftover in sorted(mount_point.rglob("*"), reverse=True):
            leftover.rmdir() if leftover.is_dir() else leftover.unlink()
        bind(store, mount_point)
        run.until(lambda: dest.present and dest.snapshot_count == 2, what="the drive-connected storage time")
        run.idle()
    assert stored_tree(repo, src, tmp_path / "r") == read_tree(src)


def test_probe_and_mountinfo(tmp_path: Path) -> None:
    text = ("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
            "40 22 8:17 / /media/my\\040usb rw - vfat /dev/sdb1 rw\n")
    mounts = parse_mountinfo(text)
    assert mounts == ["/", "/media/my usb"]
    assert mount_point_of("/media/my usb/Timekeep/repo", mounts) == "/media/my usb"
    assert mount_point_of("/media/my usbx/repo", mounts) == "/"
    repo = tmp_path / "repo"
    assert not probe(repo, mounts).present
    init_repository(repo)
    found = probe(repo, mounts)
    assert found.present and found.repository_id
    assert not probe(repo, mounts, expected_id="0" * 32).present
    assert not probe(repo, mounts, expected_mount="/media/my usb").present
    poller = DrivePoller([repo], tmp_path / "no-mountinfo")
    assert [c.appeared for c in poller.poll()] == [True]
    assert poller.poll() == [] and poller.present(repo)


def test_a_destination_reads_its_folders_and_journal(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"a", ".cache": {"x": b"x"}})
    repo = new_repo(tmp_path, src)
    dest = Destination(repo)
    dest.attach(probe(repo, ["/"]))
    assert dest.folders.keys() == {os.fsencode(src)}
    recorded = dest.record({os.fsencode(src / "a.txt"): 1, os.fsencode(src / ".cache" / "x"): 1,
                            b"/elsewhere/file": 1}, 5)
    assert recorded == 1  # excluded and unprotected paths are not journaled
    assert dest.stats.paths == 1 and journaled(repo) == {os.fsencode(src / "a.txt")}
