"""What one listing of a folder at T costs, counted, never timed: the statements it runs and the SQLite steps they
take grow with the folder's entries, not with the history behind them; a listing at another T, or in another
opening of the index, reads again only the rows it has not checked; what it remembers is dropped as soon as a
sealed row changes (a backup only adds rows); and the seal check written inline for speed decides exactly as
`seal.version_holds`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from peewee import SqliteDatabase

from tests.helpers import backup, make_tree, new_repo
from tests.test_seal_speed import hostile_rows, plain_holds, plain_seal, rows
from tests.treeops import index_db
from timekeep.core.api import Timekeep
from timekeep.core.errors import IndexDamaged
from timekeep.core.index import listing, queries
from timekeep.core.types import Entry

FILES = 60
STEP = 100  # VM instructions between two calls of the progress handler


@contextmanager
def counted(db: SqliteDatabase) -> Iterator[tuple[list[str], list[int]]]:
    """The statements this thread's connection runs inside the block, and its VM steps (in units of STEP)."""
    statements: list[str] = []
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    conn = db.connection()
    conn.set_trace_callback(statements.append)
    conn.set_progress_handler(tick, STEP)
    try:
        yield statements, steps
    finally:
        conn.set_trace_callback(None)
        conn.set_progress_handler(None, STEP)


ROWS = listing.ROWS_AT.split(" FROM ")[0]  # how each statement begins (the trace shows them with their values)
SEALS = listing.SEALS_AT.split(" FROM ")[0]
BY_ID = listing._BY_ID.split(" FROM ")[0]
SHOWN = listing.SHOWN_AT.split(" FROM ")[0]
SHOWN_BY_ID = listing._SHOWN_BY_ID.split(" FROM ")[0]  # the rows not checked yet
SHOWN_BY_FILE = listing._SHOWN_BY_FILE.split(" FROM ")[0]  # the names whose hint failed, looked up


def reads(statements: list[str]) -> list[str]:
    """What each statement reading the folder's rows read: "rows" (what each version in force shows: its
    record and seals, core/index/shown.py), "whole" (every column of each, checked against its version seal),
    or "seals" (only which version is in force, and its seal); the folder's own look-up and the transaction's
    frame left out. Rows read by id after the seals begin as the others do."""
    assert ROWS == BY_ID and SHOWN_BY_FILE.endswith(SHOWN_BY_ID[len("SELECT "):])
    kinds = {SEALS: "seals", SHOWN: "rows", SHOWN_BY_ID: "rows", SHOWN_BY_FILE: "rows", ROWS: "whole"}
    prefixes = (ROWS, SEALS, SHOWN, SHOWN_BY_ID, SHOWN_BY_FILE)
    return [kinds[s.split(" FROM ")[0]] for s in statements if s.startswith(prefixes)]


def history(tmp_path: Path, snapshots: int) -> tuple[Path, bytes, list[int]]:
    """A folder of FILES files; each snapshot after the first rewrites a different few of them."""
    src = Path(os.path.realpath(tmp_path)) / "src"
    make_tree(src, {"photos": {f"p{n:03d}.jpg": b"photo %d" % n for n in range(FILES)}})
    repo = new_repo(tmp_path, src)
    sids = [backup(repo)]
    for s in range(1, snapshots):
        for n in range(s % 7, FILES, 9):
            (src / "photos" / f"p{n:03d}.jpg").write_bytes(b"edit %d of %d" % (s, n))
        sids.append(backup(repo))
    return repo, os.fsencode(src / "photos"), sids


def one_listing(tk: Timekeep, folder: bytes, sid: int) -> tuple[list[Entry], list[str], int]:
    with counted(tk._repo.db) as (statements, steps):
        entries = tk.list_dir(folder, sid)
    return entries, statements, steps[0]


def cold(tk: Timekeep, folder: bytes, sid: int) -> list[Entry]:
    """The listing with nothing remembered: every row read and checked."""
    db = tk._repo.db
    fid = queries.file_id(db, folder)
    assert fid is not None
    return listing.children_at(db, fid, sid)


def fresh(repo: Path) -> Timekeep:
    """The repository opened as by a new process: no rows checked before."""
    listing.PROCESS_ROWS.forget()
    return Timekeep.open(repo)


def test_a_first_listing_is_one_read_whose_steps_follow_the_entries_not_the_history(tmp_path: Path) -> None:
    short_repo, short_folder, short = history(tmp_path / "short", 2)
    long_repo, long_folder, long = history(tmp_path / "long", 12)
    with fresh(short_repo) as tk:
        short_entries, short_statements, short_steps = one_listing(tk, short_folder, short[-1])
    with fresh(long_repo) as tk:
        long_entries, long_statements, long_steps = one_listing(tk, long_folder, long[-1])
    with fresh(long_repo) as tk:
        _, oldest_statements, oldest_steps = one_listing(tk, long_folder, long[0])
    assert len(short_entries) == len(long_entries) == FILES
    assert reads(short_statements) == reads(long_statements) == reads(oldest_statements) == ["rows"]
    # the folder's look-up (2), then one read view: its live set's check, the rows
    assert len(short_statements) == len(long_statements) == 8
    # six times the snapshots behind each entry, about the same steps: each name's version at T is found
    # through an index, never by reading its other versions
    assert long_steps <= short_steps * 1.3 + 2 and oldest_steps <= short_steps * 1.3 + 2, \
        (short_steps, long_steps, oldest_steps)


def test_a_listing_at_another_time_reads_only_the_rows_it_has_not_checked(tmp_path: Path) -> None:
    repo, folder, sids = history(tmp_path, 4)
    with fresh(repo) as tk:
        first, _, first_steps = one_listing(tk, folder, sids[-1])
        again, statements, _ = one_listing(tk, folder, sids[-1])
        assert again == first and reads(statements) == []  # the same listing, kept whole
        tk.list_dir(folder, sids[1])
        again, statements, again_steps = one_listing(tk, folder, sids[2])
        assert again == cold(tk, folder, sids[2]) and reads(statements) == ["seals"]  # every row checked before
        other, statements, _ = one_listing(tk, folder, sids[0])
        changed = {e.path for e in first if e.snapshot_id != sids[0]}  # rewritten since: versions not yet read
        assert reads(statements) == ["seals", "rows"]  # the rows rewritten since, in one batch
        assert other == cold(tk, folder, sids[0]) and changed
        for sid in (*sids, sids[0], sids[-1]):
            assert tk.list_dir(folder, sid) == cold(tk, folder, sid)
        plan = [str(r[3]) for r in tk._repo.db.execute_sql("EXPLAIN QUERY PLAN " + listing.SEALS_AT, (1, 2))]
    # the live names from their index, each one's version at its head joined by the file row's hint, and the
    # versions of names changed after T (and of dead names) looked up through the version index
    assert "SEARCH f USING INDEX file_parent_id_live (parent_id=? AND live=?)" in plan
    assert "SEARCH v USING INTEGER PRIMARY KEY (rowid=?) LEFT-JOIN" in plan
    assert sum("COVERING INDEX version_file_id_snapshot_id" in step for step in plan) == 2, plan
    # fewer steps than the first read, though that reads records (five values a row), not whole rows
    assert again_steps < first_steps, (again_steps, first_steps)
    with Timekeep.open(repo) as reopened:  # another opening: the rows checked in the first are not read again
        for sid in sids:
            entries, statements, _ = one_listing(reopened, folder, sid)
            assert reads(statements) == ["seals"] and entries == cold(reopened, folder, sid)


def test_what_a_listing_remembers_is_dropped_when_the_index_changes(tmp_path: Path) -> None:
    repo, folder, sids = history(tmp_path, 2)
    victim = folder + b"/p005.jpg"
    with Timekeep.open(repo) as tk:
        assert victim in {e.path for e in tk.list_dir(folder, sids[-1])}
        of_victim = "WHERE file_id = (SELECT id FROM file WHERE path = ?)"
        with index_db(repo) as conn:  # another connection damages a row the listing has checked
            (kept,) = conn.execute(f"SELECT seal FROM version {of_victim}", (victim,)).fetchone()
            conn.execute(f"UPDATE version SET seal = zeroblob(16) {of_victim}", (victim,))
        with pytest.raises(IndexDamaged, match="p005"):
            tk.list_dir(folder, sids[-1])
        with index_db(repo) as conn:  # and put right again
            conn.execute(f"UPDATE version SET seal = ? {of_victim}", (kept, victim))
        assert victim in {e.path for e in tk.list_dir(folder, sids[-1])}
    src = Path(os.fsdecode(folder))
    with fresh(repo) as reader:
        reader.list_dir(folder, sids[0])
        remembered = reader._repo.listed.of(reader._repo.db.connection())
        assert len(remembered.rows.entries) == FILES and len(remembered.lists) == 1
        (src / "p001.jpg").unlink()
        with Timekeep.open(repo, writer=True) as writer:  # a writer in the same process: another connection
            sid = writer.backup().id
        after_backup = reader._repo.listed.of(reader._repo.db.connection())
        # a backup only adds rows: what was checked stays, the listings made of it go
        assert after_backup.rows is remembered.rows and after_backup.lists == {}
        assert folder + b"/p001.jpg" not in {e.path for e in reader.list_dir(folder, sid)}
        with index_db(repo) as conn:  # a sealed value changed by another connection: everything checked goes
            conn.execute("UPDATE version SET mode = mode WHERE id = 1")
        emptied = reader._repo.listed.of(reader._repo.db.connection())
        assert emptied.rows.entries == {} and emptied.lists == {}
    with Timekeep.open(repo) as tk:
        tk.list_dir(folder, sids[0])
    with index_db(repo) as conn:  # damage made while the index is closed is met in the next opening
        conn.execute("UPDATE version SET seal = zeroblob(16) WHERE file_id = (SELECT id FROM file WHERE path = ?)",
                     (folder + b"/p002.jpg",))
    with Timekeep.open(repo) as reopened, pytest.raises(IndexDamaged, match="p002"):
        reopened.list_dir(folder, sids[0])


def test_a_row_given_a_checked_rows_seal_is_not_taken_for_it(tmp_path: Path) -> None:
    """Damage no trigger saw (the sealed-rows token put back, as a bit flip in the file would leave it): a row
    given the seal of a row checked before is still read and checked, never shown as that other row."""
    repo, folder, sids = history(tmp_path, 2)
    victim, other = folder + b"/p005.jpg", folder + b"/p006.jpg"
    of_file = "WHERE file_id = (SELECT id FROM file WHERE path = ?)"
    with fresh(repo) as tk:
        assert {victim, other} <= {e.path for e in tk.list_dir(folder, sids[-1])}
        with index_db(repo) as conn:
            (token,) = conn.execute("SELECT value FROM meta WHERE key = 'sealed_rows'").fetchone()
            (borrowed,) = conn.execute(f"SELECT seal FROM version {of_file}", (other,)).fetchone()
            conn.execute(f"UPDATE version SET seal = ? {of_file}", (borrowed, victim))
            conn.execute("UPDATE meta SET value = ? WHERE key = 'sealed_rows'", (token,))
        with pytest.raises(IndexDamaged, match="p005"):
            tk.list_dir(folder, sids[0])  # another T: the kept listing is not what answers
        shown: list[bytes] = []
        entries = listing.children_at(tk._repo.db, queries.file_id(tk._repo.db, folder) or 0, sids[0],
                                      shown.append, tk._repo.listed)
        assert shown == [victim] and victim not in {e.path for e in entries}
        assert [e.path for e in entries].count(other) == 1


def test_a_checked_entry_stands_for_its_row_only_with_the_seal_it_was_checked_with() -> None:
    kept = listing.Checked()
    entry = Entry(b"/a/b", "file", 1, 0o100644, 2, 3, True, None, "created")
    kept.entries[5] = entry
    kept.seals[5] = b"s" * 16
    assert kept.each([(5, b"s" * 16), (5, b"t" * 16), (5, None), (6, None), (6, b"s" * 16)]) == [entry] + [None] * 4
    more = listing.Checked()
    more.entries[6], more.seals[6] = None, b"d" * 16  # a deletion checked
    kept.add(more)
    assert len(kept) == 2 and kept.each([(6, b"d" * 16)]) == [None] and 6 in kept.entries
    # a listing's own check of row 5 under another seal replaces what was kept, entry and seal together, and
    # is what that listing shows; the entry kept before no longer stands for the row
    again = listing.Checked()
    other = entry._replace(size=99)
    again.entries[5], again.seals[5] = other, b"t" * 16
    assert kept.add_each(again, [(5, b"t" * 16), (6, b"d" * 16)]) == [other, None]
    assert kept.each([(5, b"s" * 16)]) == [None]


def test_the_inline_check_decides_as_version_holds() -> None:
    """Every row of the seal tests, sealed or broken, and each hostile value in each field."""
    def decide(values: tuple[object, ...], sealed: object) -> bool:
        path, snap, prev, state, kind, size, mode, mtime_ns, uid, gid, full, digest, target, x, xhash = values
        found = listing.Checked()
        broken: list[object] = []
        row = (7, path, kind, size, mode, mtime_ns, snap, state, target, prev, uid, gid, full, digest, x, xhash,
               sealed)
        listing.checked([row], 0, broken.append, found)
        assert (found.seals == {7: sealed}) != bool(broken) and len(found.entries) == len(found)
        return found.seals == {7: sealed}

    for values in rows(300):
        good = plain_seal(*values)
        assert decide(values, good) and not decide(values, good[::-1])
    for position in range(15):
        for values, sealed in hostile_rows(position):
            assert decide(values, sealed) == plain_holds(sealed, *values), (position, values[position])


def test_a_folder_restore_still_goes_on_past_a_damaged_row(tmp_path: Path) -> None:
    repo, folder, sids = history(tmp_path, 2)
    with index_db(repo) as conn:
        conn.execute("UPDATE version SET mode = mode + 1 WHERE file_id = (SELECT id FROM file WHERE path = ?)",
                     (folder + b"/p007.jpg",))
    with Timekeep.open(repo) as tk:
        broken: list[bytes] = []
        fid = queries.file_id(tk._repo.db, folder)
        assert fid is not None
        shown = listing.children_at(tk._repo.db, fid, sids[-1], broken.append)
    assert broken == [folder + b"/p007.jpg"] and len(shown) == FILES - 1

