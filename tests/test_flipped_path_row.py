"""A path damaged in its file row of index.db, while SQLite's path index still holds it as written: the one
place a lookup by path cannot see the damage. A thinning that moves that file's versions must catch it by the
row's own seal, never seal the damaged path again and write it into a manifest; the file comes back under its
own name, or not at all, never under the damaged one. (Found by the damage matrix under another temporary
folder's name length, which moved its flipped byte into such a row.)"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.helpers import backup, index_file, make_tree, new_repo, read_tree
from tests.treeops import flip, restore_into
from timekeep.core.api import Timekeep
from timekeep.core.cli.main import main

TABLE_LEAF = 0x0D  # the b-tree page type of a table's leaf (an index's leaf is 0x0A)


def flip_in_table_row(index: Path, value: bytes) -> int:
    """Turn over the last byte's lowest bit of `value` where the `file` table's row holds it, not where the
    path index does; the offset flipped."""
    with sqlite3.connect(index) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = index.read_bytes()
    page_size = int.from_bytes(data[16:18], "big")
    start = 0
    while (found := data.find(value, start)) >= 0:
        page = found // page_size
        if data[page * page_size + (100 if page == 0 else 0)] == TABLE_LEAF:
            flip(index, found + len(value) - 1)
            return found
        start = found + 1
    raise AssertionError("the path is in no table row")


def test_a_thinning_never_seals_a_path_damaged_in_its_row(tmp_path: Path, plain_and_encrypted: str) -> None:
    src = tmp_path / "src"
    make_tree(src, {"keep.txt": b"kept\n"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    (src / "new.txt").write_bytes(b"new in the second snapshot\n")
    backup(repo)
    (src / "keep.txt").write_bytes(b"kept, changed\n")
    latest = backup(repo)
    want = read_tree(src)
    flip_in_table_row(index_file(repo), str(src / "new.txt").encode())

    code = main(["coalesce", "--drop", "2", "--repo", str(repo)])
    assert code != 0  # refused: the index is damaged (it says to rebuild it)

    with Timekeep.open(repo) as tk:
        got, result = restore_into(tk, str(src).encode(), latest, tmp_path / "out")
    assert b"new.txu" not in got, "a damaged name came back as if it were the file's"
    assert b"new.txt" not in got and result.errors  # not built from a damaged record, and said so

    assert main(["rebuild-index", "--repo", str(repo)]) == 0
    assert main(["coalesce", "--drop", "2", "--repo", str(repo)]) == 0
    with Timekeep.open(repo) as tk:
        got, result = restore_into(tk, str(src).encode(), latest, tmp_path / "again")
    assert got == want and not result.errors


def test_a_thinning_never_copies_a_damaged_row_of_the_snapshot_it_folds_into(
        tmp_path: Path, plain_and_encrypted: str) -> None:
    """The kept snapshot's next manifest is written from all its rows, not only those the fold moved: a
    damaged row there (its file never touched by the fold) must refuse the thinning before it commits."""
    src = tmp_path / "src"
    make_tree(src, {"keep.txt": b"kept\n"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    (src / "keep.txt").write_bytes(b"kept, changed\n")
    backup(repo)
    (src / "late.txt").write_bytes(b"only in the third snapshot\n")
    latest = backup(repo)
    want = read_tree(src)
    flip_in_table_row(index_file(repo), str(src / "late.txt").encode())

    assert main(["coalesce", "--drop", "2", "--repo", str(repo)]) == 1  # CorruptData: the index is damaged
    assert main(["rebuild-index", "--repo", str(repo)]) == 0
    with Timekeep.open(repo) as tk:
        assert [s.id for s in tk.snapshots()] == [1, 2, latest], "the refused thinning changed nothing"
        got, result = restore_into(tk, str(src).encode(), latest, tmp_path / "out")
    assert got == want and not result.errors  # the drive kept the name as written
