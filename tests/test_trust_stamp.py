"""The integrity check's stamp (core/index/checked.py) follows this computer's own journal writes, and only
those: a change made by anyone else before them still brings the check back at the next writer."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from tests.helpers import backup, index_file, make_tree, new_repo
from timekeep.core.api import Timekeep
from timekeep.core.index import checked
from timekeep.core.index.journal import JournalEntry
from timekeep.core.storage.layout import Layout, layout_of, load_config


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    src = Path(os.path.realpath(tmp_path)) / "src"
    make_tree(src, {"a.txt": b"alpha\n", "sub": {"c.txt": b"see\n"}})
    repo = new_repo(tmp_path, src)
    backup(repo)
    return repo


def journal_one(repo: Path) -> None:
    """What the agent does when its watcher sees a change: one entry, through a reader."""
    with Timekeep.open(repo) as tk:
        root = tk.folders()[0].path
        tk.journal.record([JournalEntry(root, root + b"/a.txt", 6)], 1)


def layout_and_id(repo: Path) -> tuple[Layout, str]:
    config = load_config(repo)
    return layout_of(repo, config), config.repository_id


def journaled(repo: Path) -> int:
    with sqlite3.connect(index_file(repo)) as conn:
        return int(conn.execute("SELECT count(*) FROM journal").fetchone()[0])


def test_the_agents_journal_write_leaves_the_index_trusted_without_a_check(repo: Path) -> None:
    layout, rid = layout_and_id(repo)
    assert not checked.due(layout, rid)
    journal_one(repo)
    assert journaled(repo) == 1  # the write happened, and changed the file
    assert not checked.due(layout, rid)


def test_a_change_by_someone_else_before_a_journal_write_still_brings_the_check(repo: Path) -> None:
    layout, rid = layout_and_id(repo)
    stamp = layout.index.stat()
    os.utime(layout.index, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1))  # written by another tool
    journal_one(repo)
    assert journaled(repo) == 1
    assert checked.due(layout, rid)


def test_a_journal_write_never_makes_a_check_that_never_ran_look_done(repo: Path) -> None:
    layout, rid = layout_and_id(repo)
    checked.forget(rid)  # as after a rebuild: the next writer checks
    journal_one(repo)
    assert checked.due(layout, rid)


def test_opening_the_index_is_no_change_but_writing_it_is(repo: Path) -> None:
    """A connection makes an empty -wal: that alone must not bring the check back at every writer's open
    (it did, so every backup read the whole index); a page written through it must."""
    layout, rid = layout_and_id(repo)
    conn = sqlite3.connect(index_file(repo))
    try:
        conn.execute("SELECT count(*) FROM snapshot").fetchone()
        assert Path(f"{layout.index}-wal").exists()
        assert not checked.due(layout, rid)
        with conn:
            conn.execute("UPDATE snapshot SET trigger = trigger || ' '")
        assert checked.due(layout, rid)
    finally:
        conn.close()


def test_a_sealed_pack_the_index_does_not_know_is_adopted_from_the_opens_one_look(tmp_path: Path, repo: Path) -> None:
    """The writer's open lists the drive's packs once (the survey) and adopts from that look: a pack a killed
    writer sealed but never indexed is still found."""
    from tests.treeops import pack_file
    from timekeep.core.storage.pack import stored_packs

    other_src = tmp_path / "other"
    make_tree(other_src, {"b.txt": b"another repository's bytes\n"})
    other = new_repo(tmp_path / "elsewhere", other_src)
    backup(other)
    (orphan,) = stored_packs(Layout(other).store)
    target = pack_file(repo, orphan)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(pack_file(other, orphan).read_bytes())
    with sqlite3.connect(index_file(repo)) as conn:
        assert conn.execute("SELECT count(*) FROM pack WHERE name = ?", (orphan,)).fetchone() == (0,)
    Timekeep.open(repo, writer=True).close()
    with sqlite3.connect(index_file(repo)) as conn:
        assert conn.execute("SELECT count(*) FROM pack WHERE name = ?", (orphan,)).fetchone() == (1,)
