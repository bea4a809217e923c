"""A backup's byte count moves while one big file is read, so its bar and rate advance smoothly, and
small files cost the progress machinery nothing (they are never counted mid-read)."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

from tests.helpers import new_repo
from timekeep.core.api import Timekeep
from timekeep.core.capture.backup import TICK_SECONDS
from timekeep.core.capture.chunker import BLOCK_SIZE
from timekeep.core.types import Progress

BIG = 48 * BLOCK_SIZE  # about half a second of reading here: several reports fall inside it


def random_file(path: Path, size: int) -> None:
    with open(path, "wb") as fh:
        for _ in range(size // BLOCK_SIZE):
            fh.write(os.urandom(BLOCK_SIZE))


def test_bytes_done_advances_inside_one_big_file(tmp_path: Path) -> None:
    src = Path(os.path.realpath(tmp_path)) / "src"
    src.mkdir()
    random_file(src / "big.bin", BIG)
    repo = new_repo(tmp_path, src)
    reports: list[Progress] = []
    with Timekeep.open(repo, writer=True) as tk:
        info = tk.backup(progress=reports.append)
    assert info.bytes_read == BIG
    inside = [p.bytes_done for p in reports if p.files_done == 0 and p.bytes_total == BIG]
    moving = [n for n in inside if 0 < n < BIG]
    assert len(set(moving)) >= 2, [(p.files_done, p.bytes_done) for p in reports]
    assert moving == sorted(moving)
    assert all(p.bytes_done <= p.bytes_total for p in reports)
    last = reports[-1]
    assert (last.files_done, last.bytes_done, last.bytes_total) == (1, BIG, BIG)


def test_reports_stay_a_few_per_second(tmp_path: Path) -> None:
    src = Path(os.path.realpath(tmp_path)) / "src"
    src.mkdir()
    random_file(src / "big.bin", BIG)
    for i in range(300):
        (src / f"small{i}.txt").write_bytes(os.urandom(3000))
    repo = new_repo(tmp_path, src)
    reports: list[Progress] = []
    with Timekeep.open(repo, writer=True) as tk:
        tk.backup(progress=reports.append)
    # each report carries the time it was decided at: however late the callback runs on a loaded machine, no
    # two reads' reports are decided closer than the tick (the closing report comes when it comes)
    stamps = [p.elapsed_s for p in reports if p.phase == "store"]
    assert len(stamps) >= 2  # at least one gap to judge
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert all(gap >= TICK_SECONDS for gap in gaps), gaps
