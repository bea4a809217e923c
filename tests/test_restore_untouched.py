"""An in-place restore leaves alone what is already as it was: no rename, chmod or utime of an unchanged
file, link or folder, so its ctime stays and the next backup stores no spurious 'metadata' version."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.helpers import make_tree, new_repo, read_tree
from tests.treeops import payload
from timekeep.core.api import Timekeep

UNTOUCHED = ("a.txt", "big.bin", "sub", "sub/c.txt", "link")


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = Path(os.path.realpath(tmp_path)) / "src"
    make_tree(path, {"a.txt": b"alpha\n", "b.txt": b"beta\n", "big.bin": payload(1, 600_000),
                     "mode.txt": b"mode\n", "sub": {"c.txt": b"sea\n"}, "link": "-> a.txt"})
    return path


def stamps(src: Path) -> dict[str, tuple[int, int, int]]:
    """inode, ctime and mtime of every entry: what a needless chmod, utime or rename would change."""
    found = {}
    for rel in (*UNTOUCHED, "b.txt", "mode.txt"):
        st = os.lstat(src / rel)
        found[rel] = (st.st_ino, st.st_ctime_ns, st.st_mtime_ns)
    return found


def stored_at(tk: Timekeep, src: Path, sid: int) -> set[str]:
    """The entries that have a version recorded in snapshot `sid`."""
    return {rel for rel in (*UNTOUCHED, "b.txt", "mode.txt")
            if sid in {v.snapshot_id for v in tk.versions(os.fsencode(src / rel))}}


@pytest.mark.parametrize("overwrite", [False, True])
def test_restore_in_place_leaves_unchanged_entries_untouched(src: Path, tmp_path: Path, overwrite: bool) -> None:
    repo = new_repo(tmp_path, src)
    with Timekeep.open(repo, writer=True) as tk:
        first = tk.backup().id
    tree = read_tree(src)
    (src / "b.txt").write_bytes(b"beta, edited\n")
    (src / "mode.txt").chmod(0o600)
    time.sleep(0.05)  # real time: a needless change of ctime would fall in a later tick of the kernel's clock
    before = stamps(src)
    with Timekeep.open(repo) as tk:
        result = tk.restore(os.fsencode(src), first, overwrite=overwrite)
    assert result.errors == ()
    after = stamps(src)
    assert {rel: after[rel] for rel in UNTOUCHED} == {rel: before[rel] for rel in UNTOUCHED}
    assert after["mode.txt"][0] == before["mode.txt"][0]  # never replaced: its content is as stored
    # its permission bits are the person's since; only --overwrite sets them back (on the same file)
    assert (src / "mode.txt").stat().st_mode & 0o777 == (tree[b"mode.txt"][2] if overwrite else 0o600)
    assert result.unchanged == 5  # a.txt, big.bin, sub/c.txt, the link, and mode.txt
    assert result.metadata_kept == (0 if overwrite else 1)
    if overwrite:
        assert read_tree(src) == tree
    with Timekeep.open(repo, writer=True) as tk:
        second = tk.backup().id
        assert stored_at(tk, src, second) == {"b.txt", "mode.txt"}  # edited, or chmodded (once or twice)


def test_a_file_restored_in_place_is_byte_exact_and_others_keep_their_inode(src: Path, tmp_path: Path) -> None:
    repo = new_repo(tmp_path, src)
    with Timekeep.open(repo, writer=True) as tk:
        first = tk.backup().id
    tree = read_tree(src)
    with open(src / "big.bin", "r+b") as fh:  # same size, one byte different near the end
        fh.seek(599_000)
        fh.write(b"\xff" if tree[b"big.bin"][1][599_000] != 0xFF else b"\x00")
    before = stamps(src)
    with Timekeep.open(repo) as tk:
        result = tk.restore(os.fsencode(src), first, overwrite=True)
    assert result.errors == () and result.written == (os.fsencode(src / "big.bin"),)
    assert read_tree(src) == tree
    after = stamps(src)
    assert after["big.bin"][0] != before["big.bin"][0]
    assert {rel: after[rel] for rel in ("a.txt", "sub/c.txt", "link")} == {
        rel: before[rel] for rel in ("a.txt", "sub/c.txt", "link")}
