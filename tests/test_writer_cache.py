"""A snapshot writer's connection gets a bigger page cache while its snapshot is written (its commits look
chunks up by digest and insert into indexes in no order), and gives it back when the snapshot ends, finished
or given up: an agent between backups holds no more than a reader."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import make_tree, new_repo
from timekeep.core.api import Timekeep
from timekeep.core.index.schema import CACHE_KIB, WRITER_CACHE_KIB
from timekeep.core.types import Progress


class Stop(Exception):
    pass


def test_the_writer_cache_is_held_while_a_snapshot_is_written_and_given_back(tmp_path: Path) -> None:
    source = Path(os.path.realpath(tmp_path)) / "source"
    make_tree(source, {"a.txt": b"one", "b": {"c.txt": b"two"}})
    repo = new_repo(tmp_path, source)
    seen: list[int] = []
    with Timekeep.open(repo, writer=True) as tk:
        def cache() -> int:
            return int(tk._repo.db.execute_sql("PRAGMA cache_size").fetchone()[0])

        assert cache() == -CACHE_KIB
        tk.backup(progress=lambda _p: seen.append(cache()))
        assert seen and set(seen) == {-WRITER_CACHE_KIB}
        assert cache() == -CACHE_KIB  # finished

        (source / "a.txt").write_bytes(b"one, then more")

        def give_up(_p: Progress) -> None:
            seen.append(cache())
            raise Stop

        with pytest.raises(Stop):
            tk.backup(progress=give_up)
        assert seen[-1] == -WRITER_CACHE_KIB
        assert cache() == -CACHE_KIB  # given up
