"""Renames and folder moves a watcher sees: nothing is read again, the history follows the file, and
every snapshot still gives back exactly what was there — by restore, listing and plan + combine, and after
rebuild-index. Real watchdog observers on temporary folders, through the in-process agent."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent_support import InProcess, agent_config, journaled, snapshot_of
from tests.helpers import Tree, backup, make_tree, new_repo, read_tree
from tests.treeops import append, assert_snapshot_matches, built, listed, overwrite, payload
from timekeep.core.api import Timekeep, rebuild_index
from timekeep.core.index import journal
from timekeep.core.index.chain import reseal_file
from timekeep.core.index.journal import JournalEntry
from timekeep.core.index.moves import ELSEWHERE, NEW, after_creation, after_move, origin_of
from timekeep.core.index.schema import open_index
from timekeep.core.types import SnapshotInfo, VersionInfo

# --- the origin algebra, as tables ----------------------------------------------------------------


def moves(*steps: tuple[str, bytes, bytes]) -> dict[bytes, bytes]:
    origins: dict[bytes, bytes] = {}
    for kind, src, dest in steps:
        if kind == "new":
            after_creation(origins, src)
        else:
            after_move(origins, src, dest, folder=kind == "dir")
    return origins


@pytest.mark.parametrize(("steps", "path", "expected"), [
    ([("file", b"/r/a", b"/r/b")], b"/r/b", b"/r/a"),
    ([("file", b"/r/a", b"/r/b"), ("file", b"/r/b", b"/r/c")], b"/r/c", b"/r/a"),  # chains compose
    ([("file", b"/r/a", b"/r/b"), ("file", b"/r/b", b"/r/a")], b"/r/a", b"/r/a"),  # and back: itself
    ([("dir", b"/r/d", b"/r/e")], b"/r/e/sub/x", b"/r/d/sub/x"),  # beneath a moved folder, by prefix
    ([("dir", b"/r/d", b"/r/e"), ("file", b"/r/e/x", b"/r/f")], b"/r/f", b"/r/d/x"),
    ([("file", b"/r/q", b"/r/d/x"), ("dir", b"/r/d", b"/r/e")], b"/r/e/x", b"/r/q"),  # entries beneath follow
    ([("dir", b"/r/d", b"/r/e"), ("new", b"/r/e/x", b"")], b"/r/e/x", NEW),  # created inside: new
    ([("file", b"/r/a", b"/r/b"), ("new", b"/r/t", b""), ("file", b"/r/t", b"/r/b")], b"/r/b", b"/r/a"),  # a save
    ([("new", b"/r/t", b""), ("file", b"/r/t", b"/r/b")], b"/r/b", b"/r/b"),  # a new file saved over b: b's
    ([("file", b"/r/a", b"/r/b")], b"/r/a", NEW),  # the old place is gone
    ([("file", b"", b"/r/b")], b"/r/b", ELSEWHERE),  # in from an unpaired place
    ([("dir", b"", b"/r/e")], b"/r/e/x", ELSEWHERE),
    ([("file", b"/r/a", b"/r/ab")], b"/r/ab/x", b"/r/a/x"),  # no prefix confusion: /r/ab is not under /r/a
    ([("dir", b"/r/a", b"/r/b")], b"/r/bc", b"/r/bc"),
])
def test_origin_of(steps: list[tuple[str, bytes, bytes]], path: bytes, expected: bytes) -> None:
    assert origin_of(moves(*steps), path) == expected


def test_only_folder_moves_look_beneath() -> None:
    origins = moves(("file", b"/r/q", b"/r/d/x"), ("file", b"/r/d", b"/r/e"))  # told it is a file: no carry
    assert origins[b"/r/d/x"] == b"/r/q" and origin_of(origins, b"/r/e/x") == b"/r/d/x"


# --- the journal composes renames across flushes --------------------------------------------------


@pytest.fixture
def stored(tmp_path: Path) -> Iterator[tuple[Path, sqlite3.Connection]]:
    """A repository whose index stores r/a, r/d/x and r/d/y."""
    root = tmp_path / "r"
    make_tree(root, {"a": b"a", "d": {"x": b"x", "y": b"y"}})
    repo = new_repo(tmp_path, root)
    backup(repo)
    yield root, sqlite3.connect(repo / "index.db")


def entry(root: Path, rel: str, origin: bytes | None) -> JournalEntry:
    return JournalEntry(os.fsencode(root), os.fsencode(root / rel), 1, origin)


def test_the_journal_composes_renames_across_flushes(tmp_path: Path, stored: tuple[Path, sqlite3.Connection]
                                                      ) -> None:
    root, _ = stored
    r = os.fsencode(root)
    db = open_index(tmp_path / "drive" / "Timekeep" / "repo" / "index.db")
    journal.record(db, [entry(root, "b", r + b"/a"), entry(root, "a", NEW)], 1)
    journal.record(db, [entry(root, "c", r + b"/b"), entry(root, "b", NEW)], 2)  # a -> b, then b -> c
    journal.record(db, [entry(root, "e", r + b"/d")], 3)
    journal.record(db, [entry(root, "f", r + b"/e/x")], 4)  # a file out of the moved folder
    journal.record(db, [entry(root, "t", NEW)], 5)
    journal.record(db, [entry(root, "g", r + b"/t")], 6)  # from a path never stored: no origin
    journal.record(db, [entry(root, "c", r + b"/t")], 7)  # a new file saved over c: c keeps its origin
    assert journal.origins(db) == {
        r + b"/a": NEW, r + b"/b": NEW, r + b"/c": r + b"/a", r + b"/e": r + b"/d", r + b"/f": r + b"/d/x",
        r + b"/t": NEW}


def test_origins_beneath_a_renamed_folder_follow_it(tmp_path: Path, stored: tuple[Path, sqlite3.Connection]
                                                    ) -> None:
    root, _ = stored
    r = os.fsencode(root)
    db = open_index(tmp_path / "drive" / "Timekeep" / "repo" / "index.db")
    journal.record(db, [entry(root, "d/z", r + b"/a")], 1)  # a moved into d
    journal.record(db, [entry(root, "e", r + b"/d")], 2)  # then d moved to e, in a later flush
    assert journal.origins(db)[r + b"/e/z"] == r + b"/a"
    assert r + b"/e/z" in journal.pending(db)[r]


# --- live: real observers, the in-process agent ---------------------------------------------------


@pytest.fixture(autouse=True)
def no_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files written just before a snapshot are normally read again next time; off here, so counts show
    what the renames alone caused (a racy origin is read: see test_a_racy_origin_is_read)."""
    import timekeep.core.capture.read as read

    monkeypatch.setattr(read, "RACY_NS", 1)


class Recorder:
    """Snapshots taken, with each protected folder's tree as it was when each was taken."""

    def __init__(self, repo: Path, *folders: Path) -> None:
        self.repo, self.folders = repo, folders
        self.taken: list[tuple[int, dict[Path, Tree]]] = []

    def note(self, sid: int) -> int:
        self.taken.append((sid, {f: read_tree(f) for f in self.folders}))
        return sid

    def backup(self) -> int:
        return self.note(backup(self.repo))

    def agent_backup(self, run: InProcess) -> SnapshotInfo:
        snap = snapshot_of(run.backup())
        self.note(snap.id)
        return snap

    def check_every_snapshot(self, scratch: Path) -> None:
        """Every snapshot gives back its trees exactly: restored, listed, and each file built from its plan."""
        with Timekeep.open(self.repo) as tk:
            for sid, trees in self.taken:
                for folder, tree in trees.items():
                    assert_snapshot_matches(tk, os.fsencode(folder), sid, tree, scratch)


def versions(repo: Path, path: Path) -> list[VersionInfo]:
    with Timekeep.open(repo) as tk:
        return tk.versions(os.fsencode(path))


def origins_stored(repo: Path) -> set[tuple[bytes, int, bytes]]:
    """(path, snapshot, origin path) of every version that arrived by a watched rename."""
    with sqlite3.connect(repo / "index.db") as conn:
        return set(conn.execute(
            "SELECT f.path, v.snapshot_id, o.path FROM version v JOIN file f ON f.id = v.file_id "
            "JOIN file o ON o.id = v.origin"))


def assert_rebuild_agrees(repo: Path, *paths: Path) -> None:
    """rebuild-index from the drive alone gives back the same histories and origins."""
    before = {p: versions(repo, p) for p in paths}
    moved = origins_stored(repo)
    assert moved
    rebuild_index(repo)
    assert {p: versions(repo, p) for p in paths} == before
    assert origins_stored(repo) == moved


def states(found: list[VersionInfo]) -> list[tuple[int, str]]:
    return [(v.snapshot_id, v.state) for v in found]


TREE = {
    "report.bin": payload(1, 300_000),
    "notes.txt": b"notes",
    "docs": {f"d{i:03}.txt": f"document {i}".encode() for i in range(150)}
    | {"big.bin": payload(2, 200_000), "deep": {"x.md": b"deep x", "y.bin": payload(3, 90_000)}},
    "archive": {"old.txt": b"old"},
}


def test_a_renamed_file_is_not_read_and_its_history_follows(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, TREE)
    repo = new_repo(tmp_path, src)
    rec = Recorder(repo, src)
    first = rec.backup()
    overwrite(src / "report.bin", 100_000, b"edited" * 1000)  # a delta version: the rename must paint a chain
    second = rec.backup()
    with InProcess(agent_config(repo)) as run:
        os.rename(src / "report.bin", src / "renamed.bin")
        run.sees(repo, {os.fsencode(src / "renamed.bin"), os.fsencode(src / "report.bin")})
        moved = rec.agent_backup(run)
        assert (moved.files_read, moved.bytes_read, moved.bytes_new) == (0, 0, 0)
        append(src / "renamed.bin", b"and a tail")  # an edit after the rename: a delta on the moved version
        run.sees(repo, {os.fsencode(src / "renamed.bin")})
        edited = rec.agent_backup(run)
        assert edited.files_read == 1
    rec.check_every_snapshot(tmp_path / "restored")
    with Timekeep.open(repo) as tk:
        assert b"report.bin" in {e.name for e in tk.list_dir(os.fsencode(src), second)}
        assert {e.name for e in tk.list_dir(os.fsencode(src), moved.id)} >= {b"renamed.bin"} - {b"report.bin"}
        assert b"report.bin" not in {e.name for e in tk.list_dir(os.fsencode(src), moved.id)}
    history = versions(repo, src / "renamed.bin")
    assert states(history) == [(first, "created"), (second, "modified"), (moved.id, "created"),
                               (edited.id, "modified")]
    assert history[:2] == versions(repo, src / "report.bin")[:2]
    assert history[2].content_id == history[1].content_id
    assert_rebuild_agrees(repo, src / "renamed.bin", src / "report.bin")
    rec.check_every_snapshot(tmp_path / "restored-after-rebuild")


def test_a_moved_folder_of_many_files_is_not_read(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, TREE)
    repo = new_repo(tmp_path, src)
    rec = Recorder(repo, src)
    first = rec.backup()
    with InProcess(agent_config(repo)) as run:
        os.rename(src / "docs", src / "archive" / "papers")
        run.sees(repo, {os.fsencode(src / "archive" / "papers"), os.fsencode(src / "docs")})
        moved = rec.agent_backup(run)
    assert (moved.files_read, moved.bytes_read) == (0, 0)
    assert moved.files_changed == 2 * 153  # each file created at the new place and deleted at the old
    rec.check_every_snapshot(tmp_path / "restored")
    with Timekeep.open(repo) as tk:
        before, after = listed(tk, os.fsencode(src), first), listed(tk, os.fsencode(src), moved.id)
    assert b"docs/deep/y.bin" in before and b"archive/papers/deep/y.bin" not in before
    assert b"archive/papers/deep/y.bin" in after and not any(p.startswith(b"docs") for p in after)
    for rel in ("deep/y.bin", "d007.txt", "deep"):
        assert states(versions(repo, src / "archive" / "papers" / rel)) == [(first, "created"),
                                                                            (moved.id, "created")]
    assert_rebuild_agrees(repo, src / "archive" / "papers" / "deep" / "y.bin", src / "archive" / "papers")


def test_a_move_between_protected_folders_reads_nothing(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    make_tree(one, {"a.bin": payload(4, 120_000), "set": {"s1.txt": b"s1", "s2.bin": payload(5, 80_000)}})
    make_tree(two, {"b.txt": b"b"})
    repo = new_repo(tmp_path, one, two)
    rec = Recorder(repo, one, two)
    first = rec.backup()
    with InProcess(agent_config(repo)) as run:
        os.rename(one / "a.bin", two / "a.bin")
        os.rename(one / "set", two / "set")
        run.sees(repo, {os.fsencode(p) for p in (one / "a.bin", one / "set", two / "a.bin", two / "set")})
        moved = rec.agent_backup(run)
    assert (moved.files_read, moved.bytes_read) == (0, 0)
    rec.check_every_snapshot(tmp_path / "restored")
    for path in (two / "a.bin", two / "set" / "s2.bin"):
        assert states(versions(repo, path)) == [(first, "created"), (moved.id, "created")]
    assert_rebuild_agrees(repo, two / "a.bin", two / "set" / "s2.bin")


def test_moving_out_is_a_deletion_and_moving_in_a_creation(tmp_path: Path) -> None:
    src, outside = tmp_path / "src", tmp_path / "outside"
    make_tree(src, {"leaving.txt": b"leaving", "stays.txt": b"stays"})
    make_tree(outside, {"arriving.bin": payload(6, 70_000)})
    repo = new_repo(tmp_path, src)
    rec = Recorder(repo, src)
    rec.backup()
    with InProcess(agent_config(repo)) as run:
        os.rename(src / "leaving.txt", outside / "leaving.txt")
        os.rename(outside / "arriving.bin", src / "arriving.bin")
        run.sees(repo, {os.fsencode(src / "leaving.txt"), os.fsencode(src / "arriving.bin")})
        snap = rec.agent_backup(run)
    assert (snap.files_read, snap.bytes_read) == (1, 70_000)
    assert states(versions(repo, src / "leaving.txt"))[-1] == (snap.id, "deleted")
    assert states(versions(repo, src / "arriving.bin")) == [(snap.id, "created")]
    assert origins_stored(repo) == set()
    rec.check_every_snapshot(tmp_path / "restored")


def test_a_rename_then_an_editor_save_is_read_and_keeps_its_history(tmp_path: Path) -> None:
    """The editor writes a temporary file and renames it over the renamed one: new content, same document."""
    src = tmp_path / "src"
    make_tree(src, {"draft.txt": b"first draft"})
    repo = new_repo(tmp_path, src)
    rec = Recorder(repo, src)
    first = rec.backup()
    with InProcess(agent_config(repo)) as run:
        os.rename(src / "draft.txt", src / "final.txt")
        run.sees(repo, {os.fsencode(src / "final.txt")})
        (src / ".goutputstream-4TZ1").write_bytes(b"final text")  # how gedit saves
        os.replace(src / ".goutputstream-4TZ1", src / "final.txt")
        run.sees(repo, {os.fsencode(src / ".goutputstream-4TZ1")})
        snap = rec.agent_backup(run)
    assert snap.files_read == 1
    assert states(versions(repo, src / "final.txt")) == [(first, "created"), (snap.id, "created")]
    rec.check_every_snapshot(tmp_path / "restored")


def test_a_racy_origin_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A version stored while its file was being touched proves nothing about the content: read it."""
    import timekeep.core.capture.read as read

    src = tmp_path / "src"
    make_tree(src, {"hot.txt": b"just written"})
    repo = new_repo(tmp_path, src)
    monkeypatch.setattr(read, "RACY_NS", 10**18)  # every version is racy
    first = backup(repo)
    with InProcess(agent_config(repo)) as run:
        os.rename(src / "hot.txt", src / "cooled.txt")
        run.sees(repo, {os.fsencode(src / "cooled.txt")})
        snap = snapshot_of(run.backup())
    assert snap.files_read == 1
    assert states(versions(repo, src / "cooled.txt")) == [(first, "created"), (snap.id, "created")]


def test_a_rename_found_only_by_a_scan_is_a_deletion_and_a_creation(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"a.bin": payload(7, 70_000)})
    repo = new_repo(tmp_path, src)
    rec = Recorder(repo, src)
    rec.backup()
    os.rename(src / "a.bin", src / "b.bin")  # no agent running: only the scan sees it
    with Timekeep.open(repo, writer=True) as tk:
        snap = tk.backup()
    rec.note(snap.id)
    assert (snap.files_read, snap.bytes_new) == (1, 0)  # read again; its content dedups
    assert states(versions(repo, src / "b.bin")) == [(snap.id, "created")]
    rec.check_every_snapshot(tmp_path / "restored")
    with Timekeep.open(repo) as tk:
        assert built(tk, os.fsencode(src / "b.bin"), snap.id) == payload(7, 70_000)
    assert journaled(repo) == set()


def test_a_renamed_file_whose_extents_start_inside_their_chunks(tmp_path: Path) -> None:
    """A version the coalescer left using only part of a chunk (an extent with `skip`): renamed, it keeps
    exactly those bytes. The version is written into the index as the coalescer would leave it."""
    src = tmp_path / "src"
    whole = payload(8, 40_000)
    make_tree(src, {"whole.bin": whole, "part.bin": whole[3000:8000]})
    repo = new_repo(tmp_path, src)
    first = backup(repo)
    part = os.fsencode(src / "part.bin")
    st = os.stat(part)
    with sqlite3.connect(repo / "index.db") as conn:
        chunks = conn.execute("SELECT e.chunk_id FROM extent e JOIN version v ON v.id = e.version_id "
                              "JOIN file f ON f.id = v.file_id WHERE f.path = ?", (os.fsencode(src / "whole.bin"),))
        [(chunk,)] = chunks.fetchall()
        (vid,) = conn.execute("SELECT v.id FROM version v JOIN file f ON f.id = v.file_id WHERE f.path = ?",
                              (part,)).fetchone()
        conn.execute("UPDATE version SET size = ?, mtime_ns = ?, inode = ?, ctime_ns = ?, chain_rows = 1 "
                     "WHERE id = ?", (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns, vid))
        conn.execute("DELETE FROM extent WHERE version_id = ?", (vid,))
        conn.execute("INSERT INTO extent (version_id, offset, length, chunk_id, skip) VALUES (?, 0, 5000, ?, 3000)",
                     (vid, chunk))
        (fid,) = conn.execute("SELECT id FROM file WHERE path = ?", (part,)).fetchone()
    db = open_index(repo / "index.db")
    reseal_file(db, fid)  # sealed as the coalescer seals what it rewrites
    db.close()
    with Timekeep.open(repo) as tk:
        assert built(tk, part, first) == whole[3000:8000]
    with InProcess(agent_config(repo)) as run:
        os.rename(src / "part.bin", src / "moved.bin")
        run.sees(repo, {os.fsencode(src / "moved.bin")})
        snap = snapshot_of(run.backup())
    assert snap.files_read == 0
    with Timekeep.open(repo) as tk:
        assert built(tk, os.fsencode(src / "moved.bin"), snap.id) == whole[3000:8000]


def test_a_renamed_file_replaced_by_another_with_its_size_and_mtime_is_read(tmp_path: Path) -> None:
    """Same size and mtime are not enough after a rename: another file (another inode) saved over it with the
    old times, as a sync tool would, is read, or the snapshot would hold the old bytes."""
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"original text"})
    repo = new_repo(tmp_path, src)
    rec = Recorder(repo, src)
    rec.backup()
    old = os.stat(src / "a.txt")
    with InProcess(agent_config(repo)) as run:
        os.rename(src / "a.txt", src / "b.txt")
        run.sees(repo, {os.fsencode(src / "b.txt")})
        (src / "sync-in").write_bytes(b"replaced text")  # same length
        os.utime(src / "sync-in", ns=(old.st_atime_ns, old.st_mtime_ns))
        os.replace(src / "sync-in", src / "b.txt")
        run.sees(repo, {os.fsencode(src / "sync-in")})
        snap = rec.agent_backup(run)
    assert snap.files_read == 1
    rec.check_every_snapshot(tmp_path / "restored")


def test_a_file_created_afresh_in_a_moved_folder_has_no_earlier_history(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"d": {"x.txt": b"old x", "y.txt": b"y"}})
    repo = new_repo(tmp_path, src)
    rec = Recorder(repo, src)
    first = rec.backup()
    with InProcess(agent_config(repo)) as run:
        os.rename(src / "d", src / "e")
        (src / "e" / "x.txt").unlink()
        (src / "e" / "x.txt").write_bytes(b"a new x")
        run.sees(repo, {os.fsencode(src / "e"), os.fsencode(src / "e" / "x.txt")})
        snap = rec.agent_backup(run)
    assert snap.files_read == 1
    assert states(versions(repo, src / "e" / "x.txt")) == [(snap.id, "created")]
    assert states(versions(repo, src / "e" / "y.txt")) == [(first, "created"), (snap.id, "created")]
    rec.check_every_snapshot(tmp_path / "restored")


def test_a_save_through_an_excluded_temporary_file_keeps_the_history(tmp_path: Path) -> None:
    """LibreOffice writes lu*.tmp (excluded, so never journaled) and renames it over the document later:
    the rename names a path the index never stored, so the document keeps its origin."""
    src = tmp_path / "src"
    make_tree(src, {"a.odt": b"version one"})
    repo = new_repo(tmp_path, src)
    rec = Recorder(repo, src)
    first = rec.backup()
    with InProcess(agent_config(repo)) as run:
        os.rename(src / "a.odt", src / "b.odt")
        run.sees(repo, {os.fsencode(src / "b.odt")})
        with run.changes(src / "lu4821.tmp"):  # its creation is seen and journaled apart, long before the save
            (src / "lu4821.tmp").write_bytes(b"version two, saved")
        os.replace(src / "lu4821.tmp", src / "b.odt")
        run.until(lambda: journaled_size(repo, src / "b.odt") == 18, what="the save")
        snap = rec.agent_backup(run)
    assert snap.files_read == 1
    assert states(versions(repo, src / "b.odt")) == [(first, "created"), (snap.id, "created")]
    rec.check_every_snapshot(tmp_path / "restored")


def journaled_size(repo: Path, path: Path) -> int | None:
    with sqlite3.connect(repo / "index.db") as conn:
        row = conn.execute("SELECT size FROM journal WHERE path = ?", (os.fsencode(path),)).fetchone()
    return None if row is None else int(row[0])
