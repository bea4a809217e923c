"""A backup from the watcher's journal costs what it changes, not what the repository holds: none of the
statements it runs reads a whole table of files, versions, extents or chunks (each would grow with every
file ever stored), and the look for files to store again after a lost pack reads nothing while no pack is
lost, and finds the files that need one when one is."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from tests.helpers import backup, make_tree, new_repo
from tests.treeops import index_db
from timekeep.core.api import Timekeep
from timekeep.core.index.losses import to_store_again

# tables that grow with what a repository stores are never read whole; these grow with snapshots, packs or
# what is pending, or are the name index's own counts (core/index/names.py: milliseconds at a million names)
SMALL = ("snapshot", "pack", "folder", "journal", "meta", "loss", "main.sqlite_master", "sqlite_master",
         "name_search", "main.name_search", "CONSTANT", "(")


def statements_of_a_journal_backup(repo: Path, src: Path, changed: list[Path]) -> set[str]:
    seen: set[str] = set()
    with Timekeep.open(repo, writer=True) as tk:
        conn = tk._repo.db.connection()
        conn.set_trace_callback(seen.add)
        try:
            tk.backup("schedule", make_room=False, dirty={os.fsencode(src): {os.fsencode(p) for p in changed}})
        finally:
            conn.set_trace_callback(None)
    return seen


def whole_table_reads(repo: Path, statements: set[str]) -> list[tuple[str, str]]:
    """(the plan's step, the statement) for each step that reads a table, or an index, of what grows with the
    repository from end to end. A statement that stops at its first row (`LIMIT 1`, e.g. whether the index
    knows any chunk at all) reads one row, whatever the table holds."""
    found = []
    with index_db(repo) as conn:
        for sql in statements:
            if not sql.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "INSERT", "WITH")):
                continue
            if sql.rstrip().upper().endswith("LIMIT 1"):
                continue
            try:
                plan = [str(row[-1]) for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]
            except sqlite3.Error:  # a statement of a table since dropped, or of a temporary one
                continue
            found.extend((step, sql) for step in plan
                         if step.startswith("SCAN ") and not step[5:].startswith(SMALL))
    return found


def test_a_journal_backup_reads_no_whole_table(tmp_path: Path) -> None:
    src = Path(os.path.realpath(tmp_path)) / "src"
    make_tree(src, {"docs": {f"n{n:03d}.txt": b"note %d\n" % n for n in range(200)},
                    "photos": {f"p{n:03d}.jpg": os.urandom(3000) for n in range(50)}})
    repo = new_repo(tmp_path, src)
    backup(repo)
    (src / "docs" / "n007.txt").write_bytes(b"edited\n")
    (src / "docs" / "n008.txt").unlink()
    (src / "photos" / "new.jpg").write_bytes(os.urandom(4000))
    changed = [src / "docs" / "n007.txt", src / "docs" / "n008.txt", src / "photos" / "new.jpg"]
    statements = statements_of_a_journal_backup(repo, src, changed)
    assert any("INSERT INTO version" in s for s in statements)  # the trace saw the backup's own work
    assert whole_table_reads(repo, statements) == []


def test_files_to_store_again_are_found_by_their_packs(tmp_path: Path) -> None:
    src = Path(os.path.realpath(tmp_path)) / "src"
    make_tree(src, {"a.bin": os.urandom(5000), "b.bin": os.urandom(5000)})
    repo = new_repo(tmp_path, src)
    backup(repo)
    with Timekeep.open(repo) as tk:
        db = tk._repo.db
        assert to_store_again(db) == set()
        plans = [" ".join(str(r[-1]) for r in db.execute_sql("EXPLAIN QUERY PLAN SELECT DISTINCT f.path FROM chunk c "
                 "JOIN extent e ON e.chunk_id = c.id JOIN version v ON v.id = e.version_id JOIN file f "
                 "ON f.id = v.file_id WHERE c.pack_id IN (1)"))]
    assert "SCAN" not in plans[0]
    with index_db(repo) as conn:
        conn.execute("UPDATE pack SET state = 'missing'")
    with Timekeep.open(repo) as tk:
        assert to_store_again(tk._repo.db) == {os.fsencode(src / "a.bin"), os.fsencode(src / "b.bin")}
