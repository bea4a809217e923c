"""A folder's small files are written by workers (core/restore/small_files.py) and settled in order: more files
than the workers hold at once come back byte-exact, the restore's lists follow the folder's order, a second
name of one file is still a hard link, and a file already there is still kept, the stored one beside it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import backup, make_tree, new_repo, read_tree
from tests.restore_support import src as src
from tests.treeops import payload
from timekeep.core.api import Timekeep
from timekeep.core.restore import small_files
from timekeep.core.restore.small_files import AHEAD


@pytest.mark.parametrize("workers", [0, 2])
def test_many_small_files_come_back_in_order_with_links_and_kept_files(src: Path, tmp_path: Path, workers: int,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(small_files, "WORKERS", workers)  # and without them (0), all on the main thread
    count = 2 * AHEAD + 7
    make_tree(src, {**{f"n{i:04d}.txt": payload(i, 100 + i) for i in range(count)},
                    "sub": {"deep.txt": b"deep"}, "zz.bin": payload(9999, 300_000)})
    os.link(src / "n0003.txt", src / "sub" / "also-n0003.txt")
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    dest = tmp_path / "dest"
    make_tree(dest / "src", {"n0005.txt": b"a file of today"})
    with Timekeep.open(repo) as tk:
        result = tk.restore(os.fsencode(src), sid, dest=os.fsencode(dest))
    assert result.errors == ()
    out = dest / "src"
    wanted = [*(f"n{i:04d}.txt" for i in range(count) if i != 5), "sub/also-n0003.txt", "sub/deep.txt", "zz.bin"]
    assert [os.fsdecode(p) for p in result.written] == [str(out / name) for name in wanted]
    assert [os.path.basename(os.fsdecode(p)) for p, _ in result.kept_beside] == ["n0005.txt"]
    assert (out / "n0005.txt").read_bytes() == b"a file of today"
    beside = Path(os.fsdecode(result.kept_beside[0][1]))
    assert beside.read_bytes() == (src / "n0005.txt").read_bytes()
    beside.unlink()
    (out / "n0005.txt").write_bytes((src / "n0005.txt").read_bytes())
    assert {k: v[:2] for k, v in read_tree(out).items()} == {k: v[:2] for k, v in read_tree(src).items()}
    assert os.stat(out / "n0003.txt").st_ino == os.stat(out / "sub" / "also-n0003.txt").st_ino
    assert not [n for n in os.listdir(out) if n.endswith(".restoring")]
