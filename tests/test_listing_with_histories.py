"""A folder restore lists a folder and reads its entries' version lists in one read of each row
(histories.children): it lists exactly what `children_at` with a `damaged` callback lists, hands the same rows
to `damaged`, and finds the same version lists, or the same errors, as `histories.read` does."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from peewee import SqliteDatabase

from tests.helpers import backup, index_file, new_repo
from tests.restore_support import src as src
from timekeep.core.index import histories, queries


def _history(src: Path, repo_of: Path) -> tuple[Path, list[int]]:
    docs = src / "docs"
    docs.mkdir()
    for n in range(6):
        (docs / f"f{n}").write_bytes(b"x" * (100 + n))
    (docs / "gone-later").write_bytes(b"g")
    (docs / "gone-early").write_bytes(b"e")
    repo = new_repo(repo_of, src)
    ids = [backup(repo)]
    (docs / "gone-early").unlink()
    (docs / "f1").write_bytes(b"second")
    (docs / "new").write_bytes(b"n")
    ids.append(backup(repo))
    (docs / "gone-later").unlink()
    (docs / "f2").write_bytes(b"third")
    ids.append(backup(repo))
    return repo, ids


def _compare(repo: Path, folder: Path, snapshot_id: int) -> tuple[list[bytes], dict[bytes, object]]:
    db = SqliteDatabase(str(index_file(repo)))
    fid = queries.file_id(db, os.fsencode(folder))
    assert fid is not None
    listed: list[bytes] = []
    both: list[bytes] = []
    want = queries.children_at(db, fid, snapshot_id, listed.append)
    got, found = histories.children(db, fid, snapshot_id, both.append)
    assert got == want and sorted(both) == sorted(listed)
    read = histories.read(db, [e.path for e in want])
    assert set(found.found) == set(read.found)
    outcome: dict[bytes, object] = {}
    for path, versions in read.found.items():
        mine = found.found[path]
        if isinstance(versions, Exception):
            assert type(mine) is type(versions) and str(mine) == str(versions)
            outcome[path] = type(versions)
        else:
            assert mine == versions
            assert {v.id: read.inodes[v.id] for v in versions} == {v.id: found.inodes[v.id] for v in versions}
            outcome[path] = len(versions)
    db.close()
    return listed, outcome


def test_the_same_entries_and_histories_at_every_snapshot(src: Path, tmp_path: Path) -> None:
    repo, ids = _history(src, tmp_path)
    for sid in ids:
        damaged, outcome = _compare(repo, src / "docs", sid)
        assert damaged == [] and all(isinstance(n, int) for n in outcome.values())
    _, outcome = _compare(repo, src / "docs", ids[1])
    names = sorted(os.path.basename(p) for p in outcome)
    assert names == [b"f0", b"f1", b"f2", b"f3", b"f4", b"f5", b"gone-later", b"new"]


def test_damaged_rows_are_the_listings_and_the_planners_alike(src: Path, tmp_path: Path) -> None:
    repo, ids = _history(src, tmp_path)
    docs = os.fsencode(src / "docs")
    with sqlite3.connect(index_file(repo)) as db:  # f3's only version: in force; f1's first: not in force later
        for name, snapshot in ((b"f3", ids[0]), (b"f1", ids[0])):
            db.execute("UPDATE version SET size = size + 1 WHERE snapshot_id = ? AND file_id = "
                       "(SELECT id FROM file WHERE path = ?)", (snapshot, docs + b"/" + name))
    damaged, outcome = _compare(repo, src / "docs", ids[2])
    assert damaged == [docs + b"/f3"]  # left out of the listing, named
    assert docs + b"/f3" not in outcome
    assert not isinstance(outcome[docs + b"/f1"], int)  # listed, and its plan is an error
    damaged, _ = _compare(repo, src / "docs", ids[0])
    assert sorted(damaged) == [docs + b"/f1", docs + b"/f3"]
