"""The first N of a find's answer with the count of the rest (`find_first`, `timekeep find --limit`), and
everything deleted beneath a folder (`gone_beneath`, the window's "Show deleted files"), on real repositories."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import backup, make_tree, new_repo
from tests.test_cli_find_diff import Run
from tests.test_find_diff import Story
from timekeep.core.api import Timekeep


@pytest.fixture
def story(tmp_path: Path) -> Story:
    return Story(tmp_path)


@pytest.mark.parametrize("limit", [1, 2, 3, 10])
def test_the_first_n_are_finds_first_n_and_the_rest_are_counted(story: Story, limit: int) -> None:
    with Timekeep.open(story.repo) as tk:
        for pattern, deleted in (("*", False), ("*", True), ("report", False), ("o", True), ("zzz", False)):
            whole = tk.find(pattern, deleted=deleted)
            page = tk.find_first(pattern, limit, deleted=deleted)
            assert list(page.found) == whole[:limit], (pattern, deleted)
            assert page.more == max(0, len(whole) - limit), (pattern, deleted)


def test_the_count_of_the_rest_honours_between_and_inside(story: Story, plain_and_encrypted: str) -> None:
    with Timekeep.open(story.repo) as tk:
        page = tk.find_first("*", 1, between=(story.s2, story.s2), inside=story.src.as_posix().encode())
        whole = tk.find("*", between=(story.s2, story.s2), inside=story.src.as_posix().encode())
    assert len(whole) > 2 and list(page.found) == whole[:1] and page.more == len(whole) - 1


def test_everything_deleted_beneath_a_folder_newest_deletion_first(story: Story, plain_and_encrypted: str) -> None:
    with Timekeep.open(story.repo) as tk:
        gone = tk.gone_beneath(os.fsencode(story.src))
        times = {s.id: s.time_ns for s in tk.snapshots()}
        below_photos = tk.gone_beneath(story.path("Photos"))
    # old report.txt came back at s3; the folder Photos became a file at s4: neither is gone
    assert [(g.entry.path, g.deleted_snapshot) for g in gone] == [
        (story.path("Photos/IMG_0001.JPG"), story.s4), (story.path("Photos/holiday.png"), story.s2)]
    photo = gone[0]
    assert photo.entry.snapshot_id == story.s1 and photo.stored_ns == times[story.s1]  # its last version
    assert photo.deleted_ns == times[story.s4] and photo.entry.size == 5000 and photo.entry.kind == "file"
    assert below_photos == gone
    with Timekeep.open(story.repo) as tk:
        assert tk.gone_beneath(story.path("notes.md")) == []


def test_a_neighbour_whose_name_starts_alike_is_not_beneath(tmp_path: Path) -> None:
    src = Path(os.path.realpath(tmp_path)) / "src"
    make_tree(src, {"a": {"x.txt": b"x"}, "a b": {"y.txt": b"y"}, "a-c": {"z.txt": b"z"}, "a0": {"w.txt": b"w"}})
    repo = new_repo(tmp_path, src)
    backup(repo)
    for rel in ("a/x.txt", "a b/y.txt", "a-c/z.txt", "a0/w.txt"):
        (src / rel).unlink()
    backup(repo)
    with Timekeep.open(repo) as tk:
        assert [g.entry.path for g in tk.gone_beneath(os.fsencode(src / "a"))] == [os.fsencode(src / "a/x.txt")]
        assert len(tk.gone_beneath(os.fsencode(src))) == 4


def test_find_limit_prints_the_first_n_and_how_many_more(tmp_path: Path) -> None:
    src = Path(os.path.realpath(tmp_path)) / "src"
    make_tree(src, {f"note {i:02}.txt": b"n" for i in range(12)})
    run = Run(new_repo(tmp_path, src))
    backup(run.repo)
    done = run("find", "note", "--limit", "5")
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 5
    assert done.stdout.splitlines()[-1].endswith("note 04.txt")
    assert done.stderr.strip() == "timekeep: 7 more paths match: refine the pattern, or give --limit 12 (0 for all)"
    assert len(run("find", "note", "--limit", "0").stdout.splitlines()) == 12
    whole = run("find", "note")
    assert len(whole.stdout.splitlines()) == 12 and whole.stderr == ""
    assert len(run("find", "note", "--limit", "3", "--json").stdout.split('"path"')) == 4
    bad = run("find", "note", "--limit", "-1")
    assert bad.returncode == 2 and bad.stdout == "" and len(bad.stderr.strip().splitlines()) == 1
    assert "--limit -1" in bad.stderr and "Traceback" not in bad.stderr
