"""A folder restore plans its files a batch at a time (core/restore/folder_plans.py): the index statements it
runs grow with its folders and with its files divided by the batch, not with its files; and one file whose
rows fail their seals in a batch costs that file alone, with its own line."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from tests.helpers import backup, index_file, make_tree, new_repo, read_tree
from tests.restore_support import src as src
from tests.treeops import payload
from timekeep.core.api import Timekeep
from timekeep.core.restore import small_files
from timekeep.core.restore.folder_plans import BATCH


def _restore_counting(repo: Path, src: Path, sid: int, dest: Path) -> tuple[int, tuple[object, ...]]:
    """The statements one folder restore runs on the index, and its errors."""
    seen: list[str] = []
    with Timekeep.open(repo) as tk:
        tk._repo.db.connection().set_trace_callback(seen.append)  # type: ignore[attr-defined]
        result = tk.restore(os.fsencode(src), sid, dest=os.fsencode(dest))
    return len([s for s in seen if s.lstrip().upper().startswith("SELECT")]), result.errors


def _tree(files: int) -> dict[str, bytes | dict | str]:
    half = files // 2
    return {"a": {f"n{i:04d}.txt": payload(i, 50 + i % 300) for i in range(half)},
            "b": {f"m{i:04d}.txt": payload(10_000 + i, 70) for i in range(files - half)}}


def test_statements_grow_with_folders_and_batches_not_files(plain_and_encrypted: str, src: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(small_files, "WORKERS", 0)  # every statement on the connection counted (one per thread)
    counts = []
    for files in (BATCH // 2, 6 * BATCH):
        root = src / f"t{files}"
        make_tree(root, _tree(files))
        repo = new_repo(tmp_path / f"r{files}", root)
        sid = backup(repo)
        dest = tmp_path / f"dest{files}"
        statements, errors = _restore_counting(repo, root, sid, dest)
        assert errors == ()
        assert read_tree(dest / root.name) == read_tree(root)
        counts.append(statements)
    small, big = counts
    # three folders in both; eleven times the files add a few batches' statements, never one per file
    assert big - small <= 8 * (6 * BATCH // BATCH + 2), counts
    assert big < 6 * BATCH // 10, counts


def test_a_damaged_file_in_a_batch_costs_that_file_alone(src: Path, tmp_path: Path) -> None:
    make_tree(src, {f"n{i:03d}.txt": payload(i, 200) for i in range(40)})
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    with sqlite3.connect(index_file(repo)) as db:  # one extent of one file no longer what its seal covers
        db.execute("UPDATE extent SET skip = skip + 1 WHERE version_id = (SELECT v.id FROM version v JOIN file f "
                   "ON f.id = v.file_id WHERE f.path = ?)", (os.fsencode(src / "n017.txt"),))
    dest = tmp_path / "dest"
    with Timekeep.open(repo) as tk:
        result = tk.restore(os.fsencode(src), sid, dest=os.fsencode(dest))
    assert [os.path.basename(e.path) for e in result.errors] == [b"n017.txt"]
    assert "damaged" in result.errors[0].message
    restored = read_tree(dest / "src")
    assert sorted(restored) == sorted(n for n in read_tree(src) if n != b"n017.txt")
    assert all(restored[n] == v for n, v in read_tree(src).items() if n != b"n017.txt")
