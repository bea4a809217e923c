"""The window's reader is closed only once every read lane is done with it: each lane closes its own connection,
and the last one closes the reader. Closing it on one lane while another still read with it closed that lane's
SQLite connection under its running statement, and crashed the process (the timeline-drag test, in CI)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tests.helpers import backup, make_tree, new_repo
from timekeep.core.api import Timekeep
from timekeep.gui.engine_bridge import LastLaneCloses


def test_the_last_lane_closes_the_reader_and_not_before(tmp_path: Path) -> None:
    source = Path(os.path.realpath(tmp_path)) / "source"
    make_tree(source, {"a.txt": b"one", "b": {"c.txt": b"two"}})
    repo = new_repo(tmp_path, source)
    sid = backup(repo)
    reader = Timekeep.open(repo)
    closer = LastLaneCloses(3)
    others_closed = threading.Barrier(3)
    seen: list[object] = []

    def lane(still_reading: bool) -> None:
        seen.append(len(reader.snapshots()))  # this lane's own connection
        if still_reading:
            others_closed.wait(timeout=30)  # the other two lanes have run the closer meanwhile
            seen.append(len(reader.snapshots()))  # and this lane's connection is still open
            closer(reader)
        else:
            closer(reader)
            others_closed.wait(timeout=30)

    threads = [threading.Thread(target=lane, args=(i == 0,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert seen == [1, 1, 1, 1] and sid == 1
    assert reader._repo.db._opened == []  # closed whole, by the last lane


def test_a_lane_whose_release_fails_still_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lane that could not close its own connection has stopped reading all the same: the last lane still
    closes the reader, and the failure still reaches the lane that met it."""
    source = Path(os.path.realpath(tmp_path)) / "source"
    make_tree(source, {"a.txt": b"one"})
    repo = new_repo(tmp_path, source)
    backup(repo)
    reader = Timekeep.open(repo)
    release = reader.release_thread
    calls: list[int] = []

    def failing_once() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("the drive went away")
        release()

    monkeypatch.setattr(reader, "release_thread", failing_once)
    closer = LastLaneCloses(2)
    with pytest.raises(OSError, match="went away"):
        closer(reader)
    assert reader._repo.db._opened != []  # one lane left: the reader stays open
    closer(reader)
    assert calls == [1, 1] and reader._repo.db._opened == []
