"""Restoring one file reads where its chunks are in the same statement as its plan's extents
(build.placed): every version of a file with deltas still comes back byte for byte, plain or encrypted,
without a second look-up; a chunk whose pack is lost, or whose pack the index no longer knows, is still
that version's error and nothing of it is written."""

from __future__ import annotations

import os
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import backup, index_file, new_repo
from tests.restore_support import src as src
from timekeep.core.api import Timekeep
from timekeep.core.index import queries

MIB = 1 << 20


def _versions() -> list[bytes]:
    rnd = random.Random(7)
    first = rnd.randbytes(2 * MIB) + bytes(MIB) + rnd.randbytes(MIB)  # a run of zeros: a hole when restored
    second = first[: MIB // 2] + rnd.randbytes(200_000) + first[MIB:] + rnd.randbytes(50_000)
    return [first, second]


def _stored(src: Path, tmp_path: Path) -> tuple[Path, list[int]]:
    (src / "disk.img").write_bytes(b"")
    repo, ids = new_repo(tmp_path, src), []
    for data in _versions():
        (src / "disk.img").write_bytes(data)
        ids.append(backup(repo))
    return repo, ids


def test_every_version_comes_back_without_a_second_look_up(plain_and_encrypted: str, src: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    repo, ids = _stored(src, tmp_path)
    looked_up: list[Any] = []
    for name in ("chunk_locations", "chunk_locations_of_versions"):
        real = getattr(queries, name)
        monkeypatch.setattr(queries, name, lambda db, keys, real=real: looked_up.append(keys) or real(db, keys))
    with Timekeep.open(repo) as tk:
        for n, (sid, data) in enumerate(zip(ids, _versions(), strict=True)):
            dest = tmp_path / f"dest{n}"
            result = tk.restore(os.fsencode(src / "disk.img"), sid, dest=os.fsencode(dest))
            assert result.errors == () and result.warnings == ()
            assert (dest / "disk.img").read_bytes() == data
    assert looked_up == [], "the places came with the plan"


@pytest.mark.parametrize(("damage", "said"), [
    ("UPDATE pack SET state = 'missing' WHERE id = (SELECT min(pack_id) FROM chunk)", "missing from the drive"),
    ("UPDATE chunk SET pack_id = 999999 WHERE id = (SELECT min(chunk_id) FROM extent)", "missing from the index"),
])
def test_a_chunk_without_a_usable_pack_is_that_versions_error(src: Path, tmp_path: Path, damage: str,
                                                              said: str) -> None:
    repo, ids = _stored(src, tmp_path)
    with sqlite3.connect(index_file(repo)) as db:
        db.execute(damage)
    dest = tmp_path / "dest"
    with Timekeep.open(repo) as tk:
        result = tk.restore(os.fsencode(src / "disk.img"), ids[0], dest=os.fsencode(dest))
    assert len(result.errors) == 1 and said in result.errors[0].message, result.errors
    assert not dest.exists() or os.listdir(dest) == []
