"""The sealed rows' token (schema 8, core/index/generation.py): what moves it and what leaves it, so listings may
keep what they checked exactly while no sealed row has changed; and the upgrade from schema 7 that brings it."""

from __future__ import annotations

import os
from pathlib import Path

from tests.helpers import backup, make_tree, new_repo
from tests.old_schema import downgrade
from tests.treeops import index_db
from timekeep.core.api import Timekeep
from timekeep.core.index import generation
from timekeep.core.index.schema import SCHEMA_VERSION, open_index, schema_version


def token(repo: Path) -> str:
    with index_db(repo) as conn:
        (value,) = conn.execute(generation.READ).fetchone()
    return str(value)


def three_snapshots(tmp_path: Path) -> tuple[Path, Path]:
    src = Path(os.path.realpath(tmp_path)) / "src"
    make_tree(src, {"a.txt": b"one", "b.txt": b"two"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    (src / "a.txt").write_bytes(b"one, edited")
    backup(repo)
    (src / "b.txt").write_bytes(b"two, edited")
    backup(repo)
    return repo, src


def test_backups_leave_the_token_and_a_changed_sealed_value_moves_it(tmp_path: Path) -> None:
    repo, src = three_snapshots(tmp_path)
    before = token(repo)
    (src / "c.txt").write_bytes(b"three")
    backup(repo)
    assert token(repo) == before  # a backup only adds rows
    with index_db(repo) as conn:
        conn.execute("UPDATE version SET racy = 1 - racy")  # not sealed: what the writer updates
        conn.execute("UPDATE file SET head = head")  # nor this
    assert token(repo) == before
    seen = {before}
    for change in ("UPDATE version SET size = size WHERE id = 1", "UPDATE version SET seal = seal WHERE id = 1",
                   "UPDATE version SET file_id = file_id WHERE id = 1", "UPDATE file SET path = path WHERE id = 1",
                   "DELETE FROM extent WHERE version_id = (SELECT max(id) FROM version)",
                   "DELETE FROM version WHERE id = (SELECT max(id) FROM version)"):
        with index_db(repo) as conn:
            conn.execute(change)
        now = token(repo)
        assert (now in seen) == change.startswith("DELETE FROM extent"), change
        seen.add(now)


def test_thinning_moves_the_token(tmp_path: Path) -> None:
    repo, _ = three_snapshots(tmp_path)
    before = token(repo)
    with Timekeep.open(repo, writer=True) as tk:
        ids = [s.id for s in tk.snapshots()]
        tk.coalesce(drop=[ids[1]])
    assert token(repo) != before


def test_an_index_of_schema_7_gets_its_token_and_triggers(tmp_path: Path) -> None:
    repo, _ = three_snapshots(tmp_path)
    downgrade(repo / "index.db", 7)  # the index as the release before schema 8 made it
    db = open_index(repo / "index.db")
    try:
        assert schema_version(db) == SCHEMA_VERSION >= 8
        names = {str(r[0]) for r in db.execute_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        (first,) = db.execute_sql(generation.READ).fetchone()
    finally:
        db.close()
    assert set(generation.TRIGGERS) <= names and len(first) == 16


def test_without_a_token_a_listing_keeps_its_rows_to_its_own_connection(tmp_path: Path) -> None:
    """An index whose token is missing (damaged meta) still lists right, sharing nothing between openings."""
    repo, src = three_snapshots(tmp_path)
    folder = os.fsencode(src)
    with index_db(repo) as conn:
        conn.execute(f"DELETE FROM meta WHERE key = '{generation.KEY}'")
    with Timekeep.open(repo) as tk:
        ids = [s.id for s in tk.snapshots()]
        first = [e.path for e in tk.list_dir(folder, ids[-1])]
        store = tk._repo.listed.of(tk._repo.db.connection())
        assert store.rows.token == "" and len(store.rows.entries) == 2
    with Timekeep.open(repo) as tk:
        store = tk._repo.listed.of(tk._repo.db.connection())
        assert store.rows.entries == {} and [e.path for e in tk.list_dir(folder, ids[-1])] == first
