"""A scan reads each stored child's compact record (schema 10, core/index/scanned.py) and trusts it only when its
seal, bound to the row's version seal and path, holds: a missing, stale or damaged record sends the scan to the
whole row, checked against its version seal as before, so the backup decides the same and damage to the row
itself still stops it. `check` holds every record to its row's columns; `rebuild-index` and a writer's upgrade
make them again. Plain and encrypted."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from peewee import SqliteDatabase

from tests.helpers import make_tree, new_repo
from tests.old_schema import downgrade
from tests.treeops import index_db, index_file
from timekeep.core.api import Timekeep, rebuild_index
from timekeep.core.errors import IndexDamaged
from timekeep.core.index import generation, scanned, schema
from timekeep.core.types import SnapshotInfo

ROW = "WHERE file_id = (SELECT id FROM file WHERE path = ?)"
NEWEST = f"{ROW} AND id = (SELECT max(id) FROM version {ROW})"


@pytest.fixture(autouse=True)
def no_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files written just before a backup are not read again for being racy: what is read is what changed."""
    import timekeep.core.capture.read as read

    monkeypatch.setattr(read, "RACY_NS", 1)


def stored_tree(tmp_path: Path) -> tuple[Path, Path]:
    src = Path(os.path.realpath(tmp_path)) / "src"
    make_tree(src, {"box": {"victim.txt": b"one", "keep.txt": b"kept", "link": "-> keep.txt", "sub": {}}})
    repo = new_repo(tmp_path, src)
    backup(repo)
    (src / "box" / "victim.txt").write_bytes(b"two, longer")
    backup(repo)
    return repo, src


def backup(repo: Path) -> SnapshotInfo:
    with Timekeep.open(repo, writer=True) as tk:
        return tk.backup()


def problems(repo: Path) -> tuple[str, ...]:
    with Timekeep.open(repo) as tk:
        return tk.check().problems


@contextlib.contextmanager
def peewee_index(repo: Path) -> Iterator[SqliteDatabase]:
    db = SqliteDatabase(str(index_file(repo)))
    try:
        yield db
    finally:
        db.close()


def whole_rows_read(repo: Path, folder: Path) -> set[bytes]:
    """The children of `folder` whose record did not hold, so the scan read their whole rows."""
    with peewee_index(repo) as db:
        (fid,) = db.execute_sql("SELECT id FROM file WHERE path = ?", (os.fsencode(folder),)).fetchone()
        return {os.path.basename(path) for path, stored in scanned.latest(db, fid).items() if stored[3] is not None}


def damage(repo: Path, path: bytes, how: str) -> None:
    """Change the newest version's record (or its version seal) of `path` as `how` says."""
    with index_db(repo) as conn:
        rows = conn.execute(f"SELECT scan, scan_seal FROM version {ROW} ORDER BY snapshot_id", (path,)).fetchall()
        (old, old_seal), (scan, sealed) = rows[0], rows[-1]
        if how == "version seal":  # as a byte turned over on the disk would: no trigger sees it
            conn.execute("DROP TRIGGER sealed_rows_version_changed")
            conn.execute(f"UPDATE version SET seal = zeroblob(16) {NEWEST}", (path, path))
            name, body = next(iter(generation.TRIGGERS.items()))
            conn.execute(f"CREATE TRIGGER {name} {body}")
            return
        changed = {"missing": (None, None), "flipped record": (bytes([scan[0] ^ 1]) + scan[1:], sealed),
                   "flipped seal": (scan, bytes([sealed[0] ^ 1]) + sealed[1:]), "stale": (old, old_seal),
                   "text": ("size 3", sealed)}[how]
        conn.execute(f"UPDATE version SET scan = ?, scan_seal = ? {NEWEST}", (*changed, path, path))


def test_every_stored_child_has_a_record_that_holds(tmp_path: Path, plain_and_encrypted: str) -> None:
    repo, src = stored_tree(tmp_path)
    assert whole_rows_read(repo, src / "box") == set()
    assert problems(repo) == ()
    assert backup(repo).files_read == 0


@pytest.mark.parametrize("how", ["missing", "flipped record", "flipped seal", "stale", "text"])
def test_a_record_that_does_not_hold_costs_only_its_speed(tmp_path: Path, plain_and_encrypted: str,
                                                          how: str) -> None:
    repo, src = stored_tree(tmp_path)
    victim = os.fsencode(src / "box" / "victim.txt")
    damage(repo, victim, how)
    assert whole_rows_read(repo, src / "box") == {b"victim.txt"}
    assert backup(repo).files_read == 0  # the whole row holds: the file is as stored, and is not read
    (src / "box" / "victim.txt").write_bytes(b"three, longer still")
    assert backup(repo).files_read == 1  # and a change is still seen through it
    assert whole_rows_read(repo, src / "box") == set()  # the new version has its record


@pytest.mark.parametrize("how", ["flipped record", "flipped seal", "stale", "text"])
def test_check_names_a_record_that_disagrees_and_rebuild_makes_it_again(tmp_path: Path, plain_and_encrypted: str,
                                                                        how: str) -> None:
    repo, src = stored_tree(tmp_path)
    victim = os.fsencode(src / "box" / "victim.txt")
    damage(repo, victim, how)
    found = problems(repo)
    assert len(found) == 1 and os.fsdecode(victim) in found[0] and "what a scan compares" in found[0]
    rebuild_index(repo)
    assert problems(repo) == ()
    assert whole_rows_read(repo, src / "box") == set()


def test_a_record_forged_to_hold_is_found_by_check(tmp_path: Path) -> None:
    repo, src = stored_tree(tmp_path)
    victim = os.fsencode(src / "box" / "victim.txt")
    with index_db(repo) as conn:
        (version_seal,) = conn.execute(f"SELECT seal FROM version {NEWEST}", (victim, victim)).fetchone()
        forged = scanned.record("file", "modified", 999, 0o100644, 1, 2, 3)
        assert forged is not None
        conn.execute(f"UPDATE version SET scan = ?, scan_seal = ? {NEWEST}",
                     (forged, scanned.scan_seal(forged, victim, version_seal), victim, victim))
    found = problems(repo)
    assert len(found) == 1 and "what a scan compares" in found[0]


def test_a_damaged_row_is_named_and_never_trusted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    repo, src = stored_tree(tmp_path)
    victim = os.fsencode(src / "box" / "victim.txt")
    damage(repo, victim, "version seal")  # the record is bound to it, so it no longer holds either
    with peewee_index(repo) as db, pytest.raises(IndexDamaged, match=r"victim\.txt"):
        (fid,) = db.execute_sql("SELECT id FROM file WHERE path = ?", (os.fsencode(src / "box"),)).fetchone()
        scanned.latest(db, fid)
    # box changed, so its digest no longer holds and the scan reads its rows (a row under a digest that holds is
    # met where it is read next: tests/test_folder_digests.py)
    (src / "box" / "keep.txt").write_bytes(b"kept, edited")
    backup(repo)  # the writer meets it in its scan, names it and rebuilds the index from the drive
    assert any("damaged at" in r.message and "victim.txt" in r.message for r in caplog.records)
    assert problems(repo) == ()
    assert whole_rows_read(repo, src / "box") == set()


def test_a_gone_child_is_recorded_deleted_from_its_whole_row(tmp_path: Path) -> None:
    repo, src = stored_tree(tmp_path)
    (src / "box" / "victim.txt").unlink()
    (src / "box" / "keep.txt").unlink()
    damage(repo, os.fsencode(src / "box" / "keep.txt"), "missing")
    snap = backup(repo)
    assert snap.files_changed == 2
    with Timekeep.open(repo) as tk:
        assert sorted(os.path.basename(e.path) for e in tk.list_dir(os.fsencode(src / "box"), snap.id)) == [
            b"link", b"sub"]


@pytest.mark.parametrize("batch", [5_000, 2])
def test_a_writer_gives_an_older_index_its_records_from_rows_that_hold(tmp_path: Path, batch: int,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema, "_UPGRADE_BATCH", batch)  # 2: the upgrade reads the rows a few at a time
    repo, src = stored_tree(tmp_path)
    downgrade(index_file(repo), 9)
    with Timekeep.open(repo) as tk:  # a reader works on an upgraded copy and leaves the file as it is
        assert tk.check().problems == ()
    Timekeep.open(repo, writer=True).close()
    assert whole_rows_read(repo, src / "box") == set()
    with index_db(repo) as conn:  # older versions are never compared by a scan and keep none
        victim = os.fsencode(src / "box" / "victim.txt")
        assert conn.execute(f"SELECT scan IS NULL FROM version {ROW} ORDER BY snapshot_id",
                            (victim,)).fetchall() == [(1,), (0,)]
    assert problems(repo) == ()
    assert backup(repo).files_read == 0


def test_thinning_seals_the_records_of_the_versions_it_moves_again(tmp_path: Path) -> None:
    repo, src = stored_tree(tmp_path)
    (src / "box" / "keep.txt").write_bytes(b"kept, then changed")
    backup(repo)
    with Timekeep.open(repo, writer=True) as tk:  # victim's newest version moves into snapshot 3: a new seal
        tk.coalesce(drop=[2])
    assert whole_rows_read(repo, src / "box") == set()
    assert problems(repo) == ()
    assert backup(repo).files_read == 0


def test_a_folder_as_stored_is_walked_into_and_one_that_changed_is_recorded(tmp_path: Path) -> None:
    src = Path(os.path.realpath(tmp_path)) / "src"
    make_tree(src, {"quiet": {"deep": {"file.txt": b"one"}}, "chmod": {"a.txt": b"a"}})
    repo = new_repo(tmp_path, src)
    backup(repo)
    (src / "quiet" / "deep" / "file.txt").write_bytes(b"two, longer")  # only deep's own folder changes
    os.chmod(src / "chmod", 0o700)
    snap = backup(repo)
    assert snap.files_read == 1
    with Timekeep.open(repo) as tk:
        states = {os.path.relpath(os.fsdecode(e.path), src): e.state
                  for folder in (b"", b"quiet", b"quiet/deep")
                  for e in tk.list_dir(os.path.join(os.fsencode(src), folder).rstrip(b"/"), snap.id) if e.changed}
    assert states == {"chmod": "metadata", "quiet/deep/file.txt": "modified"}
    assert whole_rows_read(repo, src) == set()
