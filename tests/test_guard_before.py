"""The storage time "just before" an incident stores the journaled paths whose last change came before the
burst, and nothing the burst touched: not its paths, and not a file it rewrote beside one of them."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.guard_support import DOCS, Clock, Files, make_docs
from tests.helpers import backup, make_tree, new_repo, read_tree
from timekeep.core.api import Timekeep
from timekeep.core.guard.before import LAG_NS, TRIGGER, store_before
from timekeep.core.guard.detector import Detector
from timekeep.core.guard.thresholds import Thresholds
from timekeep.core.index.journal import JournalEntry


def journal(repo: Path, root: Path, paths: list[Path], at_ns: int) -> None:
    with Timekeep.open(repo, writer=True) as tk:
        tk.journal.record([JournalEntry(os.fsencode(root), os.fsencode(p), 1) for p in paths], at_ns)


def test_what_changed_before_the_burst_is_stored_alone(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"docs": {"a.txt": b"first draft\n", "b.txt": b"notes\n", "c.txt": b"plan\n"},
                    "mail": {"old.txt": b"old mail\n"}})
    repo = new_repo(tmp_path, src)
    backup(repo)
    (src / "mail" / "new.txt").write_bytes(b"written after the backup\n")
    (src / "docs" / "b.txt").write_bytes(b"notes, edited after the backup\n")
    (src / "docs" / "c.txt").write_bytes(b"plan, edited after the backup\n")
    (src / "mail" / "old.txt").unlink()
    started = time.time_ns() + 2 * LAG_NS  # the burst's first event
    journal(repo, src, [src / "mail" / "new.txt", src / "docs", src / "docs" / "b.txt", src / "docs" / "c.txt",
                        src / "mail" / "old.txt"], started - 10**9)
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
    assert got[b"mail/new.txt"] == expected[b"mail/new.txt"]  # changed before, in a folder the burst left alone
    assert got[b"docs/a.txt"][1] == b"first draft\n"  # as the backup had it, not the burst's bytes
    assert got[b"docs/b.txt"][1] == b"notes\n"  # the burst touched it: the snapshot before's content stays
    assert got[b"docs/c.txt"][1] == b"plan\n"  # beside the burst's files: it could have been reached meanwhile
    assert got[b"mail/old.txt"][1] == b"old mail\n"  # gone now: the burst may have renamed it away
    assert waiting == {os.fsencode(p) for p in (src / "docs", *(src / "docs" / n for n in ("a.txt", "b.txt", "c.txt")),
                                                 src / "mail" / "old.txt")}


def test_nothing_journaled_before_the_burst_stores_nothing(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"a\n"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    started = time.time_ns()
    (src / "a.txt").write_bytes(os.urandom(100))
    journal(repo, src, [src / "a.txt"], started + 1)
    assert store_before(repo, started, frozenset()) is None


def test_a_file_the_burst_reaches_after_the_finding_keeps_its_state_before(tmp_path: Path) -> None:
    """The order of events the end-to-end test met on a loaded machine. The last documents had been journaled
    before the burst began (as a scan at the agent's start journals a file its snapshot stored while it was
    being written), the finding came while the burst was still renaming, and the storage time "just before"
    ran before the renames of those documents reached the journal: their rows still said "changed before the
    burst", the burst set frozen at the finding did not name them, and they were stored as deleted."""
    src = tmp_path / "src"
    make_docs(Files(src))
    repo = new_repo(tmp_path, src)
    backup(repo)
    page = src / "Documents" / "written-since.txt"
    page.write_bytes(b"a page written after the last backup\n")
    clock = Clock()
    late = [src / rel for rel in DOCS[-11:]]
    journal(repo, src, [page, *late], time.time_ns())
    expected = read_tree(src)
    clock.now = time.time() + 60  # the burst, well after the page and the rows journaled before it
    detector = Detector(Thresholds(), clock)
    files, finding = Files(src, detector, clock), None
    for rel in DOCS:  # "renamed to .locked", with the agent looking after each file
        files.rewrite(rel, files.random(4000))
        files.move(rel, rel + ".locked")
        finding = finding or detector.look()
    assert finding is not None and not {os.fsencode(p) for p in late} & finding.touched
    journal(repo, src, [Path(os.fsdecode(p)) for p in finding.touched], ns(clock.now))  # what reached the journal
    snap = store_before(repo, ns(finding.started), finding.touched)
    assert snap is not None
    with Timekeep.open(repo) as tk:
        tk.restore(os.fsencode(src), snap.id, dest=os.fsencode(tmp_path / "out"))
    assert read_tree(tmp_path / "out" / "src") == expected  # the page as written, every document as it was


def ns(seconds: float) -> int:
    return int(seconds * 1e9)
