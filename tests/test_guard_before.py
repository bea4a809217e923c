"""The storage time "just before" an incident stores the journaled paths whose last change came before the
burst, and nothing the burst touched: not its paths, and not a file it rewrote beside one of them."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.helpers import backup, make_tree, new_repo, read_tree
from timekeep.core.api import Timekeep
from timekeep.core.guard.before import TRIGGER, store_before
from timekeep.core.index.journal import JournalEntry


def journal(repo: Path, root: Path, paths: list[Path], at_ns: int) -> None:
    with Timekeep.open(repo, writer=True) as tk:
        tk.journal.record([JournalEntry(os.fsencode(root), os.fsencode(p), 1) for p in paths], at_ns)


def test_what_changed_before_the_burst_is_stored_alone(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"docs": {"a.txt": b"first draft\n", "b.txt": b"notes\n"}})
    repo = new_repo(tmp_path, src)
    backup(repo)
    (src / "docs" / "new.txt").write_bytes(b"written after the backup\n")
    (src / "docs" / "b.txt").write_bytes(b"notes, edited after the backup\n")
    started = time.time_ns()
    journal(repo, src, [src / "docs" / "new.txt", src / "docs", src / "docs" / "b.txt"], started - 10**9)
    expected = read_tree(src)
    (src / "docs" / "a.txt").write_bytes(os.urandom(4000))  # rewritten by the burst: names the file alone
    (src / "docs" / "b.txt").write_bytes(os.urandom(4000))  # touched by the burst after its edit
    journal(repo, src, [src / "docs" / "a.txt"], started + 10**9)
    snap = store_before(repo, started, frozenset({os.fsencode(src / "docs" / "b.txt")}))
    assert snap is not None and snap.trigger == TRIGGER
    with Timekeep.open(repo) as tk:
        tk.restore(os.fsencode(src), snap.id, dest=os.fsencode(tmp_path / "out"))
        waiting = {p for paths in tk.journal.pending().values() for p in paths}
    got = read_tree(tmp_path / "out" / "src")
    assert got[b"docs/a.txt"] == expected[b"docs/a.txt"]  # as the backup had it, not the burst's bytes
    assert got[b"docs/new.txt"] == expected[b"docs/new.txt"]
    assert got[b"docs/b.txt"][1] == b"notes\n"  # the burst touched it: the snapshot before's content stays
    assert waiting == {os.fsencode(src / "docs" / n) for n in ("a.txt", "b.txt")} | {os.fsencode(src / "docs")}


def test_nothing_journaled_before_the_burst_stores_nothing(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"a\n"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    started = time.time_ns()
    (src / "a.txt").write_bytes(os.urandom(100))
    journal(repo, src, [src / "a.txt"], started + 1)
    assert store_before(repo, started, frozenset()) is None
