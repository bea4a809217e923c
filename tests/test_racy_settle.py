"""A file stored racy (touched as it was read: core/capture/read.py) by one storage time is read again by the
agent's next storage time from the journal, even though the journal does not name it, so it is settled, or its
missed edit stored, rather than left for the next full scan (core/index/queries.racy_files). The guard's run
from the journal does not: it must not read what a burst may have touched since."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from tests.helpers import Tree, backup, index_file, make_tree, new_repo, read_tree
from timekeep.core.api import Timekeep
from timekeep.core.errors import NothingChanged
from timekeep.core.types import SnapshotInfo

DAY_NS = 86_400 * 10**9


@pytest.fixture()
def window(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Sets the racy window: wide makes every read racy, 1 ns none of a file written before its read."""
    import timekeep.core.capture.read as read

    def set_to(ns: int) -> None:
        monkeypatch.setattr(read, "RACY_NS", ns)

    set_to(1)
    return set_to


def racy_flags(repo: Path, path: Path) -> list[int]:
    """The racy flag of each version of `path`, oldest first, as the index holds it."""
    with sqlite3.connect(index_file(repo)) as db:
        return [int(r) for (r,) in db.execute(
            "SELECT v.racy FROM version v JOIN file f ON f.id = v.file_id WHERE f.path = ? ORDER BY v.id",
            (os.fsencode(path),))]


def from_journal(repo: Path, src: Path, *paths: Path, skip_unchanged: bool = False,
                 reread_racy: bool = True) -> SnapshotInfo:
    """A storage time from the journal naming only `paths`, as the agent takes one."""
    with Timekeep.open(repo, writer=True) as tk:
        return tk.backup("schedule", dirty={os.fsencode(src): {os.fsencode(p) for p in paths}},
                         skip_unchanged=skip_unchanged, reread_racy=reread_racy)


def restored(repo: Path, src: Path, snapshot_id: int, dest: Path) -> Tree:
    """The folder as the snapshot holds it, restored byte for byte."""
    with Timekeep.open(repo) as tk:
        tk.restore(os.fsencode(src), snapshot_id, dest=os.fsencode(dest))
    return read_tree(dest / src.name)


def contents(tree: Tree) -> dict[bytes, bytes]:
    return {name: content for name, (_, content, _) in tree.items()}


def stored_racy(tmp_path: Path, src: Path, window) -> tuple[Path, SnapshotInfo]:  # type: ignore[no-untyped-def]
    """A repository of `src` whose last snapshot, from the journal, stored a.txt ("a two") racy."""
    repo = new_repo(tmp_path, src)
    backup(repo)
    (src / "a.txt").write_bytes(b"a two")
    window(10**18)
    return repo, from_journal(repo, src, src / "a.txt")


@pytest.fixture()
def src(tmp_path: Path) -> Path:
    make_tree(tmp_path / "src", {"a.txt": b"a one", "b.txt": b"b one", "c.txt": b"c one"})
    return tmp_path / "src"


def test_the_next_journal_run_reads_a_racy_file_again_and_settles_it(tmp_path: Path, src: Path, window) -> None:  # type: ignore[no-untyped-def]
    repo, racy = stored_racy(tmp_path, src, window)
    assert racy.files_read == 1 and racy_flags(repo, src / "a.txt") == [0, 1]
    window(1)
    (src / "b.txt").write_bytes(b"b two")
    after = from_journal(repo, src, src / "b.txt")
    assert (after.files_read, after.files_changed) == (2, 1)  # b, and a again: unchanged
    assert racy_flags(repo, src / "a.txt") == [0, 0]  # settled
    (src / "c.txt").write_bytes(b"c two")
    assert from_journal(repo, src, src / "c.txt").files_read == 1  # a is settled: not read again
    with Timekeep.open(repo, writer=True) as tk:
        assert tk.backup().files_read == 0  # nor by a full scan
    assert contents(restored(repo, src, after.id, tmp_path / "out")) == {
        b"a.txt": b"a two", b"b.txt": b"b two", b"c.txt": b"c one"}


def test_an_edit_the_journal_missed_in_a_racy_file_is_stored_by_the_next_journal_run(tmp_path: Path, src: Path,
                                                                                     window) -> None:  # type: ignore[no-untyped-def]
    repo, racy = stored_racy(tmp_path, src, window)
    (src / "a.txt").write_bytes(b"a three, which no watcher reported")
    window(1)
    (src / "b.txt").write_bytes(b"b two")
    after = from_journal(repo, src, src / "b.txt")
    assert after.files_changed == 2
    assert restored(repo, src, racy.id, tmp_path / "then")[b"a.txt"][1] == b"a two"
    assert restored(repo, src, after.id, tmp_path / "now") == read_tree(src)


def test_a_run_that_finds_nothing_new_still_settles_the_racy_files(tmp_path: Path, src: Path, window) -> None:  # type: ignore[no-untyped-def]
    repo, _ = stored_racy(tmp_path, src, window)
    window(1)
    with pytest.raises(NothingChanged):
        from_journal(repo, src, src / "b.txt", skip_unchanged=True)  # b as stored; a read again, the same
    assert racy_flags(repo, src / "a.txt") == [0, 0]


def test_a_file_dated_in_the_future_is_read_by_one_more_run_not_by_every_one(tmp_path: Path, src: Path,
                                                                             window) -> None:  # type: ignore[no-untyped-def]
    """Its times stay inside the racy window whenever it is read, so it is never settled: the next run from
    the journal reads it once more, and the runs after that do not (it is not in their last snapshot)."""
    repo = new_repo(tmp_path, src)
    backup(repo)
    (src / "a.txt").write_bytes(b"a two")
    later = os.stat(src / "a.txt").st_mtime_ns + DAY_NS
    os.utime(src / "a.txt", ns=(later, later))
    first = from_journal(repo, src, src / "a.txt")
    assert racy_flags(repo, src / "a.txt") == [0, 1]
    (src / "b.txt").write_bytes(b"b two")
    assert from_journal(repo, src, src / "b.txt").files_read == 2
    (src / "c.txt").write_bytes(b"c two")
    assert from_journal(repo, src, src / "c.txt").files_read == 1
    assert restored(repo, src, first.id, tmp_path / "out")[b"a.txt"][1] == b"a two"


def test_a_racy_file_deleted_since_is_recorded_gone(tmp_path: Path, src: Path, window) -> None:  # type: ignore[no-untyped-def]
    repo, racy = stored_racy(tmp_path, src, window)
    window(1)
    (src / "a.txt").unlink()  # in the same tick: no watcher event reached the journal
    (src / "b.txt").write_bytes(b"b two")
    after = from_journal(repo, src, src / "b.txt")
    assert b"a.txt" not in restored(repo, src, after.id, tmp_path / "now")
    assert restored(repo, src, racy.id, tmp_path / "then")[b"a.txt"][1] == b"a two"


def test_a_damaged_racy_row_is_named_and_the_index_rebuilt_from_the_drive(tmp_path: Path, src: Path, window,
                                                                          caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    """The paths to read again come from the index: each row is held to its seal first, so a damaged one
    stops the run as any damaged row a scan meets does, and the writer rebuilds the index and goes again."""
    repo, racy = stored_racy(tmp_path, src, window)
    window(1)
    (tmp_path / "private.txt").write_bytes(b"not protected")
    with sqlite3.connect(index_file(repo)) as db:  # the path bent toward a file outside, its seal unchanged
        db.execute("UPDATE file SET path = ? WHERE path = ?",
                   (os.fsencode(tmp_path / "private.txt"), os.fsencode(src / "a.txt")))
    (src / "b.txt").write_bytes(b"b two")
    after = from_journal(repo, src, src / "b.txt")
    assert any("damaged" in r.message for r in caplog.records)
    assert contents(restored(repo, src, racy.id, tmp_path / "then"))[b"a.txt"] == b"a two"
    assert contents(restored(repo, src, after.id, tmp_path / "now")) == contents(read_tree(src))


def test_a_run_from_the_journal_that_does_not_ask_leaves_racy_files_alone(tmp_path: Path, src: Path,
                                                                          window) -> None:  # type: ignore[no-untyped-def]
    """The guard's kind of run: only what the journal names is read, whatever the last snapshot stored racy."""
    repo, racy = stored_racy(tmp_path, src, window)
    window(1)
    (src / "a.txt").write_bytes(b"a burst")
    (src / "b.txt").write_bytes(b"b two")
    guarded = from_journal(repo, src, src / "b.txt", reread_racy=False)
    assert guarded.files_read == 1 and racy_flags(repo, src / "a.txt") == [0, 1]
    assert contents(restored(repo, src, guarded.id, tmp_path / "out"))[b"a.txt"] == b"a two"
    assert racy.id < guarded.id


def test_the_agents_storage_time_reads_the_last_snapshots_racy_files_again(tmp_path: Path, src: Path,
                                                                           window) -> None:  # type: ignore[no-untyped-def]
    from timekeep.core.agent.storage import storage_time
    from timekeep.core.index.journal import JournalEntry

    def journaled(*paths: Path) -> None:
        with Timekeep.open(repo, writer=True) as tk:
            tk.journal.record([JournalEntry(os.fsencode(src), os.fsencode(p), 1) for p in paths], 1)

    repo = new_repo(tmp_path, src)
    backup(repo)
    (src / "a.txt").write_bytes(b"a two")
    journaled(src / "a.txt")
    window(10**18)
    racy = storage_time(repo, "schedule", explicit=False).snapshot
    window(1)
    (src / "a.txt").write_bytes(b"a three, which no watcher reported")
    (src / "b.txt").write_bytes(b"b two")
    journaled(src / "b.txt")
    after = storage_time(repo, "schedule", explicit=False).snapshot
    assert racy is not None and after is not None and (after.files_read, after.files_changed) == (2, 2)
    assert contents(restored(repo, src, after.id, tmp_path / "now")) == contents(read_tree(src))
    assert racy_flags(repo, src / "a.txt") == [0, 1, 0]


def test_the_racy_files_of_a_snapshot_are_found_through_their_own_index(tmp_path: Path, src: Path,  # type: ignore[no-untyped-def]
                                                                      window) -> None:
    """Schema 12: the racy versions are indexed by snapshot, so a run from the journal after a first backup of
    many files reads its few racy rows, not every version; a settled row leaves the index."""
    from timekeep.core.index import queries

    repo, racy = stored_racy(tmp_path, src, window)
    with sqlite3.connect(index_file(repo)) as db:
        plan = db.execute(f"EXPLAIN QUERY PLAN {queries.RACY_OF_SNAPSHOT}", (racy.id,)).fetchall()
        assert any("version_racy" in str(step[-1]) for step in plan), plan
        assert db.execute("SELECT count(*) FROM version INDEXED BY version_racy WHERE snapshot_id = ? "
                          "AND racy = 1", (racy.id,)).fetchone() == (1,)
    window(1)
    from_journal(repo, src, src / "b.txt")  # a.txt read again and settled
    with sqlite3.connect(index_file(repo)) as db:
        assert db.execute("SELECT count(*) FROM version INDEXED BY version_racy WHERE racy = 1").fetchone() == (0,)
