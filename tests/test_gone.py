"""What is gone from a folder: everything deleted from it since some snapshot, newest deletion first, each as
last stored; what came back is not gone, and what lies deeper belongs to its own folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import backup, make_tree, new_repo
from timekeep.core.api import Timekeep
from timekeep.core.errors import NotInSnapshot


def test_gone_lists_deletions_newest_first_as_last_stored(tmp_path: Path) -> None:
    docs = tmp_path / "Documents"
    make_tree(docs, {"a.txt": b"first a", "b.txt": b"b", "back.txt": b"x", "keep.txt": b"k",
                     "sub": {"deep.txt": b"d"}, "old": {"in.txt": b"i"}})
    repo = new_repo(tmp_path, docs)
    first = backup(repo)
    (docs / "a.txt").write_bytes(b"second a, longer")
    (docs / "back.txt").unlink()
    (docs / "sub" / "deep.txt").unlink()
    second = backup(repo)
    (docs / "a.txt").unlink()
    (docs / "old" / "in.txt").unlink()
    (docs / "old").rmdir()
    (docs / "back.txt").write_bytes(b"x again")
    third = backup(repo)
    (docs / "b.txt").unlink()
    fourth = backup(repo)
    with Timekeep.open(repo) as tk:
        gone = tk.gone_from(os.fsencode(docs))
        snaps = {s.id: s.time_ns for s in tk.snapshots()}
        assert tk.gone_from(os.fsencode(docs / "sub"))[0].entry.path == os.fsencode(docs / "sub" / "deep.txt")
        with pytest.raises(NotInSnapshot, match="never backed up"):
            tk.gone_from(os.fsencode(tmp_path / "elsewhere"))
    assert [(os.path.basename(g.entry.path), g.deleted_snapshot) for g in gone] == [
        (b"b.txt", fourth), (b"a.txt", third), (b"old", third)]
    b, a, old = gone
    assert (a.entry.snapshot_id, a.entry.size, a.entry.state) == (second, len(b"second a, longer"), "deleted")
    assert (b.entry.snapshot_id, old.entry.kind) == (first, "dir")
    assert all(g.deleted_ns == snaps[g.deleted_snapshot] and g.stored_ns == snaps[g.entry.snapshot_id] for g in gone)
