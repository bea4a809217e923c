"""An index brought up from an older schema by the stored migrations ends with exactly what a new index has:
every table's columns, every index and every trigger, each defined the same. The triggers matter most (they keep
`file.live`, the live sets and the sealed rows' token: core/index/live.py, generation.py): a migration that
forgot one, or a table rebuilt by playhouse (which drops a table's triggers with it), would leave an index that
answers, yet goes stale with every write."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from pathlib import Path

import pytest

from tests.helpers import backup, index_file, make_tree, new_repo
from tests.old_schema import UNDO, downgrade
from timekeep.core.api import Timekeep
from timekeep.core.index.schema import SCHEMA_VERSION, open_index

OLDEST = min(UNDO) - 1  # the oldest schema tests/old_schema.py can make


def shape(index: Path) -> dict[str, object]:
    """What the index is made of, with the text of each definition in one spacing (SQLite keeps it as written)."""
    with contextlib.closing(sqlite3.connect(index)) as conn:
        objects = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') "
                               "AND name NOT LIKE 'sqlite_autoindex%'").fetchall()
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        columns = {t: sorted((c[1], c[2].upper(), c[3], c[4], c[5]) for c in conn.execute(f"PRAGMA table_info('{t}')"))
                   for t in tables}
        unique = {t: sorted(tuple(r[1:4]) for r in conn.execute(f"PRAGMA index_list('{t}')")) for t in tables}
    definitions = {(kind, name, table): re.sub(r"\s+", " ", sql or "").replace("( ", "(").replace(" )", ")")
                   for kind, name, table, sql in objects}
    return {"definitions": definitions, "columns": columns, "index_lists": unique}


@pytest.mark.parametrize("start", range(OLDEST, SCHEMA_VERSION))
def test_an_upgraded_index_is_made_of_what_a_new_one_is(tmp_path: Path, start: int) -> None:
    make_tree(tmp_path / "src", {"a.txt": b"a", "sub": {"b.txt": b"b"}})
    repo = new_repo(tmp_path, tmp_path / "src")
    backup(repo)
    index = index_file(repo)
    new = shape(index)
    downgrade(index, start)
    assert shape(index) != new  # the older schema really is older
    db = open_index(index)  # a writer's open: every migration from `start` on
    db.close()
    upgraded = shape(index)
    assert upgraded["columns"] == new["columns"]
    assert upgraded["index_lists"] == new["index_lists"]
    assert upgraded["definitions"] == new["definitions"]
    with Timekeep.open(repo, writer=True) as tk:  # and it holds up in use: a check finds nothing wrong
        assert tk.check().ok
