"""`check` holds each version's listing record (schema 9, core/index/shown.py) against its columns: a listing
shows a record whose seal holds as it stands, so a record that holds yet tells another size, time or state is
found by `check` alone; a record that does not hold is damage too (listings read past it); a version without a
record, written before schema 9, is normal. `rebuild-index` writes the records again. Plain and encrypted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import backup, make_tree, new_repo
from tests.old_schema import downgrade
from tests.treeops import index_db, index_file
from timekeep.core.api import Timekeep, rebuild_index
from timekeep.core.index import shown

ROW = "WHERE file_id = (SELECT id FROM file WHERE path = ?)"


def two_snapshots(tmp_path: Path) -> tuple[Path, bytes]:
    src = Path(os.path.realpath(tmp_path)) / "src"
    make_tree(src, {"box": {"victim.txt": b"one", "keep.txt": b"kept", "link": "-> keep.txt"}})
    repo = new_repo(tmp_path, src)
    backup(repo)
    (src / "box" / "victim.txt").write_bytes(b"two, longer")
    backup(repo)
    return repo, os.fsencode(src / "box" / "victim.txt")


def problems(repo: Path) -> tuple[str, ...]:
    with Timekeep.open(repo) as tk:
        return tk.check().problems


def forged(record: bytes, path: bytes, version_seal: bytes, size: int) -> tuple[bytes, bytes]:
    """The record with another size, and a seal made for it as the writer makes one: it holds."""
    fields = list(shown.RECORD.unpack_from(record))
    fields[0] = size
    other = shown.RECORD.pack(*fields) + record[shown.RECORD.size:]
    return other, shown.shown_seal(other, path, version_seal)


def test_a_whole_history_has_no_record_problems(tmp_path: Path, plain_and_encrypted: str) -> None:
    repo, _ = two_snapshots(tmp_path)
    assert problems(repo) == ()


@pytest.mark.parametrize("damage", ["forged size", "flipped record", "flipped seal", "seal without record",
                                    "stale", "text"])
def test_a_record_that_disagrees_with_its_version_is_a_problem(tmp_path: Path, plain_and_encrypted: str,
                                                                damage: str) -> None:
    repo, victim = two_snapshots(tmp_path)
    with index_db(repo) as conn:
        (old, old_seal, _), (record, sealed, version_seal) = conn.execute(
            f"SELECT shown, shown_seal, seal FROM version {ROW} ORDER BY snapshot_id", (victim,)).fetchall()
        changed = {"forged size": forged(record, victim, version_seal, 3),
                   "flipped record": (record[:1] + bytes([record[1] ^ 1]) + record[2:], sealed),
                   "flipped seal": (record, bytes([sealed[0] ^ 1]) + sealed[1:]),
                   "seal without record": (None, sealed), "stale": (old, old_seal),
                   "text": ("size 3", sealed)}[damage]
        conn.execute(f"UPDATE version SET shown = ?, shown_seal = ? {ROW} AND seal = ?",
                     (*changed, victim, version_seal))
    found = problems(repo)
    assert len(found) == 1
    assert os.fsdecode(victim) in found[0] and "what a listing shows" in found[0]
    rebuild_index(repo)
    assert problems(repo) == ()


def test_versions_written_before_records_existed_are_not_problems(tmp_path: Path) -> None:
    repo, victim = two_snapshots(tmp_path)
    downgrade(index_file(repo), 8)
    assert problems(repo) == ()  # read from an upgraded copy
    Timekeep.open(repo, writer=True).close()  # a writer upgrades it in place: the old rows left without records
    assert problems(repo) == ()
    with index_db(repo) as conn:
        assert conn.execute(f"SELECT count(*) FROM version {ROW} AND shown IS NULL", (victim,)).fetchone() == (2,)
