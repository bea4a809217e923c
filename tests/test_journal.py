"""The persisted journal: coalescing, watermarks, clearing only what a snapshot saw, and the 1 -> 2 migration."""

from __future__ import annotations

from pathlib import Path

from peewee import SqliteDatabase

from timekeep.core.index import journal
from timekeep.core.index.journal import JournalEntry
from timekeep.core.index.models import MODELS, Journal, Meta
from timekeep.core.index.schema import SCHEMA_VERSION, open_index, schema_version


def entries(*paths: bytes, folder: bytes = b"/r") -> list[JournalEntry]:
    return [JournalEntry(folder, p, 10) for p in paths]


def test_repeated_events_coalesce_into_one_row(tmp_path: Path) -> None:
    db = open_index(tmp_path / "index.db", create=True)
    journal.record(db, entries(b"/r/a", b"/r/b"), 100)
    journal.record(db, entries(b"/r/a"), 200)
    assert journal.pending(db) == {b"/r": {b"/r/a", b"/r/b"}}
    stats = journal.stats(db)
    assert (stats.paths, stats.bytes, stats.oldest_ns) == (2, 20, 100)
    assert journal.changed_under(db, b"/r") == [(b"/r/a", 200), (b"/r/b", 100)]


def test_a_snapshot_clears_only_what_it_saw(tmp_path: Path) -> None:
    db = open_index(tmp_path / "index.db", create=True)
    journal.record(db, entries(b"/r/a", b"/r/b"), 1)
    mark = journal.watermark(db)
    assert journal.pending(db, mark) == {b"/r": {b"/r/a", b"/r/b"}}  # what the snapshot is given
    journal.record(db, entries(b"/r/a", b"/r/c"), 2)  # during the snapshot: /r/a again, /r/c new
    journal.clear(db, mark)
    assert journal.pending(db) == {b"/r": {b"/r/a", b"/r/c"}}


def test_sequence_numbers_keep_rising_after_a_clear(tmp_path: Path) -> None:
    db = open_index(tmp_path / "index.db", create=True)
    first = journal.record(db, entries(b"/r/a"), 1)
    journal.clear(db, journal.watermark(db))
    assert journal.record(db, entries(b"/r/a"), 2) > first
    assert journal.record(db, [], 3) == 0


def test_clearing_one_folder(tmp_path: Path) -> None:
    db = open_index(tmp_path / "index.db", create=True)
    journal.record(db, entries(b"/r/a") + entries(b"/s/b", folder=b"/s"), 1)
    journal.clear(db, journal.watermark(db), folders=[b"/s"])
    assert journal.pending(db) == {b"/r": {b"/r/a"}}


def test_changed_under_is_the_subtree_only(tmp_path: Path) -> None:
    db = open_index(tmp_path / "index.db", create=True)
    journal.record(db, entries(b"/r/d", b"/r/d/x", b"/r/d0", b"/r/d-e", b"/r/e/d/y"), 5)
    assert [p for p, _ in journal.changed_under(db, b"/r/d")] == [b"/r/d", b"/r/d/x"]


def test_folder_of_and_size_on_disk(tmp_path: Path) -> None:
    assert journal.folder_of(b"/r/s/x", [b"/r", b"/r/s"]) == b"/r/s"
    assert journal.folder_of(b"/rx/a", [b"/r"]) is None
    (tmp_path / "f").write_bytes(b"12345")
    assert journal.size_on_disk(bytes(tmp_path / "f")) == 5
    assert journal.size_on_disk(bytes(tmp_path)) == 0
    assert journal.size_on_disk(bytes(tmp_path / "gone")) == 0


def test_an_index_at_schema_1_gains_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    old = SqliteDatabase(str(path))
    older = [m for m in MODELS if m is not Journal]
    with old.bind_ctx(older):
        old.create_tables(older)
        Meta.insert(key="schema_version", value="1").execute()
    for table, column in (("extent", "skip"), ("version", "origin")):  # schema 3's columns
        old.execute_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
    old.close()
    db = open_index(path)
    assert schema_version(db) == SCHEMA_VERSION
    journal.record(db, entries(b"/r/a"), 1)
    assert journal.pending(db) == {b"/r": {b"/r/a"}}
    assert journal.origins(db) == {}
