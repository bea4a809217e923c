"""A version read by range (what a mounted file's read() gets) is the restored version's bytes, every range of it;
damage is an error for the ranges that need the damaged frame, and a whole read that does not match the
recorded digest fails before its last bytes are handed back. No FUSE needed: these always run."""

from __future__ import annotations

import dataclasses
import os
import random
from datetime import UTC
from pathlib import Path

import pytest

from tests.helpers import backup, make_tree, new_repo
from tests.mount_support import flip_frame_of
from timekeep.core.api import Timekeep
from timekeep.core.errors import CorruptData
from timekeep.core.mount.names import snapshot_names
from timekeep.core.types import SnapshotInfo

SIZE = 3_000_000


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Path, bytes, bytes]:
    src = Path(os.path.realpath(tmp_path)) / "src"
    data = random.Random(7).randbytes(SIZE)
    make_tree(src, {"big.bin": data, "small": b"small"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    return repo, os.fsencode(src / "big.bin"), data


def test_every_range_reads_as_the_version_is(plain_and_encrypted: str, tmp_path: Path) -> None:
    src = Path(os.path.realpath(tmp_path)) / "src"
    data = random.Random(7).randbytes(SIZE)
    make_tree(src, {"big.bin": data})
    repo = new_repo(tmp_path, src)
    backup(repo)
    pick = random.Random(11)
    with Timekeep.open(repo) as tk:
        ranges = tk.version_ranges(tk.plan(os.fsencode(src / "big.bin"), 1))
        assert ranges.size == SIZE
        for _ in range(200):
            start = pick.randrange(SIZE + 10)
            size = pick.choice([1, 4096, 131072, 1 << 20, pick.randrange(3 << 20)])
            assert ranges.read(start, size) == data[start : start + size]
        whole = b"".join(ranges.read(at, 131072) for at in range(0, SIZE, 131072))
        assert whole == data


def test_a_flipped_frame_fails_the_ranges_that_need_it(stored: tuple[Path, bytes, bytes]) -> None:
    repo, path, data = stored
    flip_frame_of(repo, path, 1)  # the middle of big.bin's first frame (1 MiB of several chunks)
    step = 65536
    with Timekeep.open(repo) as tk:
        ranges = tk.version_ranges(tk.plan(path, 1))
        good = 0
        with pytest.raises(CorruptData, match=r"pack|digest"):
            while True:
                assert ranges.read(good, step) == data[good : good + step]  # the chunks before the damage
                good += step
        assert 0 < good < 1 << 20
        with pytest.raises(CorruptData):  # and every read after: one file, one verdict
            ranges.read(SIZE - 100, 100)
        other = tk.version_ranges(tk.plan(path, 1))
        assert other.read(SIZE - 100, 100) == data[-100:]  # a frame that is whole still reads
        small = tk.version_ranges(tk.plan(path.replace(b"big.bin", b"small"), 1))
        assert small.read(0, 100) == b"small"

def test_a_whole_read_that_is_not_the_recorded_version_fails_before_its_end(
        stored: tuple[Path, bytes, bytes]) -> None:
    repo, path, data = stored
    with Timekeep.open(repo) as tk:
        plan = tk.plan(path, 1)
        assert plan.digest is not None
        wrong = dataclasses.replace(plan, digest=bytes(32))  # what an index telling the wrong story would give
        ranges = tk.version_ranges(wrong)
        step = 1 << 20
        assert ranges.read(0, step) == data[:step]
        assert ranges.read(step, step) == data[step : 2 * step]
        with pytest.raises(CorruptData, match="digest"):
            ranges.read(2 * step, step)  # the last bytes: held back

def test_snapshot_names_are_their_time_and_tell_one_second_apart() -> None:
    second = 1_765_000_000 * 10**9
    snaps = [SnapshotInfo(1, second, "manual"), SnapshotInfo(2, second + 5, "manual"),
             SnapshotInfo(3, second + 10**9, "manual")]
    named = snapshot_names(reversed(snaps), UTC)
    assert list(named) == ["2025-12-06T05:46:40", "2025-12-06T05:46:40.2", "2025-12-06T05:46:41"]
    assert [s.id for s in named.values()] == [1, 2, 3]
    later = snapshot_names([*snaps, SnapshotInfo(4, second + 10**9 + 7, "manual")], UTC)
    assert {name: snap.id for name, snap in later.items()} == {  # a new snapshot renames none taken before it
        "2025-12-06T05:46:40": 1, "2025-12-06T05:46:40.2": 2, "2025-12-06T05:46:41": 3, "2025-12-06T05:46:41.4": 4}
