"""The mount's tree over a real repository, without FUSE (these always run): what each path is, the way down to
a protected folder, versions/, and the list of snapshots asked again only once it is `fresh_for` old (a clock
of the test's own)."""

from __future__ import annotations

import os
from datetime import UTC
from pathlib import Path

import pytest

from tests.helpers import backup
from tests.mount_support import history
from timekeep.core.api import Timekeep
from timekeep.core.mount.names import snapshot_names
from timekeep.core.mount.tree import HistoryTree


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def parts(*path: str | bytes) -> tuple[bytes, ...]:
    found: list[bytes] = []
    for p in path:
        found += [os.fsencode(x) for x in os.fsencode(p).split(b"/") if x]
    return tuple(found)


def test_paths_are_what_the_snapshots_held(tmp_path: Path) -> None:
    repo, src = history(tmp_path)
    with Timekeep.open(repo) as tk:
        tree = HistoryTree(tk, tz=UTC)
        named = snapshot_names(tk.snapshots(), UTC)
        first, *_, newest = list(named)
        assert set(tree.listing(())) == {b"by-time", b"latest", b"versions"}
        assert tree.node(parts("latest")).link_target == f"by-time/{newest}".encode()
        assert list(tree.listing(parts("by-time"))) == [n.encode() for n in named]
        at_first = parts("by-time", first, str(src))
        assert b"gone.txt" in tree.listing(at_first) and b"new.txt" not in tree.listing((*at_first, b"keep"))
        a = tree.node((*at_first, b"a.txt"))
        assert (a.kind, a.size, a.path, a.snapshot_id) == ("file", 6, os.fsencode(src / "a.txt"), named[first].id)
        assert tree.node((*at_first, b"link")).link_target == b"a.txt"
        assert tree.node((*at_first, b"keep", b"deep.txt")).mode & 0o777 == 0o600
        above = parts("by-time", first, str(src.parent))
        assert list(tree.listing(above)) == [b"src"]  # only the way down to the protected folder
        with pytest.raises(FileNotFoundError):
            tree.node((*above, b"elsewhere"))
        with pytest.raises(FileNotFoundError):
            tree.listing(parts("by-time", "1999-01-01T00:00:00"))


def test_versions_hold_each_stored_version(tmp_path: Path) -> None:
    repo, src = history(tmp_path)
    with Timekeep.open(repo) as tk:
        tree = HistoryTree(tk, tz=UTC)
        named = snapshot_names(tk.snapshots(), UTC)
        folder = parts("versions", str(src))
        assert {b"a.txt", b"gone.txt", b"keep", b"big.bin"} <= set(tree.listing(folder))
        versions = tree.listing((*folder, b"a.txt"))
        assert [named[n.decode()].id for n in versions] == [1, 2]
        assert {v.snapshot_id for v in versions.values()} == {1, 2}
        assert [named[n.decode()].id for n in tree.listing((*folder, b"big.bin"))] == [1, 3]


def test_a_new_snapshot_shows_once_the_list_is_asked_again(tmp_path: Path) -> None:
    repo, src = history(tmp_path)
    clock = Clock()
    with Timekeep.open(repo) as tk:
        tree = HistoryTree(tk, clock=clock, fresh_for=2.0, tz=UTC)
        assert len(tree.listing(parts("by-time"))) == 3
        versions_of_a = parts("versions", str(src), "a.txt")
        assert len(tree.listing(versions_of_a)) == 2
        (src / "a.txt").write_bytes(b"third\n")
        new = backup(repo)
        clock.now = 1.0
        assert len(tree.listing(parts("by-time"))) == 3  # a fixed view for `fresh_for` seconds
        clock.now = 2.5
        named = snapshot_names(tk.snapshots(), UTC)
        assert list(tree.listing(parts("by-time"))) == [n.encode() for n in named]
        assert tree.node(parts("latest")).link_target == f"by-time/{list(named)[-1]}".encode()
        assert named[list(named)[-1]].id == new
        assert len(tree.listing(versions_of_a)) == 3  # versions/ follows the list of snapshots
