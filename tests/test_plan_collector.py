"""A single file's restore plan (build.placed) is made with the garbage collector paused (core/collector.py):
every extent, place and piece it makes is kept, so a collection there only walks them. Counted, never timed
(bench/README.md, "The image's plan", has the figures). The plan made so is the plan, byte for byte on restore."""

from __future__ import annotations

import contextlib
import gc
import random
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from peewee import SqliteDatabase

from tests.helpers import backup, index_file, new_repo
from tests.restore_support import src as src
from timekeep.core import collector
from timekeep.core.api import Timekeep
from timekeep.core.restore import build


@contextlib.contextmanager
def collections_counted(counts: list[int]) -> Iterator[None]:
    """Each collection that starts in this thread while the block runs counted (another test's thread left
    running may collect too), with the collector on and run often."""
    mine = threading.get_ident()

    def started(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and threading.get_ident() == mine:
            counts.append(info["generation"])

    was, threshold = gc.isenabled(), gc.get_threshold()
    gc.collect()  # the young count starts at nothing: what runs in the block decides every collection
    gc.enable()
    gc.set_threshold(50)
    gc.callbacks.append(started)
    try:
        yield
    finally:
        gc.callbacks.remove(started)
        gc.set_threshold(*threshold)
        (gc.enable if was else gc.disable)()


def _big_file(src: Path) -> bytes:
    data = random.Random(5).randbytes(3 << 20)  # dozens of chunks: hundreds of objects in its plan
    (src / "image.bin").write_bytes(data)
    return data


def test_a_plan_makes_its_objects_with_the_collector_paused(src: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    data = _big_file(src)
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    db = SqliteDatabase(str(index_file(repo)))
    path = bytes(src / "image.bin")
    paused: list[int] = []
    with collections_counted(paused):
        plan, places = build.placed(db, path, sid)
    running: list[int] = []
    monkeypatch.setattr(build, "COLLECTOR", collector.Collector())
    monkeypatch.setattr(build.COLLECTOR, "paused", contextlib.nullcontext)
    with collections_counted(running):
        unpaused = build.placed(db, path, sid)
    db.close()
    assert len(plan.pieces) > 20 and sum(piece.length for piece in plan.pieces) == len(data)
    assert running, "the control: with the collector running, making the plan runs it"
    assert paused == [0], "only the one young collection as the pause ends"
    assert unpaused == (plan, places)


def test_a_file_planned_with_the_collector_paused_comes_back_byte_for_byte(src: Path, tmp_path: Path) -> None:
    data = _big_file(src)
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    out = tmp_path / "out"
    out.mkdir()
    with collections_counted([]), Timekeep.open(repo) as tk:
        tk.restore(bytes(src / "image.bin"), sid, bytes(out))
    assert (out / "image.bin").read_bytes() == data
