"""`timekeep mount`: every file of every snapshot reads through the mount exactly as `restore` brings it back,
versions/ and latest/ say what they promise, damage costs the damaged file alone, and nothing can be written."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from tests.helpers import backup, read_tree
from tests.mount_support import flip_frame_of, history, mounted, names, needs_fuse
from timekeep.core.api import Timekeep
from timekeep.core.cli.mount_cmd import records_folder

pytestmark = needs_fuse


def mtimes(root: Path) -> dict[bytes, int]:
    base = os.fsencode(root)
    found = {}
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            found[full[len(base):]] = os.lstat(full).st_mtime_ns
    return found


def test_every_file_of_every_snapshot_reads_as_restore_brings_it_back(plain_and_encrypted: str,
                                                                      tmp_path: Path) -> None:
    repo, src = history(tmp_path)
    snapshots = names(repo)
    assert len(snapshots) == 3
    with mounted(repo, tmp_path / "mnt") as mnt:
        assert sorted(os.listdir(mnt / "by-time")) == sorted(snapshots)
        for name, sid in snapshots.items():
            dest = tmp_path / f"restored-{sid}"
            dest.mkdir()
            with Timekeep.open(repo) as tk:
                result = tk.restore(os.fsencode(src), sid, dest=os.fsencode(dest))
            assert not result.errors
            seen = mnt / "by-time" / name / str(src).lstrip("/")
            assert read_tree(seen) == read_tree(dest / "src"), name
            assert mtimes(seen) == mtimes(dest / "src"), name


def test_the_folders_above_a_protected_folder_lead_down_to_it(tmp_path: Path) -> None:
    repo, src = history(tmp_path)
    with mounted(repo, tmp_path / "mnt") as mnt:
        at = mnt / "latest"
        for step in src.parts[1:]:
            assert os.listdir(at) == [step]
            at = at / step
        assert sorted(os.listdir(at)) == sorted(os.listdir(src))


def test_latest_is_the_newest_snapshot_and_versions_holds_each_version(tmp_path: Path) -> None:
    repo, src = history(tmp_path)
    snapshots = names(repo)
    newest = max(snapshots, key=lambda n: snapshots[n])
    with mounted(repo, tmp_path / "mnt") as mnt:
        assert os.readlink(mnt / "latest") == f"by-time/{newest}"
        assert read_tree(mnt / "latest") == read_tree(mnt / "by-time" / newest)
        versions = mnt / "versions" / str(src).lstrip("/")
        a = sorted(os.listdir(versions / "a.txt"))
        assert [snapshots[n] for n in a] == [1, 2]  # stored when it was new and when it changed, not at 3
        assert [(versions / "a.txt" / n).read_bytes() for n in a] == [b"first\n", b"first\nsecond\n"]
        assert [snapshots[n] for n in os.listdir(versions / "gone.txt")] == [1]  # deleted now, still there
        assert (versions / "gone.txt" / os.listdir(versions / "gone.txt")[0]).read_bytes() == b"soon deleted"
        assert os.readlink(versions / "link" / os.listdir(versions / "link")[0]) == "a.txt"
        assert sorted(os.listdir(versions / "keep")) == ["deep.txt", "new.txt"]
        assert "gone.txt" in os.listdir(versions)


def test_a_flipped_byte_in_a_pack_is_eio_for_the_files_that_use_it_only(plain_and_encrypted: str,
                                                                        tmp_path: Path) -> None:
    repo, src = history(tmp_path)
    snapshots = names(repo)
    flip_frame_of(repo, os.fsencode(src / "a.txt"), 1)
    with mounted(repo, tmp_path / "mnt") as mnt:
        first = mnt / "by-time" / min(snapshots, key=lambda n: snapshots[n]) / str(src).lstrip("/")
        with pytest.raises(OSError) as failed:
            (first / "a.txt").read_bytes()
        assert failed.value.errno == errno.EIO
        assert (first / "keep" / "deep.txt").read_bytes() == b"deep" * 100
        assert (first / "big.bin").read_bytes() == read_first_big(repo, src)
        assert (mnt / "latest" / str(src).lstrip("/") / "a.txt").read_bytes() == b"first\nsecond\n"
        assert sorted(os.listdir(first)) == sorted([*os.listdir(src), "gone.txt"])
        (log,) = records_folder().glob("*.log")
        assert "a.txt" in log.read_text()  # the log says which file could not be read, and why


def read_first_big(repo: Path, src: Path) -> bytes:
    """big.bin as the first snapshot stored it, by `restore`."""
    out = src.parent / "first-big"
    out.mkdir(exist_ok=True)
    with Timekeep.open(repo) as tk:
        tk.restore(os.fsencode(src / "big.bin"), 1, dest=os.fsencode(out))
    return (out / "big.bin").read_bytes()


def test_nothing_can_be_written(tmp_path: Path) -> None:
    repo, src = history(tmp_path)
    with mounted(repo, tmp_path / "mnt") as mnt:
        inside = mnt / "latest" / str(src).lstrip("/")
        attempts = [lambda: os.open(inside / "a.txt", os.O_RDWR), lambda: (inside / "new").write_bytes(b"x"),
                    lambda: (inside / "a.txt").unlink(), lambda: (inside / "dir").mkdir(),
                    lambda: (inside / "a.txt").chmod(0o777), lambda: (mnt / "by-time" / "x").mkdir(),
                    lambda: os.rename(inside / "a.txt", inside / "b.txt")]
        for attempt in attempts:
            with pytest.raises(OSError) as refused:
                attempt()
            assert refused.value.errno == errno.EROFS
        assert (inside / "a.txt").read_bytes() == b"first\nsecond\n"


def test_a_snapshot_taken_while_mounted_shows_up(tmp_path: Path) -> None:
    from tests.agent_support import wait_for

    repo, src = history(tmp_path)
    with mounted(repo, tmp_path / "mnt") as mnt:
        before = set(os.listdir(mnt / "by-time"))
        (src / "a.txt").write_bytes(b"third\n")
        backup(repo)
        wait_for(lambda: len(os.listdir(mnt / "by-time")) == 4, what="the new snapshot in by-time/")
        new = (set(os.listdir(mnt / "by-time")) - before).pop()
        assert os.readlink(mnt / "latest") == f"by-time/{new}"
        assert (mnt / "latest" / str(src).lstrip("/") / "a.txt").read_bytes() == b"third\n"
        wait_for(lambda: len(os.listdir(mnt / "versions" / str(src).lstrip("/") / "a.txt")) == 3,
                 what="the new version in versions/")
