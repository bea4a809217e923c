"""A first listing reads each version's record of what it shows (schema 9, core/index/shown.py): a record that
is missing, flipped, stale or hostile is never shown (the row is checked against its whole version seal
instead), damage to what the listing reads besides is the caller's damaged entry, and a column the record
stands for, damaged, is found when the version is opened. Plain and encrypted repositories."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import backup, make_tree, new_repo
from tests.old_schema import downgrade
from tests.treeops import index_db
from timekeep.core.api import Timekeep
from timekeep.core.errors import CorruptData, IndexDamaged
from timekeep.core.index import listing, queries, shown
from timekeep.core.index.schema import SCHEMA_VERSION, open_index, schema_version
from timekeep.core.types import Entry

ROW = "WHERE file_id = (SELECT id FROM file WHERE path = ?)"


def history(tmp_path: Path) -> tuple[Path, bytes, list[int]]:
    """A folder of files, a folder and a link; the second snapshot rewrites `victim` and deletes `gone`."""
    src = Path(os.path.realpath(tmp_path)) / "src"
    make_tree(src, {"box": {"victim.txt": b"one", "gone.txt": b"soon gone", "keep.txt": b"kept", "sub": {},
                            "link": "-> keep.txt", **{f"f{n}.txt": b"file %d" % n for n in range(20)}}})
    repo = new_repo(tmp_path, src)
    first = backup(repo)
    (src / "box" / "victim.txt").write_bytes(b"two, longer")
    (src / "box" / "gone.txt").unlink()
    return repo, os.fsencode(src / "box"), [first, backup(repo)]


def listed(repo: Path, folder: bytes, sid: int) -> list[Entry]:
    """The folder's listing as a new process makes it: nothing checked before."""
    listing.PROCESS_ROWS.forget()
    with Timekeep.open(repo) as tk:
        return tk.list_dir(folder, sid)


def test_a_listing_from_records_is_the_listing_from_whole_rows(tmp_path: Path, plain_and_encrypted: str) -> None:
    repo, folder, sids = history(tmp_path)
    with index_db(repo) as conn:
        assert conn.execute("SELECT count(*) FROM version WHERE shown IS NULL OR shown_seal IS NULL").fetchone() == (0,)
    for sid in sids:
        from_records = listed(repo, folder, sid)
        with Timekeep.open(repo) as tk:  # a folder restore's way: every row read whole, checked by its seal
            whole = listing.children_at(tk._repo.db, folder_id(tk, folder), sid, [].append)
        assert from_records == whole and len(whole) >= 24
    kinds = {e.name: e.kind for e in listed(repo, folder, sids[1])}
    assert kinds[b"sub"] == "dir" and kinds[b"link"] == "symlink" and b"gone.txt" not in kinds


def folder_id(tk: Timekeep, folder: bytes) -> int:
    fid = queries.file_id(tk._repo.db, folder)
    assert fid is not None
    return fid


def flip(value: bytes, at: int) -> bytes:
    return value[:at] + bytes([value[at] ^ 0x10]) + value[at + 1:]


@pytest.mark.parametrize("damage", ["missing", "flipped", "seal flipped", "stale", "text", "integer", "short",
                                    "seal hostile"])
def test_a_record_that_does_not_hold_is_never_shown(tmp_path: Path, plain_and_encrypted: str, damage: str) -> None:
    repo, folder, sids = history(tmp_path)
    victim = folder + b"/victim.txt"
    truth = listed(repo, folder, sids[1])
    with index_db(repo) as conn:
        (old_shown, old_seal), (record, sealed) = conn.execute(
            f"SELECT shown, shown_seal FROM version {ROW} ORDER BY snapshot_id", (victim,)).fetchall()
        changed = {"missing": (None, sealed), "flipped": (flip(record, 0), sealed),
                   "seal flipped": (record, flip(sealed, 3)), "stale": (old_shown, old_seal),
                   "text": ("size 3", sealed), "integer": (7, sealed), "short": (record[:20], sealed),
                   "seal hostile": (record, "sealed")}[damage]
        conn.execute(f"UPDATE version SET shown = ?, shown_seal = ? {ROW} AND snapshot_id = ?",
                     (*changed, victim, sids[1]))
    # the row is checked against its whole version seal, which holds: shown as it was stored, whatever the record
    assert listed(repo, folder, sids[1]) == truth
    assert next(e for e in truth if e.path == victim).size == len(b"two, longer")


@pytest.mark.parametrize("damage", ["version seal", "path"])
def test_damage_to_what_a_listing_reads_is_the_callers_damaged_entry(tmp_path: Path, plain_and_encrypted: str,
                                                                      damage: str) -> None:
    repo, folder, sids = history(tmp_path)
    victim = folder + b"/victim.txt"
    statement = {"version seal": f"UPDATE version SET seal = zeroblob(16) {ROW}",
                 "path": "UPDATE file SET path = CAST(path || 'x' AS BLOB) WHERE path = ?"}[damage]
    with index_db(repo) as conn:
        conn.execute(statement, (victim,))
    with pytest.raises(IndexDamaged, match="victim"):
        listed(repo, folder, sids[1])
    failed: list[bytes] = []
    with Timekeep.open(repo) as tk:  # a folder restore's listing: the damaged row handed back, the rest listed
        rest = listing.children_at(tk._repo.db, folder_id(tk, folder), sids[1], failed.append)
    assert len(failed) == 1 and failed[0].startswith(victim) and len(rest) == 23
    assert not any(e.path.startswith(victim) for e in rest)


def test_a_column_the_record_stands_for_damaged_is_found_when_the_version_is_opened(
        tmp_path: Path, plain_and_encrypted: str) -> None:
    repo, folder, sids = history(tmp_path)
    victim = folder + b"/victim.txt"
    truth = listed(repo, folder, sids[1])
    with index_db(repo) as conn:
        conn.execute(f"UPDATE version SET size = size + 1, mtime_ns = 5 {ROW}", (victim,))
    assert listed(repo, folder, sids[1]) == truth  # what its writer sealed, never the damaged columns
    with Timekeep.open(repo) as tk, pytest.raises((CorruptData, IndexDamaged), match="victim"):
        tk.plan(victim, sids[1])


def test_an_index_upgraded_from_schema_8_lists_the_same_and_records_what_it_writes_next(
        tmp_path: Path, plain_and_encrypted: str) -> None:
    repo, folder, sids = history(tmp_path)
    truth = listed(repo, folder, sids[1])
    with Timekeep.open(repo) as tk:
        index = Path(tk._repo.layout.index)
    downgrade(index, 8)  # as the release before schema 9 left it: no records
    db = open_index(index)
    try:
        assert schema_version(db) == SCHEMA_VERSION >= 9
    finally:
        db.close()
    assert listed(repo, folder, sids[1]) == truth  # every row checked against its whole version seal
    (Path(os.fsdecode(folder)) / "keep.txt").write_bytes(b"kept, then changed")
    third = backup(repo)
    with index_db(repo) as conn:
        recorded = conn.execute("SELECT snapshot_id FROM version WHERE shown IS NOT NULL").fetchall()
    assert recorded and {s for (s,) in recorded} == {third}
    assert {e.path: e.size for e in listed(repo, folder, third)}[folder + b"/keep.txt"] == len(b"kept, then changed")


def test_the_inline_check_decides_as_the_writers_seal() -> None:
    """A row the writer sealed is kept; each field given a hostile value, or another value, is not."""
    path, sealed = b"/a/b.txt", b"s" * 16
    record = shown.record(4, "file", 10, 0o100644, 123, "modified", None)
    assert record is not None
    good = (9, path, 4, sealed, record, shown.shown_seal(record, path, sealed))
    kept = listing.Checked()
    assert listing.checked_shown([good], 4, kept) == [] and kept.seals == {9: sealed}
    assert kept.each([(9, sealed)]) == [Entry(path, "file", 10, 0o100644, 123, 4, True, None, "modified")]
    for at, values in enumerate(([None, "x", 7, b"/a/c.txt"], [None, "4", 5, 2**70], [None, "s", b"t" * 16],
                                 [None, "x", 7, record[:-1], record + b"x"], [None, "x", b"", flip(good[4], 0)])):
        for value in values:
            row = (9, *good[1:at + 1], value, *good[at + 2:])
            nothing = listing.Checked()
            assert listing.checked_shown([row], 4, nothing) == [9] and len(nothing) == 0, (at, value)
    link = shown.record(4, "symlink", 3, 0o120777, 1, "created", b"b.txt")
    assert link is not None
    linked = (9, path, 4, sealed, link, shown.shown_seal(link, path, sealed))
    assert listing.checked_shown([linked], 3, kept) == [] and kept.each([(9, sealed)]) == [
        Entry(path, "symlink", 3, 0o120777, 1, 4, False, b"b.txt", "created")]
    assert shown.record(1, "socket", 0, 0, 0, "created", None) is None  # no record: the whole seal is checked
    # one hasher serves every row of a call: a row that fails midway, or raises, spoils none after it
    mixed = [(1, *good[1:4], flip(record, 0), good[5]), (2, *good[1:4], 7, good[5]), (3, *good[1:]),
             (4, *linked[1:])]
    after = listing.Checked()
    assert listing.checked_shown(mixed, 4, after) == [1, 2] and after.seals == {3: sealed, 4: sealed}


def every_record_holds(repo: Path) -> bool:
    with index_db(repo) as conn:
        rows = conn.execute("SELECT v.id, f.path, v.snapshot_id, v.seal, v.shown, v.shown_seal FROM version v "
                            "JOIN file f ON f.id = v.file_id").fetchall()
    return listing.checked_shown(rows, 0, listing.Checked()) == [] and len(rows) > 20


def test_thinning_seals_the_records_of_the_versions_it_moves_again(tmp_path: Path, plain_and_encrypted: str) -> None:
    repo, folder, sids = history(tmp_path)
    (Path(os.fsdecode(folder)) / "victim.txt").write_bytes(b"three")
    third = backup(repo)
    truth = listed(repo, folder, third)
    with Timekeep.open(repo, writer=True) as tk:
        tk.coalesce(drop=[sids[1]])  # the victim's versions get a new `prev`, so new version seals
    assert every_record_holds(repo)
    assert listed(repo, folder, third) == truth


def test_only_the_rows_whose_records_do_not_hold_are_read_whole(tmp_path: Path, plain_and_encrypted: str) -> None:
    repo, folder, sids = history(tmp_path)
    truth = listed(repo, folder, sids[1])
    with index_db(repo) as conn:
        conn.execute(f"UPDATE version SET shown = NULL {ROW}", (folder + b"/victim.txt",))
    listing.PROCESS_ROWS.forget()
    with Timekeep.open(repo) as tk:
        conn = tk._repo.db.connection()
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        assert tk.list_dir(folder, sids[1]) == truth
        conn.set_trace_callback(None)
    firsts = [s.split(" FROM ")[0] for s in statements]
    assert firsts.count(listing.SHOWN_AT.split(" FROM ")[0]) == 1
    assert firsts.count(listing.SEALS_AT.split(" FROM ")[0]) == 0  # the failed record names its row by id
    by_id = [s for s in statements if s.startswith(listing._BY_ID.split(" FROM ")[0])]
    assert len(by_id) == 1 and by_id[0].count(",") == listing._BY_ID.count(",")  # one row, by its id


@pytest.mark.parametrize("onto", ["keep.txt", "victim.txt"])
def test_a_row_given_another_rows_seal_is_not_hidden_behind_it(tmp_path: Path, onto: str) -> None:
    repo, folder, sids = history(tmp_path)
    source = folder + (b"/victim.txt" if onto == "keep.txt" else b"/keep.txt")
    with index_db(repo) as conn:
        (copied,) = conn.execute(f"SELECT seal FROM version {ROW} ORDER BY snapshot_id DESC", (source,)).fetchone()
        conn.execute(f"UPDATE version SET seal = ? {ROW}", (copied, folder + b"/" + onto.encode()))
    with pytest.raises(IndexDamaged, match=onto):
        listed(repo, folder, sids[1])
    with pytest.raises(IndexDamaged, match=onto):  # at the other end too
        listed(repo, folder, sids[0])
