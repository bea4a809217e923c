"""A full scan skips the rows of a folder whose children's digest is the one kept when a scan last found it as
stored (core/index/folder_digests.py), and finds exactly what a scan without digests finds: whatever changed,
whatever the index went through since (thinning, damage, other exclusions, lost packs)."""

from __future__ import annotations

import os
import socket
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import index_file, make_tree, new_repo, read_tree
from timekeep.core.api import Timekeep
from timekeep.core.capture.excludes import Excludes
from timekeep.core.capture.scan import FolderScan
from timekeep.core.index import bucket_digests, scanned
from timekeep.core.index.folder_digests import FolderDigests
from timekeep.core.types import SnapshotInfo


@pytest.fixture(autouse=True)
def no_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files written just before a backup are not read again for being racy: each scan says what changed."""
    import timekeep.core.capture.read as read

    monkeypatch.setattr(read, "RACY_NS", 1)


@contextmanager
def rows_read(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The folders (file row ids) whose rows a scan read, in order."""
    read: list[int] = []
    real = scanned.latest

    def spy(db, parent_id):  # type: ignore[no-untyped-def]
        read.append(parent_id)
        return real(db, parent_id)

    monkeypatch.setattr(scanned, "latest", spy)
    yield read
    monkeypatch.setattr(scanned, "latest", real)


def backup(repo: Path):  # type: ignore[no-untyped-def]
    with Timekeep.open(repo, writer=True) as tk:
        return tk.backup()


def digests_kept(repo: Path) -> int:
    with sqlite3.connect(index_file(repo)) as db:
        return int(db.execute("SELECT count(*) FROM folder_digest").fetchone()[0])


def restored(repo: Path, src: Path, snapshot_id: int, dest: Path):  # type: ignore[no-untyped-def]
    with Timekeep.open(repo) as tk:
        tk.restore(os.fsencode(src), snapshot_id, dest=os.fsencode(dest))
    return read_tree(dest / src.name)


@pytest.fixture()
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """A repository whose folders all have their digests kept (the second scan found them as stored)."""
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"a", "docs": {"b.txt": b"b", "c.txt": b"c", "deep": {"d.txt": b"d"}},
                    "pics": {"e.jpg": b"e" * 5000, "link": "-> ../a.txt"}})
    repo = new_repo(tmp_path, src)
    backup(repo)  # everything new: no folder as stored yet
    assert backup(repo).files_read == 0  # every folder as stored: digests kept
    assert digests_kept(repo) == 4  # the root, docs, docs/deep, pics
    return repo, src


def test_a_folder_as_stored_is_vouched_for_and_its_rows_are_not_read(tree: tuple[Path, Path],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    repo, src = tree
    with rows_read(monkeypatch) as read:
        snap = backup(repo)
    assert read == [] and snap.files_read == 0
    assert snap.files_scanned == len([p for p in read_tree(src).values() if p[0] != "dir"])  # counted all the same


def test_a_small_folders_digest_kept_as_bucket_0_by_an_older_release_vouches_for_nothing(
        tree: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder of up to WHOLE children was one digest under bucket 0 before 2026-12-07; it is bucket 64 now, so
    that voiding it voids no bucket of a big folder. A bucket-0 digest of a small folder, even with a seal that
    holds and equal to what the disk makes, is never looked at: the folder's rows are read."""
    repo, src = tree
    with Timekeep.open(repo, writer=True) as tk:
        db = tk._repo.db
        docs = os.fsencode(src / "docs")
        (fid,) = db.execute_sql("SELECT id FROM file WHERE path = ?", (docs,)).fetchone()
        (digest,) = db.execute_sql("SELECT digest FROM folder_digest WHERE folder = ? AND bucket = ?",
                                   (fid, bucket_digests.ONE_BUCKET)).fetchone()
        sealed = FolderDigests(db)._seal(fid, 0, docs, bytes(digest))
        with db.atomic():
            db.execute_sql("DELETE FROM folder_digest WHERE folder = ?", (fid,))
            db.execute_sql("INSERT INTO folder_digest (folder, bucket, digest, seal) VALUES (?, 0, ?, ?)",
                           (fid, digest, sealed))
    with rows_read(monkeypatch) as read:
        assert backup(repo).files_read == 0
    assert read == [fid]  # the other folders vouched for; this one compared row by row, and kept again as 64
    with rows_read(monkeypatch) as read:
        backup(repo)
    assert read == []


@pytest.mark.parametrize("change", ["edit", "add", "delete", "chmod", "rename", "file to folder", "relink",
                                    "touch", "folder"])
def test_every_kind_of_change_in_a_vouched_folder_is_found(tree: tuple[Path, Path], tmp_path: Path,
                                                           change: str) -> None:
    repo, src = tree
    docs = src / "docs"
    if change == "edit":
        (docs / "b.txt").write_bytes(b"B, edited")
    elif change == "add":
        (docs / "new.txt").write_bytes(b"new")
    elif change == "delete":
        (docs / "c.txt").unlink()
    elif change == "chmod":
        (docs / "b.txt").chmod(0o600)
    elif change == "rename":
        (docs / "b.txt").rename(docs / "bb.txt")
    elif change == "file to folder":
        (docs / "c.txt").unlink()
        make_tree(docs / "c.txt", {"inner.txt": b"inner"})
    elif change == "relink":
        os.unlink(src / "pics" / "link")
        os.symlink("../docs/b.txt", src / "pics" / "link")
    elif change == "touch":
        os.utime(docs / "deep" / "d.txt", ns=(1, 1))
    else:
        (docs / "deep").rename(docs / "deeper")
    snap = backup(repo)
    assert snap.files_changed >= 1
    assert restored(repo, src, snap.id, tmp_path / "out") == read_tree(src)


def test_thinning_or_any_change_to_a_sealed_row_voids_every_digest(tree: tuple[Path, Path],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    repo, _ = tree
    with sqlite3.connect(index_file(repo)) as db:  # what thinning, a repair or damage does: the token is drawn
        db.execute("UPDATE version SET size = size WHERE id = (SELECT min(id) FROM version)")
    with rows_read(monkeypatch) as read:
        backup(repo)
    assert len(read) == 4  # every folder compared row by row
    with rows_read(monkeypatch) as read:
        backup(repo)
    assert read == []  # and each found as stored again


@pytest.mark.parametrize("damage", ["digest", "seal", "folder", "missing row", "missing table"])
def test_a_damaged_or_missing_digest_costs_only_its_speed(tree: tuple[Path, Path], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    repo, src = tree
    (src / "docs" / "b.txt").write_bytes(b"B, edited")  # a change the damaged digest must not hide
    with sqlite3.connect(index_file(repo)) as db:
        (docs,) = db.execute("SELECT id FROM file WHERE path = ?", (os.fsencode(src / "docs"),)).fetchone()
        (other,) = db.execute("SELECT id FROM file WHERE path = ?", (os.fsencode(src / "pics"),)).fetchone()
        if damage == "digest":
            db.execute("UPDATE folder_digest SET digest = zeroblob(32) WHERE folder = ?", (docs,))
        elif damage == "seal":
            db.execute("UPDATE folder_digest SET seal = zeroblob(16) WHERE folder = ?", (docs,))
        elif damage == "folder":  # another folder's row moved onto this one
            db.execute("DELETE FROM folder_digest WHERE folder = ?", (docs,))
            db.execute("UPDATE folder_digest SET folder = ? WHERE folder = ?", (docs, other))
        elif damage == "missing row":
            db.execute("DELETE FROM folder_digest WHERE folder = ?", (docs,))
        else:
            db.execute("DROP TABLE folder_digest")
    with rows_read(monkeypatch) as read:
        snap = backup(repo)
    assert snap.files_changed == 1 and len(read) >= 1
    assert restored(repo, src, snap.id, tmp_path / "out") == read_tree(src)


def test_other_exclusions_void_the_digests_they_change(tree: tuple[Path, Path], tmp_path: Path) -> None:
    repo, src = tree
    with Timekeep.open(repo, writer=True) as tk:
        tk.set_excludes(os.fsencode(src), ["*.txt"])
        excluded = tk.backup()
    assert "b.txt" not in str(restored(repo, src, excluded.id, tmp_path / "without"))
    with Timekeep.open(repo, writer=True) as tk:
        tk.set_excludes(os.fsencode(src), [])
        again = tk.backup()
    assert restored(repo, src, again.id, tmp_path / "with") == read_tree(src)


def test_a_file_whose_stored_pieces_were_lost_is_read_again_in_a_vouched_folder(tree: tuple[Path, Path]) -> None:
    repo, _ = tree
    with sqlite3.connect(index_file(repo)) as db:
        db.execute("UPDATE pack SET state = 'missing'")  # not a sealed row: the digests still hold
    snap = backup(repo)
    assert snap.files_read >= 1


def test_a_folder_with_something_reported_gets_no_digest_and_reports_it_each_time(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"a", "sock": {"b.txt": b"b"}})
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(src / "sock" / "s"))
    try:
        repo = new_repo(tmp_path, src)
        for _ in range(3):
            with Timekeep.open(repo, writer=True) as tk:
                snap = tk.backup()
                assert any(e.path.endswith(b"/s") for e in tk.snapshot_errors(snap.id))
        assert digests_kept(repo) == 1  # the root's, not the folder with the socket
    finally:
        server.close()


# one step of a history: (which file, what is done to it)
STEPS = st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["write", "grow", "delete", "mkdir", "chmod",
                                                                "touch", "none"])), min_size=1, max_size=6)
NAMES = ["a", "d/b", "d/c", "d/e/f", "g/h", "g/i"]


@pytest.mark.parametrize("whole", [bucket_digests.WHOLE, 1])  # 1: every folder of two or more kept by buckets
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=st.lists(STEPS, min_size=2, max_size=5))
def test_a_scan_with_digests_finds_what_one_without_finds(history: list[list[tuple[int, str]]], whole: int,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import timekeep.core.capture.read as read

    read.RACY_NS = 1  # the autouse fixture puts it back after the test
    for n, base, src, repo in stepped_tree(history, whole, monkeypatch):
        with Timekeep.open(repo, writer=True) as tk:
            db = tk._repo.db
            plain = {(i.path, i.action) for i in FolderScan(db, os.fsencode(src), Excludes(()), lambda e: None
                                                            ).items()}
            vouched = {(i.path, i.action) for i in FolderScan(db, os.fsencode(src), Excludes(()), lambda e: None,
                                                              digests=FolderDigests(db)).items()}
            assert vouched == plain
            snap = tk.backup()
        assert restored(repo, src, snap.id, base / f"out{n}") == read_tree(src)


def stepped_tree(history: list[list[tuple[int, str]]], whole: int, monkeypatch: pytest.MonkeyPatch
                 ) -> Iterator[tuple[int, Path, Path, Path]]:
    """A small tree in a new repository, changed by each step of `history` in turn, with every folder of more
    than `whole` children kept by buckets: (the step, the temporary folder, the tree, the repository) after each
    step's changes, to scan and back up."""
    import timekeep.core.capture.scan as scan

    monkeypatch.setattr(bucket_digests, "WHOLE", whole)
    monkeypatch.setattr(scan, "WHOLE", whole)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        src = base / "src"
        make_tree(src, {"a": b"0", "d": {"b": b"1", "c": b"2", "e": {"f": b"3"}}, "g": {"h": b"4", "i": b"5"}})
        repo = new_repo(base, src)
        for n, steps in enumerate(history):
            for which, what in steps:
                apply(src / NAMES[which], what, n)
            yield n, base, src, repo


def apply(path: Path, what: str, n: int) -> None:
    """One change to `path` (a file when it can be), whatever it is now."""
    if what == "none":
        return
    if path.is_dir() and what != "mkdir":
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    if what == "write":
        if not path.is_dir():
            path.write_bytes(b"content %d" % n)
    elif what == "grow":
        if path.is_file():
            with path.open("ab") as out:
                out.write(b"+")
    elif what == "delete":
        if path.is_file():
            path.unlink()
    elif what == "mkdir":
        if not path.exists():
            path.mkdir()
    elif what == "chmod":
        if path.is_file():
            path.chmod(0o600 if path.stat().st_mode & 0o077 else 0o644)
    elif path.is_file():
        os.utime(path, ns=(n + 1, n + 1))


def big_folder(tmp_path: Path, names: list[str]) -> tuple[Path, Path]:
    """A repository of one folder of more than WHOLE files, its buckets' digests kept."""
    src = tmp_path / "src"
    make_tree(src, {"big": {n: n.encode() for n in names}})
    repo = new_repo(tmp_path, src)
    backup(repo)
    assert backup(repo).files_read == 0
    return repo, src


def test_one_file_changed_in_a_big_folder_costs_the_rows_of_its_bucket(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    names = [f"note{i:05d}.txt" for i in range(bucket_digests.WHOLE * 2)]
    repo, src = big_folder(tmp_path, names)
    assert digests_kept(repo) == 1 + bucket_digests.BUCKETS
    (src / "big" / "note00042.txt").write_bytes(b"changed")
    asked: list[int] = []
    real = scanned.latest_named
    monkeypatch.setattr(scanned, "latest_named",
                        lambda db, fid, paths: asked.append(len(paths)) or real(db, fid, paths))
    with rows_read(monkeypatch) as whole_folders:
        snap = backup(repo)
    assert whole_folders == [] and snap.files_changed == 1
    bucket = bucket_digests.bucket_of(b"note00042.txt")
    in_bucket = sum(1 for n in names if bucket_digests.bucket_of(n.encode()) == bucket)
    assert asked == [in_bucket]  # compared by the scan; its digest kept from what the backup stored, not read again
    # every digest: the writer voids the changed bucket (kept again from what the backup stored) and the one
    # bucket of a small folder, which is no bucket of this one (it once was bucket 0, read again after each change)
    assert digests_kept(repo) == 1 + bucket_digests.BUCKETS
    assert restored(repo, src, snap.id, tmp_path / "out") == read_tree(src)
    with rows_read(monkeypatch) as whole_folders:
        assert backup(repo).files_read == 0
    assert whole_folders == [] and asked == [in_bucket]  # the next scan reads no row of the folder
    assert digests_kept(repo) == 1 + bucket_digests.BUCKETS


def test_a_file_deleted_from_a_bucket_it_leaves_empty_is_found(tmp_path: Path) -> None:
    """The one child of a bucket gone: no digest of the disk's children speaks for that bucket, so the count of
    live children against what the digests vouch for sends the scan to every row."""
    names = [f"f{i}" for i in range(bucket_digests.WHOLE * 3)]
    lonely = next(n for n in names if bucket_digests.bucket_of(n.encode()) == 7)
    names = [n for n in names if bucket_digests.bucket_of(n.encode()) != 7 or n == lonely]
    repo, src = big_folder(tmp_path, names)
    (src / "big" / lonely).unlink()
    snap = backup(repo)
    assert snap.files_changed == 1
    assert restored(repo, src, snap.id, tmp_path / "out") == read_tree(src)
    with Timekeep.open(repo) as tk:
        assert [v.state for v in tk.versions(os.fsencode(src / "big" / lonely))][-1] == "deleted"


@pytest.mark.parametrize("change", ["add", "delete two", "edit in two buckets", "chmod"])
def test_every_change_in_a_big_folder_is_found(tmp_path: Path, change: str) -> None:
    names = [f"n{i}" for i in range(bucket_digests.WHOLE + 50)]
    repo, src = big_folder(tmp_path, names)
    big = src / "big"
    if change == "add":
        (big / "zz-new").write_bytes(b"new")
    elif change == "delete two":
        (big / "n3").unlink()
        (big / "n400").unlink()
    elif change == "edit in two buckets":
        (big / "n5").write_bytes(b"edited five")
        (big / "n77").write_bytes(b"edited 77")
    else:
        (big / "n9").chmod(0o600)
    snap = backup(repo)
    assert snap.files_changed >= 1
    assert restored(repo, src, snap.id, tmp_path / "out") == read_tree(src)


def test_other_exclusions_in_a_big_folder_void_the_buckets_they_change(tmp_path: Path) -> None:
    names = [f"n{i}" for i in range(bucket_digests.WHOLE + 50)]
    repo, src = big_folder(tmp_path, names)
    with Timekeep.open(repo, writer=True) as tk:
        tk.set_excludes(os.fsencode(src), ["n3"])
        tk.backup()  # n3 recorded deleted: its bucket's digest voided
        tk.set_excludes(os.fsencode(src), [])
        again = tk.backup()
    assert restored(repo, src, again.id, tmp_path / "out") == read_tree(src)


def test_the_agents_reconciling_scan_keeps_and_uses_digests_as_a_backup_does(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"a", "docs": {"b.txt": b"b"}, "pics": {"c.jpg": b"c"}})
    repo = new_repo(tmp_path, src)
    backup(repo)
    with Timekeep.open(repo, writer=True) as tk:
        assert tk.journal.reconcile(tk.folders()) == 0
    assert digests_kept(repo) == 3
    (src / "docs" / "b.txt").write_bytes(b"B, edited")
    with rows_read(monkeypatch) as read, Timekeep.open(repo, writer=True) as tk:
        assert tk.journal.reconcile(tk.folders()) == 1  # found in the one folder whose digest no longer holds
        assert {p for ps in tk.journal.pending().values() for p in ps} == {os.fsencode(src / "docs" / "b.txt")}
    assert len(read) == 1


@pytest.mark.parametrize("commit_rows", [5000, 7])
def test_a_backup_keeps_the_digests_of_the_folders_it_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            commit_rows: int) -> None:
    """The first backup met every child new; once its versions are in, what it stored is as the scan met it, so
    the next scan already reads no row (core/index/folder_digests.py `settle`). With commits every few rows, a
    folder's first versions go in before its scan has met the rest of it: they count too."""
    import timekeep.core.capture.backup as backup_module

    monkeypatch.setattr(backup_module, "COMMIT_ROWS", commit_rows)
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"a", "docs": {"b.txt": b"b", "deep": {"c.txt": b"c"}},
                    "big": {f"n{i}": b"%d" % i for i in range(bucket_digests.WHOLE + 10)}})
    repo = new_repo(tmp_path, src)
    backup(repo)
    assert digests_kept(repo) == 3 + bucket_digests.BUCKETS  # root, docs, docs/deep; big by buckets
    with rows_read(monkeypatch) as read:
        assert backup(repo).files_read == 0
    assert read == []


def test_what_a_backup_stored_racy_keeps_its_digest_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import timekeep.core.capture.read as read

    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"a", "docs": {"b.txt": b"b"}, "empty": {}})
    repo = new_repo(tmp_path, src)
    monkeypatch.setattr(read, "RACY_NS", 10**18)  # every file stored racy: read again next time
    backup(repo)
    assert digests_kept(repo) == 0  # (an empty folder has no children to digest)
    monkeypatch.setattr(read, "RACY_NS", 1)
    (src / "docs" / "b.txt").write_bytes(b"B, edited")
    snap = backup(repo)  # a.txt read again and settled, b.txt stored again, neither racy now
    assert (snap.files_read, snap.files_changed) == (2, 1)
    assert digests_kept(repo) == 2  # the root's and docs', now that what they hold is settled
    assert restored(repo, src, snap.id, tmp_path / "out") == read_tree(src)


def first_backup_opening_c_txt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               before_open: Callable[[bytes], None]) -> tuple[Path, Path, SnapshotInfo]:
    """A tree with docs/c.txt, backed up a first time with `before_open` called on c.txt's path as it is opened."""
    import timekeep.core.capture.read as read

    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"a", "docs": {"b.txt": b"b", "c.txt": b"c"}})
    repo = new_repo(tmp_path, src)
    real = read.open_file

    def hooked(path: bytes) -> int:
        if path.endswith(b"/c.txt"):
            before_open(path)
        return real(path)

    monkeypatch.setattr(read, "open_file", hooked)
    first = backup(repo)
    monkeypatch.setattr(read, "open_file", real)
    return repo, src, first


def test_a_file_a_backup_could_not_read_keeps_its_folders_digest_out(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Its scan met it new, but no version of it went in: the index does not hold what the scan met."""
    def refused(path: bytes) -> None:
        raise PermissionError(13, "Permission denied")

    repo, src, first = first_backup_opening_c_txt(tmp_path, monkeypatch, refused)
    assert first.errors == 1
    assert digests_kept(repo) == 1  # the root's; not docs'
    again = backup(repo)
    assert again.files_changed == 1 and digests_kept(repo) == 2
    assert restored(repo, src, again.id, tmp_path / "out") == read_tree(src)


def test_a_file_changed_between_the_scan_and_its_read_keeps_its_folders_digest_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The version stored is of what was read, not of what the scan met: the digest made of what the scan met
    would vouch for a record the index does not hold."""
    def edited_first(path: bytes) -> None:
        if os.path.getsize(path) == 1:
            with open(path, "ab") as out:
                out.write(b", and more")

    repo, src, first = first_backup_opening_c_txt(tmp_path, monkeypatch, edited_first)
    assert first.errors == 0
    assert digests_kept(repo) == 1  # the root's; not docs'
    with rows_read(monkeypatch) as rows:
        again = backup(repo)  # docs compared row by row: as stored, so its digest is kept now
    assert again.files_read == 0 and len(rows) == 1 and digests_kept(repo) == 2
    assert restored(repo, src, again.id, tmp_path / "out") == read_tree(src)


def test_a_folder_a_commit_added_versions_to_is_not_vouched_for_by_the_digests_read_before(
        tree: tuple[Path, Path]) -> None:
    """A scan reads the kept digests once; the writer's VOID of a folder a commit of the same backup adds versions
    to is mirrored, so the digest read before it is not used."""
    from timekeep.core.index import queries
    from timekeep.core.index.writer import NewVersion

    repo, src = tree
    docs = os.fsencode(src / "docs")
    with Timekeep.open(repo, writer=True) as tk:
        db = tk._repo.db
        digests = FolderDigests(db)
        fid = queries.file_id(db, docs)
        assert fid is not None and digests.holding(fid, docs) != {}
        digests.committed([NewVersion(docs + b"/b.txt", "deleted", "file")])
        assert digests.holding(fid, docs) == {}
        root = os.fsencode(src)
        root_id = queries.file_id(db, root)
        assert root_id is not None and digests.holding(root_id, root) != {}  # other folders' still hold


def test_a_row_damaged_under_a_digest_that_holds_is_met_where_it_is_read_next(tree: tuple[Path, Path],
                                                                             tmp_path: Path) -> None:
    """A byte turned over in a row's version seal (no trigger sees it, so the token stays) in a folder whose digest
    holds: the scan reads none of the folder's rows, so it is not met there. It is met where the row is read:
    `check` names it, a listing refuses it, and once the folder changes the scan reads its rows, names it and
    rebuilds the index from the drive."""
    from timekeep.core.errors import IndexDamaged
    from timekeep.core.index import generation

    repo, src = tree
    victim = os.fsencode(src / "docs" / "b.txt")
    with sqlite3.connect(index_file(repo)) as db:
        db.execute("DROP TRIGGER sealed_rows_version_changed")
        db.execute("UPDATE version SET seal = zeroblob(16) WHERE id = (SELECT max(v.id) FROM version v JOIN file f "
                   "ON f.id = v.file_id WHERE f.path = ?)", (victim,))
        name, body = next(iter(generation.TRIGGERS.items()))
        db.execute(f"CREATE TRIGGER {name} {body}")
    assert backup(repo).files_read == 0  # the digest holds: the row is not read
    with Timekeep.open(repo) as tk:
        assert any("b.txt" in p for p in tk.check().problems)
        with pytest.raises(IndexDamaged, match=r"b\.txt"):
            tk.list_dir(os.fsencode(src / "docs"), tk.snapshots()[-1].id)
    (src / "docs" / "c.txt").write_bytes(b"C, edited")
    snap = backup(repo)  # docs' digest no longer holds: its rows are read, the damage met and the index rebuilt
    with Timekeep.open(repo) as tk:
        assert tk.check().problems == ()
        assert [v.size for v in tk.versions(victim)][-1] == 1
    assert restored(repo, src, snap.id, tmp_path / "out") == read_tree(src)


SETTLE_THEN_WAIT = """
import signal, sys
import timekeep.core.capture.read as read
from timekeep.core.api import Timekeep
from timekeep.core.index import folder_digests

read.RACY_NS = 1  # as this module's tests: what was just written is not read again for being racy
real = folder_digests.FolderDigests.settle

def settle_then_wait(self):
    real(self)
    print("settled", flush=True)
    signal.pause()  # killed here: the digests are kept, the snapshot not finished

folder_digests.FolderDigests.settle = settle_then_wait
with Timekeep.open(sys.argv[1], writer=True) as tk:
    tk.backup()
"""


def test_a_backup_killed_after_keeping_its_digests_leaves_none_that_hide_a_change(tree: tuple[Path, Path],
                                                                                  tmp_path: Path) -> None:
    """kill -9 between the digests a backup keeps for what it stored and the end of its snapshot: the repair
    removes the unfinished snapshot's versions, which draws a new token and so voids those digests; otherwise
    the digest of the new content would hide the change from the next scan."""
    import subprocess
    import sys

    from tests.helpers import child_env

    repo, src = tree
    docs_digest = "SELECT d.digest FROM folder_digest d JOIN file f ON f.id = d.folder WHERE f.path = ?"
    with sqlite3.connect(index_file(repo)) as db:
        (before,) = db.execute(docs_digest, (os.fsencode(src / "docs"),)).fetchone()
    (src / "docs" / "b.txt").write_bytes(b"B, edited")
    child = subprocess.Popen([sys.executable, "-c", SETTLE_THEN_WAIT, str(repo)], env=child_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"settled\n"
        with sqlite3.connect(index_file(repo)) as db:
            (kept,) = db.execute(docs_digest, (os.fsencode(src / "docs"),)).fetchone()
        assert kept != before  # the digest of docs as the killed backup stored it
    finally:
        child.kill()
        child.wait()
    snap = backup(repo)
    assert snap.files_changed == 1  # b.txt's change found again, and stored
    with Timekeep.open(repo) as tk:
        assert tk.check().problems == ()
    assert restored(repo, src, snap.id, tmp_path / "out") == read_tree(src)
