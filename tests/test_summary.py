"""What a snapshot changed (the timeline's tooltip) and what it deleted (the tree's deleted rows), on the real
engine: counts, new bytes, the busiest folders, and deleted items as they were just before."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import backup, make_tree, new_repo
from timekeep.core.api import Timekeep
from timekeep.core.errors import NotInSnapshot, UsageError

PHOTO = os.urandom(40_000)


@pytest.fixture
def history(tmp_path: Path) -> tuple[Path, Path, list[int]]:
    """Snapshot 1 stores everything; 2 edits, adds, deletes a file and a folder, chmods one;
    3 brings a deleted file back."""
    src = tmp_path / "src"
    make_tree(src, {"top.txt": b"top", "docs": {"a.txt": b"a", "b.txt": b"b", "c.txt": b"c"},
                    "photos": {"p1.raw": PHOTO, "p2.raw": b"p2"}, "gone": {"x.txt": b"x", "y.txt": b"y"}})
    repo = new_repo(tmp_path, src)
    ids = [backup(repo)]
    (src / "docs" / "a.txt").write_bytes(os.urandom(30_000))
    (src / "docs" / "b.txt").write_bytes(b"b changed")
    (src / "docs" / "new.txt").write_bytes(b"new")
    (src / "photos" / "p1.raw").unlink()
    shutil.rmtree(src / "gone")
    (src / "top.txt").chmod(0o600)
    ids.append(backup(repo))
    (src / "photos" / "p1.raw").write_bytes(b"another p1")
    ids.append(backup(repo))
    return repo, src, ids


def p(src: Path, rel: str) -> bytes:
    return os.fsencode(src / rel)


def test_the_summary_counts_changes_bytes_and_busiest_folders(history: tuple[Path, Path, list[int]]) -> None:
    repo, src, (first, second, third) = history
    with Timekeep.open(repo) as tk:
        initial, changes, back = (tk.snapshot_summary(s) for s in (first, second, third))
        snaps = {s.id: s for s in tk.snapshots()}
    assert (initial.files_changed, initial.files_deleted) == (8, 0)
    assert initial.top_folders[0] == (p(src, "docs"), 3)
    assert (changes.files_changed, changes.files_deleted) == (4, 3)  # a, b, new, top.txt; p1, x, y
    assert changes.bytes_new == snaps[second].bytes_new > 30_000
    assert changes.top_folders == ((p(src, "docs"), 3), (p(src, "gone"), 2), (os.fsencode(src), 1))
    assert (back.files_changed, back.files_deleted, back.top_folders) == (1, 0, ((p(src, "photos"), 1),))


def test_there_is_no_summary_of_a_snapshot_that_does_not_exist(history: tuple[Path, Path, list[int]]) -> None:
    repo, _src, ids = history
    with Timekeep.open(repo) as tk, pytest.raises(UsageError, match="no snapshot"):
        tk.snapshot_summary(max(ids) + 1)


def test_deleted_items_are_listed_as_they_were_just_before(history: tuple[Path, Path, list[int]]) -> None:
    repo, src, (first, second, third) = history
    with Timekeep.open(repo) as tk:
        (photo,) = tk.deleted_at(p(src, "photos"), second)
        assert (photo.path, photo.kind, photo.size, photo.state) == (p(src, "photos/p1.raw"), "file", 40_000,
                                                                     "deleted")
        assert photo.snapshot_id == first and photo.changed
        assert [(e.path, e.kind) for e in tk.deleted_at(os.fsencode(src), second)] == [(p(src, "gone"), "dir")]
        assert p(src, "gone") not in {e.path for e in tk.list_dir(os.fsencode(src), second)}
        # a folder deleted at that snapshot lists what went with it
        assert [e.path for e in tk.deleted_at(p(src, "gone"), second)] == [p(src, "gone/x.txt"),
                                                                          p(src, "gone/y.txt")]
        assert tk.deleted_at(os.fsencode(src), first) == []
        assert tk.deleted_at(p(src, "photos"), third) == []  # deleted at the snapshot before, back at this one
        assert tk.deleted_at(None, second) == []
        out = repo.parent / "out"
        tk.restore(photo.path, photo.snapshot_id, dest=os.fsencode(out))
    assert (out / "p1.raw").read_bytes() == PHOTO


def test_deleted_at_refuses_files_and_unknown_paths(history: tuple[Path, Path, list[int]]) -> None:
    repo, src, (_first, second, _third) = history
    with Timekeep.open(repo) as tk:
        with pytest.raises(UsageError, match="not a folder"):
            tk.deleted_at(p(src, "top.txt"), second)
        with pytest.raises(NotInSnapshot):
            tk.deleted_at(p(src, "never"), second)
