"""The name index `find` searches is a cache inside the cache: kept by every writer, made by the schema 5
migration and by rebuild-index, and when missing, failing or short of rows never fatal: a reader searches the
file rows instead, a writer builds it again. Its answers are always the file rows' own."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from tests.helpers import new_repo
from tests.treeops import index_db
from timekeep.core.api import Timekeep, rebuild_index
from timekeep.core.index import names
from timekeep.core.index.schema import SCHEMA_VERSION, open_index, schema_version

NAMES = [f"file {i:03d}.txt" for i in range(40)] + ["Quarterly Report.pdf", "report-draft.odt", "ab.c"]


def backed_up(tmp_path: Path) -> Path:
    """A repository with one snapshot of a folder holding NAMES."""
    src = Path(os.path.realpath(tmp_path)) / "src"
    (src / "deep").mkdir(parents=True)
    for name in NAMES:
        (src / "deep" / name).write_bytes(name.encode())
    made = new_repo(tmp_path, src)
    with Timekeep.open(made, writer=True) as tk:
        tk.backup()
    return made


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return backed_up(tmp_path)


def found(repo: Path, pattern: str, writer: bool = False) -> set[str]:
    with Timekeep.open(repo, writer=writer) as tk:
        return {os.fsdecode(os.path.basename(f.path)) for f in tk.find(pattern)}


def covered(repo: Path) -> tuple[int, int, int]:
    """(rows in the name table, the watermark, the highest file id)."""
    with index_db(repo) as conn:
        rows = conn.execute(f"SELECT count(*) FROM {names.TABLE}").fetchone()[0]
        upto = conn.execute("SELECT value FROM meta WHERE key = ?", (names.UPTO,)).fetchone()[0]
        top = conn.execute("SELECT max(id) FROM file").fetchone()[0]
    return int(rows), int(upto), int(top)


def whole(repo: Path) -> bool:
    rows, upto, top = covered(repo)
    with index_db(repo) as conn:
        files = conn.execute("SELECT count(*) FROM file").fetchone()[0]
    return rows == files and upto == top


WANTED = {"report": {"Quarterly Report.pdf", "report-draft.odt"}, "*.PDF": {"Quarterly Report.pdf"},
          "ab": {"ab.c"}, "file 01?.txt": {f"file 01{i}.txt" for i in range(10)}}


def assert_answers(repo: Path, writer: bool = False) -> None:
    for pattern, names_wanted in WANTED.items():
        assert found(repo, pattern, writer) == names_wanted, pattern


def test_every_writer_leaves_it_covering_the_files_it_added(repo: Path, plain_and_encrypted: str) -> None:
    assert whole(repo)
    with Timekeep.open(repo, writer=True) as tk:
        src = Path(os.fsdecode(tk.folders()[0].path))
        (src / "later report.txt").write_bytes(b"later")
        tk.backup()
    assert whole(repo) and "later report.txt" in found(repo, "REPORT")


def test_files_added_past_the_watermark_are_found_before_anyone_indexes_them(repo: Path) -> None:
    with index_db(repo) as conn:
        conn.execute(f"DELETE FROM {names.TABLE} WHERE rowid > 20")
        conn.execute("UPDATE meta SET value = '20' WHERE key = ?", (names.UPTO,))
        conn.execute("UPDATE meta SET value = (SELECT count(*) FROM file WHERE id <= 20) WHERE key = ?",
                     (names.COUNT,))
    assert_answers(repo)
    assert covered(repo)[1] == 20  # a reader wrote nothing
    with Timekeep.open(repo, writer=True):
        pass
    assert whole(repo)


@pytest.mark.parametrize("damage", [
    f"DROP TABLE {names.TABLE}",  # missing
    f"DELETE FROM {names.TABLE} WHERE rowid % 3 = 0",  # stale: rows lost under the watermark
    f"UPDATE {names.TABLE}_data SET block = zeroblob(length(block)) WHERE id > 1",  # damaged: FTS5 fails
    f"DELETE FROM meta WHERE key = '{names.COUNT}'",  # its record gone
])
def test_a_missing_damaged_or_stale_table_answers_right_and_is_built_again(repo: Path, damage: str,
                                                                          both_index_modes: str) -> None:
    with index_db(repo) as conn:
        conn.execute(damage)
    assert_answers(repo)  # a reader: the file rows, searched directly
    assert_answers(repo, writer=True)  # a writer builds it again, and answers from it
    assert whole(repo)
    with index_db(repo) as conn:
        conn.execute(f"INSERT INTO {names.TABLE}({names.TABLE}) VALUES ('integrity-check')")


def test_its_answers_are_the_file_rows_own(repo: Path) -> None:
    """A name changed in the table finds nothing new: each candidate is matched again on its file row."""
    with index_db(repo) as conn:
        conn.execute(f"UPDATE {names.TABLE} SET name = 'report' WHERE rowid IN (SELECT rowid FROM {names.TABLE} "
                     "WHERE name LIKE 'file 00%')")
    assert found(repo, "report") == WANTED["report"]


def test_rebuild_index_makes_it_whole(repo: Path, plain_and_encrypted: str) -> None:
    with index_db(repo) as conn:
        conn.execute(f"DROP TABLE {names.TABLE}")
    rebuild_index(repo)
    assert whole(repo)
    assert_answers(repo)


def test_schema_4_gains_it_on_opening(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    open_index(path, create=True).close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("INSERT INTO folder (path, excludes, active) VALUES (x'2f61', '[]', 1)")
        for i, name in enumerate((b"/a", b"/a/Report.txt", b"/a/other")):
            conn.execute("INSERT INTO file (folder_id, parent_id, path) VALUES (1, ?, ?)", (i or None, name))
        conn.execute(f"DROP TABLE {names.TABLE}")
        conn.execute("DELETE FROM meta WHERE key LIKE 'names_%'")
        conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    conn.close()
    db = open_index(path)
    try:
        assert schema_version(db) == SCHEMA_VERSION == 7
        assert [bytes(p) for _, p in names.candidates(db, "%report%", True, writable=False)] == [b"/a/Report.txt"]
        assert names._mark(db) == (3, 3)
    finally:
        db.close()


def test_the_index_catches_up_a_batch_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows are read and indexed a few at a time (memory stays flat at a million new files); every batch
    edge still indexes each name once, and the watermark ends at the last row."""
    monkeypatch.setattr(names, "INDEX_BATCH", 7)
    made = backed_up(tmp_path)
    assert whole(made)
    rows, upto, top = covered(made)
    assert rows > 3 * names.INDEX_BATCH and upto == top
    assert_answers(made)
