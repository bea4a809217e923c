"""A folder's dead names cost nothing: a scan compares the disk with the names alive now, and a listing at T
reads those plus the names changed after T, however many names the folder held before. The `live` flag that
picks them follows every write, thinning, a rebuild from the drive and an upgrade, and `check` finds a wrong one.

Work is counted in SQLite virtual-machine steps (a progress handler), never in time: reading a row costs
steps, so a query that read the dead names would cost many times those that read only the live ones."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from peewee import SqliteDatabase

from tests.helpers import backup, make_tree, new_repo
from tests.old_schema import downgrade
from tests.treeops import index_db
from timekeep.core.api import Timekeep, rebuild_index
from timekeep.core.errors import IndexDamaged
from timekeep.core.index import gone, live, queries
from timekeep.core.index.schema import SCHEMA_VERSION, open_index, schema_version

LIVE, DEAD = 20, 400
STEP = 50  # VM instructions between two calls of the handler


@contextmanager
def counted(db: SqliteDatabase) -> Iterator[list[int]]:
    """The VM steps (in units of STEP) this thread's connection runs inside the block."""
    calls = [0]

    def tick() -> int:
        calls[0] += 1
        return 0

    conn = db.connection()
    conn.set_progress_handler(tick, STEP)
    try:
        yield calls
    finally:
        conn.set_progress_handler(None, STEP)


def steps(db: SqliteDatabase, work: Callable[[], object]) -> int:
    with counted(db) as calls:
        work()
    return calls[0]


def churned(tmp_path: Path) -> tuple[Path, Path, list[int]]:
    """`many/` held LIVE + DEAD names and lost DEAD of them; `few/` has always held just LIVE names."""
    src = Path(os.path.realpath(tmp_path)) / "src"
    make_tree(src, {"many": {**{f"keep{n:03d}": b"k%d" % n for n in range(LIVE)},
                             **{f"gone{n:03d}": b"g%d" % n for n in range(DEAD)}},
                    "few": {f"keep{n:03d}": b"k%d" % n for n in range(LIVE)}})
    repo = new_repo(tmp_path, src)
    first = backup(repo)
    for n in range(DEAD):
        (src / "many" / f"gone{n:03d}").unlink()
    second = backup(repo)
    return repo, src, [first, second]


def fid(tk: Timekeep, path: Path) -> int:
    found = queries.file_id(tk._repo.db, os.fsencode(path))
    assert found is not None
    return found


def flags(repo: Path) -> dict[bytes, int]:
    with index_db(repo) as conn:
        return {bytes(p): int(f) for p, f in conn.execute("SELECT path, live FROM file")}


def derived(repo: Path) -> dict[bytes, int]:
    """What each flag must be, from the version rows alone."""
    with index_db(repo) as conn:
        return {bytes(p): int(f) for p, f in conn.execute(f"SELECT path, {live.FLAG} FROM file")}


def test_a_scan_compares_only_the_live_names(tmp_path: Path) -> None:
    repo, src, _ = churned(tmp_path)
    with Timekeep.open(repo) as tk:
        db = tk._repo.db
        many, few = fid(tk, src / "many"), fid(tk, src / "few")
        assert sorted(queries.latest_children(db, many)) == [os.fsencode(src / "many" / f"keep{n:03d}")
                                                            for n in range(LIVE)]
        dead_folder, clean_folder = steps(db, lambda: queries.latest_children(db, many)), \
            steps(db, lambda: queries.latest_children(db, few))
        plan = " ".join(str(r) for r in db.execute_sql(
            "EXPLAIN QUERY PLAN SELECT path FROM file WHERE parent_id = 1 AND live = 1"))
    # reading the 400 dead names and their deletions would cost about twenty times the live ones
    assert dead_folder <= clean_folder * 1.5 + 2, (dead_folder, clean_folder)
    assert live.INDEX in plan and "live=?" in plan


def test_a_listing_at_the_newest_time_reads_only_the_live_names(tmp_path: Path) -> None:
    repo, src, (first, second) = churned(tmp_path)
    with Timekeep.open(repo) as tk:
        db = tk._repo.db
        many, few = fid(tk, src / "many"), fid(tk, src / "few")
        dead_folder = steps(db, lambda: queries.children_at(db, many, second))
        clean_folder = steps(db, lambda: queries.children_at(db, few, second))
        assert len(tk.list_dir(os.fsencode(src / "many"), second)) == LIVE
        assert len(tk.list_dir(os.fsencode(src / "many"), first)) == LIVE + DEAD
    assert dead_folder <= clean_folder * 1.5 + 2, (dead_folder, clean_folder)


ORACLE = (f"SELECT {queries.ENTRY_COLUMNS} FROM file f JOIN version v ON v.id = {queries.LATEST_AT} "
          "WHERE f.parent_id = ? ORDER BY f.path")  # every name the folder ever held: the listing before `live`


def listings(tk: Timekeep) -> dict[tuple[int, int], list[tuple[bytes, int, str]]]:
    """Every folder at every snapshot, as the listing gives it, each checked against the full read."""
    db = tk._repo.db
    folders = [int(r[0]) for r in db.execute_sql("SELECT DISTINCT parent_id FROM file WHERE parent_id IS NOT NULL")]
    found = {}
    for snap in tk.snapshots():
        for folder in folders:
            got = queries.children_at(db, folder, snap.id)
            want = queries._entries(db.execute_sql(ORACLE, (snap.id, folder)).fetchall(), snap.id)
            assert got == want
            found[folder, snap.id] = [(e.path, e.snapshot_id, e.state) for e in got]
    return found


def test_the_flag_follows_names_that_come_back_thinning_and_a_rebuild(tmp_path: Path) -> None:
    repo, src, (first, second) = churned(tmp_path)
    (src / "many" / "gone007").write_bytes(b"back again")  # a dead name comes back
    (src / "many" / "keep003").unlink()
    (src / "few").rename(src / "moved")  # a whole folder dies, another is born
    third = backup(repo)
    (src / "many" / "keep004").write_bytes(b"changed")
    fourth = backup(repo)
    assert flags(repo) == derived(repo)
    came_back = os.fsencode(src / "many" / "gone007")
    with Timekeep.open(repo) as tk:
        assert [v.state for v in tk.versions(came_back)] == ["created", "deleted", "created"]
        before = listings(tk)
    with Timekeep.open(repo, writer=True) as tk:
        tk.coalesce(drop=[second, third])
        assert flags(repo) == derived(repo)
        thinned = listings(tk)
        assert tk.check().ok
    many = fid_of(repo, src / "many")  # what the dropped snapshots stored folded into the kept one
    assert [p for p, _, _ in thinned[many, fourth]] == [p for p, _, _ in before[many, fourth]]
    kept = flags(repo)
    rebuild_index(repo)
    assert flags(repo) == kept
    with Timekeep.open(repo) as tk:
        assert listings(tk) == thinned
        assert first in {s.id for s in tk.snapshots()}
        assert live.unheld_sets(tk._repo.db) == []  # every folder's live set followed, through all of it


@pytest.mark.parametrize("name", ["keep005", "gone003"])
def test_a_flag_flipped_either_way_is_caught_wherever_the_folder_is_read(tmp_path: Path, name: str) -> None:
    """Hidden (a live name flagged dead) or shown (a dead one flagged live): the listing, the scan, the list of
    gone names and `check` refuse the folder, naming it; a backup rebuilds the index and puts the flag right."""
    repo, src, (_, second) = churned(tmp_path)
    want = flags(repo)
    many = os.fsencode(src / "many")
    with index_db(repo) as conn:  # as damage would: neither the triggers nor the writer saw it
        conn.execute("UPDATE file SET live = 1 - live WHERE path = ?", (os.fsencode(src / "many" / name),))
    with Timekeep.open(repo) as tk:
        db, folder = tk._repo.db, fid(tk, src / "many")
        for read in (lambda: tk.list_dir(many, second), lambda: queries.latest_children(db, folder),
                     lambda: gone.gone_children(db, folder)):
            with pytest.raises(IndexDamaged, match=r"damaged at .*/many: "):
                read()
        assert len(tk.list_dir(os.fsencode(src / "few"), second)) == LIVE  # its neighbour is still read
        problems = tk.check().problems
    assert any(name in p and "whether it exists now" in p for p in problems), problems
    assert any(p.startswith(f"the index is damaged at {src / 'many'}:") for p in problems), problems
    backup(repo)  # the scan refuses the folder: the backup rebuilds the index from the drive, then runs
    assert flags(repo) == want
    with Timekeep.open(repo) as tk:
        assert len(tk.list_dir(many, second)) == LIVE and tk.check().ok


def fid_of(repo: Path, path: Path) -> int:
    with index_db(repo) as conn:
        return int(conn.execute("SELECT id FROM file WHERE path = ?", (os.fsencode(path),)).fetchone()[0])


def test_check_finds_a_wrong_flag(tmp_path: Path) -> None:
    repo, src, _ = churned(tmp_path)
    with index_db(repo) as conn:
        conn.execute("UPDATE file SET live = 1 - live WHERE path = ?", (os.fsencode(src / "many" / "gone003"),))
    with Timekeep.open(repo) as tk:
        report = tk.check()
    assert not report.ok
    assert any("gone003" in p and "whether it exists now" in p for p in report.problems)


def test_an_index_of_schema_5_gets_its_flags_and_sets(tmp_path: Path) -> None:
    repo, _, _ = churned(tmp_path)
    want = flags(repo)
    assert sum(want.values()) == 2 * LIVE + 3  # the files alive, `src`, `many` and `few`
    downgrade(repo / "index.db", 5)  # the index as the release before schema 6 made it
    db = open_index(repo / "index.db")
    try:
        assert schema_version(db) == SCHEMA_VERSION >= 7
        names = {str(r[0]) for r in db.execute_sql(
            "SELECT name FROM sqlite_master WHERE tbl_name IN ('file', 'version')")}
        kept = db.execute_sql("SELECT sum(n) FROM live_set").fetchone()[0]
        assert live.unheld_sets(db) == []
    finally:
        db.close()
    assert flags(repo) == want and "file_parent_id" not in names and {live.INDEX, live.DEAD_INDEX} <= names
    assert set(live.TRIGGERS) <= names
    assert kept == sum(want.values())
