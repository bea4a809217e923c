"""Find anything in all of history, and what changed between two moments, on a real repository: plain and
encrypted, the index on the drive and on this computer, through thinning and renames."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import new_repo
from tests.treeops import MtimeClock, index_db
from timekeep.core.api import Timekeep
from timekeep.core.errors import IndexDamaged, UsageError
from timekeep.core.types import Change, Found


class Story:
    """A folder backed up four times: created; edited, deleted, renamed and re-permissioned; a deleted file
    back; and a folder replaced by a file."""

    def __init__(self, tmp_path: Path) -> None:
        self.src = Path(os.path.realpath(tmp_path)) / "Documents"
        (self.src / "Photos").mkdir(parents=True)
        self.repo = new_repo(tmp_path, self.src)
        self.clock = MtimeClock()
        self.write("Report 2026.txt", b"first draft\n" * 50)
        self.write("notes.md", b"# notes\n")
        self.write("Photos/IMG_0001.JPG", os.urandom(5000))
        self.write("Photos/holiday.png", os.urandom(3000))
        self.write("old report.txt", b"to be deleted")
        self.s1 = self.backup()
        self.write("Report 2026.txt", b"second draft\n" * 50)
        (self.src / "old report.txt").unlink()
        (self.src / "Photos" / "holiday.png").rename(self.src / "holiday renamed.png")
        (self.src / "notes.md").chmod(0o600)
        self.s2 = self.backup()
        self.write("old report.txt", b"back again")
        self.s3 = self.backup()
        (self.src / "Photos" / "IMG_0001.JPG").unlink()
        (self.src / "Photos").rmdir()
        self.write("Photos", b"now a file")
        self.s4 = self.backup()

    def write(self, rel: str, data: bytes) -> None:
        (self.src / rel).write_bytes(data)
        self.clock.bump(self.src / rel)

    def backup(self) -> int:
        with Timekeep.open(self.repo, writer=True) as tk:
            return tk.backup().id

    def path(self, rel: str) -> bytes:
        return os.fsencode(self.src / rel)

    def find(self, pattern: str, **kw: Any) -> dict[bytes, Found]:
        with Timekeep.open(self.repo) as tk:
            return {f.path: f for f in tk.find(pattern, **kw)}

    def diff(self, before: int, after: int | None, path: bytes | None = None) -> dict[bytes, Change]:
        with Timekeep.open(self.repo) as tk:
            return {c.path: c for c in tk.diff(before, after, path).changes}


@pytest.fixture
def story(tmp_path: Path) -> Story:
    return Story(tmp_path)


def test_a_word_matches_anywhere_in_the_name_whatever_its_case(story: Story, plain_and_encrypted: str) -> None:
    found = story.find("REPORT")
    assert set(found) == {story.path("Report 2026.txt"), story.path("old report.txt")}
    report = found[story.path("Report 2026.txt")]
    assert report.spans == ((story.s1, story.s4),) and report.present and report.kind == "file"
    assert report.changed_snapshot == story.s2 and report.size == len(b"second draft\n" * 50)
    old = found[story.path("old report.txt")]  # deleted at s2, back at s3: two ranges, present again
    assert old.spans == ((story.s1, story.s1), (story.s3, story.s4)) and old.present


def test_a_glob_matches_the_whole_name_and_deleted_files_say_when_they_went(story: Story,
                                                                            both_index_modes: str) -> None:
    found = story.find("*.jpg")
    assert list(found) == [story.path("Photos/IMG_0001.JPG")]
    photo = found[story.path("Photos/IMG_0001.JPG")]
    assert not photo.present and photo.deleted_snapshot == story.s4 and photo.spans == ((story.s1, story.s3),)
    with Timekeep.open(story.repo) as tk:
        times = {s.id: s.time_ns for s in tk.snapshots()}
    assert photo.deleted_ns == times[story.s4] and photo.last_seen == story.s3
    assert set(story.find("h?liday*")) == {story.path("Photos/holiday.png"), story.path("holiday renamed.png")}


def test_deleted_in_and_between_narrow_the_answer(story: Story) -> None:
    assert set(story.find("i", deleted=True)) == {story.path("Photos/holiday.png"),
                                                  story.path("Photos/IMG_0001.JPG")}
    assert set(story.find("png", inside=story.path("Photos"))) == {story.path("Photos/holiday.png")}
    assert set(story.find("report", between=(story.s2, story.s2))) == {story.path("Report 2026.txt")}
    assert story.find("photos")[story.path("Photos")].kind == "file"  # a folder, then a file: as last stored
    assert story.find("nothing like this") == {}


def test_bad_patterns_are_refused_in_one_line(story: Story) -> None:
    for pattern in ("", "  ", "Photos/IMG*"):
        with pytest.raises(UsageError):
            story.find(pattern)


def test_thinning_keeps_the_answer_true_to_the_snapshots_left(story: Story) -> None:
    with Timekeep.open(story.repo, writer=True) as tk:
        tk.coalesce(drop=[story.s2])
    old = story.find("old report")[story.path("old report.txt")]
    assert old.spans == ((story.s1, story.s4),)  # ranges of the snapshots kept: the one without it is gone
    renamed = story.find("holiday")[story.path("Photos/holiday.png")]
    assert renamed.spans == ((story.s1, story.s1),) and renamed.deleted_snapshot == story.s3


def test_diff_between_snapshots_names_every_kind_of_change(story: Story, plain_and_encrypted: str) -> None:
    changes = story.diff(story.s1, story.s2)
    assert {p: c.change for p, c in changes.items()} == {
        story.path("Report 2026.txt"): "changed", story.path("old report.txt"): "deleted",
        story.path("holiday renamed.png"): "renamed", story.path("notes.md"): "attributes",
    }
    moved = changes[story.path("holiday renamed.png")]
    assert moved.origin == story.path("Photos/holiday.png") and moved.size_before == moved.size_after == 3000
    report = changes[story.path("Report 2026.txt")]
    assert (report.size_before, report.size_after) == (len(b"first draft\n" * 50), len(b"second draft\n" * 50))


def test_diff_across_many_snapshots_and_under_one_path(story: Story, both_index_modes: str) -> None:
    changes = story.diff(story.s1, story.s4)
    assert changes[story.path("Photos")].change == "changed"  # a folder then a file
    assert changes[story.path("Photos/IMG_0001.JPG")].change == "deleted"
    assert changes[story.path("old report.txt")].change == "changed"  # deleted, then back with other content
    under = story.diff(story.s1, story.s4, story.path("Photos"))  # renamed out of it: gone from it
    assert {p: c.change for p, c in under.items()} == {story.path("Photos"): "changed",
                                                       story.path("Photos/IMG_0001.JPG"): "deleted",
                                                       story.path("Photos/holiday.png"): "deleted"}
    backwards = story.diff(story.s2, story.s1)
    assert backwards[story.path("Photos/holiday.png")].origin == story.path("holiday renamed.png")
    assert story.diff(story.s3, story.s3) == {}


def test_diff_with_now_reads_the_live_folders_without_a_backup(story: Story, plain_and_encrypted: str) -> None:
    assert story.diff(story.s4, None) == {}
    story.write("new.txt", b"fresh")
    story.write("notes.md", b"# notes, longer now\n")
    (story.src / "holiday renamed.png").rename(story.src / "moved again.png")
    (story.src / "old report.txt").chmod(0o604)
    (story.src / "Photos").unlink()
    changes = story.diff(story.s4, None)
    assert {p: c.change for p, c in changes.items()} == {
        story.path("new.txt"): "added", story.path("notes.md"): "changed", story.path("Photos"): "deleted",
        story.path("moved again.png"): "renamed", story.path("old report.txt"): "attributes",
    }
    assert changes[story.path("moved again.png")].origin == story.path("holiday renamed.png")
    since_first = story.diff(story.s1, None)
    assert since_first[story.path("moved again.png")].origin == story.path("Photos/holiday.png")  # by its inode
    assert since_first[story.path("new.txt")].change == "added"
    with Timekeep.open(story.repo) as tk:
        assert tk.snapshots()[-1].id == story.s4  # nothing was stored


def test_a_file_edited_in_place_then_renamed_is_no_rename_of_what_it_was(story: Story) -> None:
    """The live side is not read: a file that kept its inode and size through an edit, then moved, is a
    deletion and an addition against a snapshot from before the edit, and a rename against one after it."""
    before_edit = story.s4
    notes = story.src / "notes.md"
    edited = bytearray(notes.read_bytes())
    edited[0] ^= 1  # the same size, the same inode
    story.write("notes.md", bytes(edited))
    after_edit = story.backup()
    notes.rename(story.src / "notes moved.md")
    assert {p: c.change for p, c in story.diff(before_edit, None).items()} == {
        story.path("notes.md"): "deleted", story.path("notes moved.md"): "added"}
    renamed = story.diff(after_edit, None)[story.path("notes moved.md")]
    assert (renamed.change, renamed.origin) == ("renamed", story.path("notes.md"))


def test_an_unknown_snapshot_is_refused(story: Story) -> None:
    with Timekeep.open(story.repo) as tk, pytest.raises(UsageError, match="no snapshot 99"):
        tk.diff(99, story.s1)


def test_a_damaged_version_row_is_refused_never_reported(story: Story) -> None:
    """Find and diff read versions as a listing does: a row that fails its seal stops them (IndexDamaged)."""
    with index_db(story.repo) as conn:
        conn.execute("UPDATE version SET size = size + 1 WHERE snapshot_id = ? AND file_id = "
                     "(SELECT id FROM file WHERE path = ?)", (story.s2, story.path("Report 2026.txt")))
    with Timekeep.open(story.repo) as tk:
        with pytest.raises(IndexDamaged, match=r"Report 2026\.txt"):
            tk.find("report")
        with pytest.raises(IndexDamaged, match=r"Report 2026\.txt"):
            tk.diff(story.s1, story.s2)
        assert [f.path for f in tk.find("notes")] == [story.path("notes.md")]
