"""A big version's chunks are looked up along its chain's extents (combine.ChunkSource.locate_version), not
digest by digest: every version of a file with deltas still comes back byte for byte, and a chunk whose pack
the drive lost is still that version's error."""

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
from timekeep.core.restore import combine

MIB = 1 << 20


def _versions(src: Path) -> list[bytes]:
    rnd = random.Random(41)
    first = rnd.randbytes(3 * MIB)
    second = first[:MIB] + rnd.randbytes(300_000) + first[MIB + 200_000 :] + rnd.randbytes(70_000)
    return [first, second]


def test_every_version_of_a_file_with_deltas_comes_back(plain_and_encrypted: str, src: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(combine, "ALONG_EXTENTS", 1)  # these small versions are looked up as a big one is
    by_digest: list[Any] = []
    real = queries.chunk_locations
    monkeypatch.setattr(queries, "chunk_locations", lambda db, d: by_digest.append(d) or real(db, d))
    path, ids = src / "disk.img", []
    path.write_bytes(b"")
    repo = new_repo(tmp_path, src)
    for data in _versions(src):
        path.write_bytes(data)
        ids.append(backup(repo))
    with Timekeep.open(repo) as tk:
        for n, (sid, data) in enumerate(zip(ids, _versions(src), strict=True)):
            dest = tmp_path / f"dest{n}"
            result = tk.restore(os.fsencode(path), sid, dest=os.fsencode(dest))
            assert result.errors == ()
            assert (dest / "disk.img").read_bytes() == data
    assert by_digest == [], "looked up along the extents, not by digest"


def test_a_chunk_in_a_lost_pack_is_still_that_versions_error(src: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(combine, "ALONG_EXTENTS", 1)
    data = _versions(src)[0]
    (src / "disk.img").write_bytes(data)
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    with sqlite3.connect(index_file(repo)) as db:  # the drive is known to have lost one of its packs
        db.execute("UPDATE pack SET state = 'missing' WHERE id = (SELECT min(pack_id) FROM chunk)")
    dest = tmp_path / "dest"
    with Timekeep.open(repo) as tk:
        result = tk.restore(os.fsencode(src / "disk.img"), sid, dest=os.fsencode(dest))
    assert len(result.errors) == 1 and "missing from the drive" in result.errors[0].message, result.errors
    assert not dest.exists() or os.listdir(dest) == []
