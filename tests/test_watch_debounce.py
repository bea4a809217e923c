"""Pure watcher logic as tables: which paths an event dirties, merging, debounce, the watch limit, and
which journaled paths a storage time must name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from timekeep.core.watch.debounce import Seen, debounce_wait, dirty_paths, last_event, merge_seen, needed, split_quiet
from timekeep.core.watch.limits import count_dirs, cover, plan_watches, read_limit


@pytest.mark.parametrize(("kind", "src", "dest", "expected"), [
    ("modified", b"/r/a/f", None, (b"/r/a/f",)),
    ("closed", b"/r/a/f", None, (b"/r/a/f",)),
    ("attrib", b"/r/a", None, (b"/r/a",)),
    ("created", b"/r/a/f", None, (b"/r/a/f", b"/r/a")),
    ("deleted", b"/r/a/f", None, (b"/r/a/f", b"/r/a")),
    ("moved", b"/r/a/f", b"/r/b/g", (b"/r/a/f", b"/r/b/g", b"/r/a", b"/r/b")),
    ("moved", b"/r/a/f", b"/r/a/g", (b"/r/a/f", b"/r/a/g", b"/r/a")),
])
def test_dirty_paths(kind: str, src: bytes, dest: bytes | None, expected: tuple[bytes, ...]) -> None:
    assert dirty_paths(kind, src, dest) == expected


def test_merging_keeps_one_entry_per_path_with_first_and_last_times() -> None:
    pending = merge_seen({}, [b"/a", b"/b"], 1.0)
    pending = merge_seen(pending, [b"/a", b"/a"], 2.5)
    assert pending == {b"/a": Seen(1.0, 2.5), b"/b": Seen(1.0, 1.0)}
    assert last_event(pending) == 2.5
    assert last_event({}) is None


@pytest.mark.parametrize(("last", "now", "waited", "expected"), [
    (None, 10.0, 0.0, 0.0),  # nothing happened: go
    (9.0, 10.0, 0.0, 1.0),  # quiet is 2 s: one more second
    (7.0, 10.0, 0.0, 0.0),  # quiet long enough
    (9.9, 10.0, 29.5, 0.5),  # a file written without pause: never more than max_wait (30 s) in all
    (9.9, 10.0, 31.0, 0.0),
])
def test_debounce_wait(last: float | None, now: float, waited: float, expected: float) -> None:
    assert debounce_wait(last, now, quiet=2.0, waited=waited, max_wait=30.0) == pytest.approx(expected)


def test_split_quiet() -> None:
    ready, hot = split_quiet({b"/a": Seen(0, 1.0), b"/b": Seen(0, 9.5)}, now=10.0, quiet=2.0)
    assert (ready, hot) == ({b"/a"}, {b"/b"})


FOLDERS = {b"/r", b"/r/live", b"/r/live/sub", b"/r/new"}  # what is a folder on disk now


@pytest.mark.parametrize(("journal", "expected"), [
    # a child of a named folder is compared as that folder's child: not named again
    ({b"/r/live", b"/r/live/f"}, {b"/r/live"}),
    # ...but what lies below that child is named (its own folder is not)
    ({b"/r/live", b"/r/live/sub", b"/r/live/sub/g"}, {b"/r/live", b"/r/live/sub/g"}),
    # a deleted folder's contents are covered by its deletion
    ({b"/r", b"/r/gone", b"/r/gone/x", b"/r/gone/d/y"}, {b"/r"}),
    ({b"/r/gone", b"/r/gone/x"}, {b"/r/gone"}),
    # a modified file alone stays alone (its folder is not compared)
    ({b"/r/live/sub/g"}, {b"/r/live/sub/g"}),
    # a moved folder: both ends named through their parents
    ({b"/r/live", b"/r/live/old", b"/r/new", b"/r/new/old", b"/r/new/old/x"}, {b"/r/live", b"/r/new"}),
])
def test_needed_names_each_path_once(journal: set[bytes], expected: set[bytes]) -> None:
    assert needed(journal, lambda p: p in FOLDERS) == expected


@pytest.mark.parametrize(("counts", "limit", "watched", "fallback"), [
    ({b"/a": 10, b"/b": 20}, None, (b"/a", b"/b"), set()),  # the platform does not say: watch all
    ({b"/a": 10, b"/b": 20}, 100, (b"/a", b"/b"), set()),
    ({b"/a": 10, b"/b": 70}, 100, (b"/a",), {b"/b"}),  # 3/4 of 100 leaves room for 75
    ({b"/a": 80}, 100, (), {b"/a"}),
    ({b"/big": 60, b"/s1": 5, b"/s2": 5}, 80, (b"/s1", b"/s2"), {b"/big"}),  # the small ones first
])
def test_plan_watches(counts: dict[bytes, int], limit: int | None, watched: tuple[bytes, ...],
                      fallback: set[bytes]) -> None:
    plan = plan_watches(counts, limit)
    assert plan.watched == watched
    assert set(plan.fallback) == fallback
    assert all("max_user_watches" in message for message in plan.fallback.values())


TREE_COUNTS = {  # a folder's sub-folders with their directory counts
    b"/h": {b"/h/a": 1, b"/h/b": 3, b"/h/big": 50},
    b"/h/big": {b"/h/big/p": 10, b"/h/big/q": 39},
    b"/h/big/q": {b"/h/big/q/r": 38},
}


def tree_children(folder: bytes, stop_after: int) -> dict[bytes, int]:
    return {sub: min(n, stop_after + 1) for sub, n in TREE_COUNTS.get(folder, {}).items()}


@pytest.mark.parametrize(("allowed", "slots", "nodes", "whole"), [
    # the largest sub-folders that fit first (b, a), then down into what does not (big: p fits, q does not;
    # q and r each watched alone with what is left)
    (20, 12, (b"/h", b"/h/big", b"/h/big/q", b"/h/big/q/r"), (b"/h/b", b"/h/a", b"/h/big/p")),
    (5, 12, (b"/h",), (b"/h/b", b"/h/a")),  # whole sub-folders before descending: no watch left for big
    (3, 12, (b"/h", b"/h/b"), (b"/h/a",)),  # b (3) no longer fits beside home's own watch: watched alone
    (20, 3, (b"/h",), (b"/h/b", b"/h/a")),  # three watch calls: home, b, a
])
def test_a_folder_too_big_is_covered_in_part(allowed: int, slots: int, nodes: tuple[bytes, ...],
                                             whole: tuple[bytes, ...]) -> None:
    part, taken = cover(b"/h", allowed, tree_children, slots)
    assert (part.nodes, part.whole) == (nodes, whole)
    assert taken <= allowed
    assert taken == len(nodes) + sum(TREE_COUNTS[os.path.dirname(w)][w] for w in whole)


def test_the_plan_covers_in_part_only_with_what_whole_folders_leave() -> None:
    plan = plan_watches({b"/small": 4, b"/h": 54}, 32, children=tree_children)  # our share: 24
    assert plan.watched == (b"/small",)
    assert plan.partial[b"/h"] == cover(b"/h", 20, tree_children)[0]
    assert "3 of its sub-folders are watched whole and 4 folder by folder" in plan.fallback[b"/h"]
    assert plan_watches({b"/h": 54}, 32).partial == {}  # without a way to see sub-folders: scanned whole


def test_limit_and_directory_count(tmp_path: Path) -> None:
    (tmp_path / "limit").write_text("192536\n")
    assert read_limit(tmp_path / "limit") == 192536
    assert read_limit(tmp_path / "missing") is None
    for sub in ("a/b/c", "a/d", "e"):
        (tmp_path / "t" / sub).mkdir(parents=True)
    (tmp_path / "t" / "file").write_bytes(b"")
    root = bytes(tmp_path / "t")
    assert count_dirs(root) == 6
    assert count_dirs(root, stop_after=2) == 3
