"""The damage matrix's flipped index rows change what they say they change: one value, in the row of the file
asked for, by one bit; and SQLite's own index of that column still
holds the old value (so only the engine's seals and digests can notice)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.damage_support import checkpoint
from tests.helpers import backup, index_file, make_tree, new_repo, read_tree
from tests.index_flips import FLIPS, flip_index_row, row_value_end
from tests.treeops import flip, payload, restore_into
from timekeep.core.api import Timekeep
from timekeep.core.cli.main import main

KiB = 1024


def rows(index: Path, table: str) -> dict[int, tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(index)) as conn:
        return {row[0]: row[1:] for row in conn.execute(f"SELECT rowid, * FROM {table}")}


def history(base: Path) -> tuple[Path, bytes, int, frozenset[bytes]]:
    """Two snapshots of a file of several chunks (the second a delta), and one more file; the file's path, the
    latest snapshot and the chunks it needs there."""
    src = Path(os.path.realpath(base)) / "src"
    make_tree(src, {"big.bin": payload(1, 900 * KiB), "notes": {"a.txt": b"a\n"}})
    repo = new_repo(base, src)
    backup(repo)
    with open(src / "big.bin", "r+b") as fh:
        fh.seek(300 * KiB)
        fh.write(payload(2, 64 * KiB))
    sid = backup(repo)
    path = os.fsencode(src / "big.bin")
    with Timekeep.open(repo) as tk:
        uses = frozenset(piece.digest for piece in tk.plan(path, sid).pieces)
    checkpoint(index_file(repo))
    return repo, path, sid, uses


@pytest.mark.parametrize("name", list(FLIPS))
def test_a_flip_turns_one_bit_of_one_value(plain_and_encrypted: str, tmp_path: Path, name: str) -> None:
    repo, path, sid, uses = history(tmp_path)
    index = index_file(repo)
    table, column = FLIPS[name]
    before = rows(index, table)
    flip_index_row(index, name, path, sid, uses)
    after = rows(index, table)
    changed = [(row, before[row], after[row]) for row in before if before[row] != after[row]]
    assert len(changed) == 1 and before.keys() == after.keys()
    _, old, new = changed[0]
    with contextlib.closing(sqlite3.connect(index)) as conn:
        at = [c[1] for c in conn.execute(f"PRAGMA table_info({table})")].index(column)
        assert [i for i in range(len(old)) if old[i] != new[i]] == [at]
        if table == "file":
            assert old[at] == path and new[at] == path[:-1] + bytes([path[-1] ^ 1])
            assert conn.execute("SELECT count(*) FROM file WHERE path = ?", (path,)).fetchone() == (1,)
        else:  # an integer, one bit away, that the file at `path` depends on at `sid`
            assert bin(old[at] ^ new[at]).count("1") == 1


def test_a_thinning_never_seals_a_flipped_extent_row_again(plain_and_encrypted: str, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """The dropped snapshot's version of a file moves into the next kept snapshot, and the fold seals it again:
    an extent row that names another chunk must fail the seal first (refused in one line naming the index,
    nothing changed), never be sealed as the version's and written into a manifest, where rebuild-index could
    no longer undo it. After rebuild-index the thinning runs and every snapshot restores exactly."""
    repo, path, sid, _ = history(tmp_path)
    (tmp_path / "src" / "notes" / "late.txt").write_bytes(b"only in the third snapshot\n")
    latest = backup(repo)
    want = read_tree(tmp_path / "src")
    index = index_file(repo)
    checkpoint(index)
    with contextlib.closing(sqlite3.connect(index)) as conn:
        (row,) = conn.execute("SELECT e.rowid FROM extent e JOIN version v ON v.id = e.version_id JOIN file f ON "
                              "f.id = v.file_id WHERE f.path = ? AND v.snapshot_id = ? ORDER BY e.offset LIMIT 1",
                              (path, sid)).fetchone()
        flip(index, row_value_end(conn, index, "extent", "chunk_id", row), 1)
    capsys.readouterr()
    assert main(["coalesce", "--drop", str(sid), "--repo", str(repo)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("timekeep: ") and "index" in err[0], err
    assert main(["rebuild-index", "--repo", str(repo)]) == 0
    with Timekeep.open(repo) as tk:
        assert [s.id for s in tk.snapshots()] == [1, sid, latest], "the refused thinning changed nothing"
    assert main(["coalesce", "--drop", str(sid), "--repo", str(repo)]) == 0
    with Timekeep.open(repo) as tk:
        got, result = restore_into(tk, os.fsencode(tmp_path / "src"), latest, tmp_path / "out")
    assert got == want and not result.errors
