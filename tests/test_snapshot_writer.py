"""The snapshot writer's commits: rows of new files made without a second look, extents inserted per commit,
and a version that could not be built never indexed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import backup, make_tree, new_repo
from timekeep.core.errors import CorruptData
from timekeep.core.folders import folders
from timekeep.core.index.writer import NewVersion, SnapshotWriter
from timekeep.core.repository import Repository


def writer_of(repo: Repository) -> SnapshotWriter:
    writer = SnapshotWriter(repo.db, repo.layout, {f.path: f.id for f in folders(repo)})
    writer.begin("test")
    return writer


def test_a_version_whose_chunk_is_in_no_pack_is_refused_by_name_and_its_commit_kept_nothing(tmp_path: Path) -> None:
    src = Path(os.path.realpath(tmp_path)) / "src"
    make_tree(src, {"a.txt": b"one"})
    repo_path = new_repo(tmp_path, src)
    backup(repo_path)
    root = os.fsencode(src)
    with Repository.open(repo_path, writer=True) as repo:
        before = repo.db.execute_sql("SELECT count(*) FROM version").fetchone()[0]
        writer = writer_of(repo)
        good = NewVersion(root + b"/new/b.txt", "created", "file", size=3, extents=[])
        bad = NewVersion(root + b"/new/c.txt", "created", "file", size=3, extents=[(0, 3, b"\x07" * 32)])
        with pytest.raises(CorruptData, match=r"c\.txt: 1 of its chunks are in no pack"):
            writer.commit([], [good, bad])
        assert repo.db.execute_sql("SELECT count(*) FROM version").fetchone()[0] == before
        names = (root + b"/new", root + b"/new/b.txt", root + b"/new/c.txt")
        assert repo.db.execute_sql("SELECT count(*) FROM file WHERE path IN (?, ?, ?)", names).fetchone()[0] == 0
        # the rows the failed commit made are forgotten with it: the same files commit rightly afterwards
        writer.commit([], [good, NewVersion(root + b"/new/c.txt", "created", "file", size=0)])
        rows = repo.db.execute_sql(
            "SELECT f.path, f.head, f.live, v.prev FROM file f JOIN version v ON v.file_id = f.id "
            "WHERE f.path IN (?, ?, ?) ORDER BY f.path", names).fetchall()
        sid = writer.snapshot_id
        assert [(bytes(p), h, live, prev) for p, h, live, prev in rows] == [
            (root + b"/new/b.txt", sid, 1, 0), (root + b"/new/c.txt", sid, 1, 0)]
        (parents,) = repo.db.execute_sql(
            "SELECT count(*) FROM file f JOIN file d ON d.id = f.parent_id WHERE d.path = ? AND f.path IN (?, ?)",
            names).fetchone()
        assert parents == 2  # under the folder's row as made by the commit that stood
        writer.close()
