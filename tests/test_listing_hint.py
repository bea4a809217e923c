"""Each file row names its version at its head (`file.head_version`, schema 13), and a listing joins that row
instead of looking each name's version up (core/index/listing.py). The name is a hint, never the truth: every
writer that moves a head keeps it (backup, thinning, repair, rebuild, upgrade), and a listing whose hints are
missing, stale or damaged in any way, or whose heads are damaged, shows exactly what it shows with them right,
at every snapshot; a hint that does not hold sends its name to the look-up."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import backup, index_file, make_tree, new_repo
from tests.old_schema import downgrade
from tests.test_listing_work import counted, fresh
from tests.treeops import index_db
from timekeep.core.api import Timekeep, rebuild_index
from timekeep.core.errors import CorruptData, IndexDamaged
from timekeep.core.index import listing
from timekeep.core.index.writer import SnapshotWriter
from timekeep.core.types import Entry

FILES = 12
# file rows whose hint is not the id of their version at their head (a head of 0: no version yet, no hint)
WRONG_HINTS = ("SELECT f.path FROM file f WHERE f.head != 0 AND f.head_version IS NOT "
               "(SELECT v.id FROM version v WHERE v.file_id = f.id AND v.snapshot_id = f.head)")


def history(tmp_path: Path) -> tuple[Path, Path, list[int]]:
    """A folder whose files change, die and come back over five snapshots."""
    src = Path(os.path.realpath(tmp_path)) / "src"
    make_tree(src, {"docs": {f"d{n:02d}.txt": b"first %d" % n for n in range(FILES)}})
    repo = new_repo(tmp_path, src)
    sids = [backup(repo)]
    for s in range(1, 5):
        docs = src / "docs"
        (docs / f"d{s:02d}.txt").write_bytes(b"edit %d" % s)
        (docs / f"d{s + 5:02d}.txt").unlink(missing_ok=True)
        if s == 3:
            (docs / "d06.txt").write_bytes(b"back again")
        (docs / f"new{s}.txt").write_bytes(b"born %d" % s)
        sids.append(backup(repo))
    return repo, src / "docs", sids


def listings(repo: Path, folder: Path, sids: list[int]) -> dict[int, list[Entry]]:
    """The folder at every snapshot, each the first listing of a fresh opening (nothing remembered)."""
    found = {}
    for sid in sids:
        with fresh(repo) as tk:
            found[sid] = tk.list_dir(os.fsencode(folder), sid)
    return found


def wrong_hints(repo: Path) -> list[bytes]:
    with index_db(repo) as conn:
        return [bytes(path) for (path,) in conn.execute(WRONG_HINTS)]


def test_every_writer_keeps_each_file_rows_hint(tmp_path: Path) -> None:
    repo, _, sids = history(tmp_path)
    assert wrong_hints(repo) == []
    with index_db(repo) as conn:
        assert conn.execute("SELECT count(*) FROM file WHERE head_version IS NOT NULL").fetchone()[0] > FILES
    with Timekeep.open(repo, writer=True) as tk:
        tk.coalesce(drop=[sids[1], sids[3]])  # versions moved and merged: heads set again
    assert wrong_hints(repo) == []
    index_file(repo).unlink()
    rebuild_index(repo)
    assert wrong_hints(repo) == []


def test_a_backup_whose_version_ids_are_not_the_ones_foreseen_still_leaves_every_hint_right(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SnapshotWriter, "_largest_version", lambda self: 1000)  # a new row's id guessed wrong
    repo, _, _ = history(tmp_path)
    assert wrong_hints(repo) == []


def test_an_index_upgraded_from_schema_12_gets_every_hint(tmp_path: Path) -> None:
    repo, folder, sids = history(tmp_path)
    before = listings(repo, folder, sids)
    downgrade(index_file(repo), 12)
    with index_db(repo) as conn:
        assert "head_version" not in {row[1] for row in conn.execute("PRAGMA table_info(file)")}
    assert listings(repo, folder, sids) == before  # a reader reads an upgraded copy, hints and all
    with Timekeep.open(repo, writer=True):  # a writer upgrades the index itself
        pass
    assert wrong_hints(repo) == []
    assert listings(repo, folder, sids) == before


@pytest.mark.parametrize("damage", [
    "UPDATE file SET head_version = NULL",  # missing: an index from before, or a writer that made none
    "UPDATE file SET head_version = head_version + 1 WHERE head_version IS NOT NULL",  # another file's version
    "UPDATE file SET head_version = (SELECT min(v.id) FROM version v WHERE v.file_id = file.id)",  # its first
    "UPDATE file SET head_version = 1000000 + id",  # no version at all
    "UPDATE file SET head_version = -head_version",  # what reads as the look-up's mark
    "UPDATE file SET head_version = 'x'",  # not even a number
])
def test_a_listing_shows_the_same_whatever_the_hints_say(tmp_path: Path, damage: str) -> None:
    repo, folder, sids = history(tmp_path)
    right = listings(repo, folder, sids)
    assert {e.path for e in right[sids[0]]} != {e.path for e in right[sids[-1]]}  # a history worth listing
    with index_db(repo) as conn:
        conn.execute(damage)
    assert listings(repo, folder, sids) == right


# a live name's head, not its hint, damaged: one snapshot back, or on (a dead name's head decides whether a
# listing reads it at all, hints or not: core/index/live.py); a name's newest version moved to another file
# without the triggers a writer's move fires (as a flipped bit in the page would move it)
HEAD_DAMAGE = {
    "back": "UPDATE file SET head = head - 1 WHERE path = :victim",
    "on": "UPDATE file SET head = head + 1 WHERE path = :victim",
    "moved": "UPDATE version SET file_id = (SELECT id FROM file WHERE path = :other) WHERE id = "
             "(SELECT head_version FROM file WHERE path = :victim)",
}


@pytest.mark.parametrize("damage", sorted(HEAD_DAMAGE))
def test_a_name_whose_head_and_versions_disagree_is_refused_never_shown_as_another_version(
        tmp_path: Path, damage: str) -> None:
    repo, folder, sids = history(tmp_path)
    right = listings(repo, folder, sids)
    victim = os.fsencode(folder / "d04.txt")  # rewritten at the last snapshot: its head
    with index_db(repo) as conn:
        conn.execute("DROP TRIGGER file_live_version_changed")  # a flipped bit fires none
        other = os.fsencode(folder / "d00.txt")  # never changed: its head is the first snapshot
        assert conn.execute(HEAD_DAMAGE[damage], {"victim": victim, "other": other}).rowcount == 1
    with index_db(repo) as conn:
        (head,) = conn.execute("SELECT head FROM file WHERE path = ?", (victim,)).fetchone()
    for sid in sids:
        with fresh(repo) as tk:
            if sid >= head:
                with pytest.raises(IndexDamaged, match="d04"):
                    tk.list_dir(os.fsencode(folder), sid)
            else:  # before its damaged head, the name is looked up as ever, and shown as it was
                assert tk.list_dir(os.fsencode(folder), sid) == right[sid]


def test_a_head_moved_with_its_hint_is_refused_where_bytes_are_handed_back(tmp_path: Path) -> None:
    """Two values changed to agree (what a forger does, not a flipped bit: seals are checksums against damage,
    FORMAT.md "Seals"): a listing may then show the version the pair names, and a restore refuses the file,
    whose seal covers its head."""
    repo, folder, sids = history(tmp_path)
    edited = os.fsencode(folder / "d04.txt")  # rewritten at the last snapshot
    with index_db(repo) as conn:
        conn.execute("UPDATE file SET head = head - 1, head_version = (SELECT v.id FROM version v WHERE v.file_id = "
                     "file.id AND v.snapshot_id < file.head ORDER BY v.snapshot_id DESC LIMIT 1) WHERE path = ?",
                     (edited,))
    out = tmp_path / "out"
    out.mkdir()
    with Timekeep.open(repo) as tk, pytest.raises(CorruptData, match="d04"):
        tk.restore(edited, sids[-1], os.fsencode(out))
    assert not (out / "d04.txt").exists()


def test_a_name_whose_hint_fails_is_looked_up_in_a_batch(tmp_path: Path) -> None:
    repo, folder, sids = history(tmp_path)
    with index_db(repo) as conn:
        missing = conn.execute("UPDATE file SET head_version = NULL WHERE parent_id = "
                               "(SELECT id FROM file WHERE path = ?)", (os.fsencode(folder),)).rowcount
    assert missing > FILES
    with fresh(repo) as tk, counted(tk._repo.db) as (statements, _):
        entries = tk.list_dir(os.fsencode(folder), sids[-1])
    by_file = [s for s in statements if s.startswith(listing._SHOWN_BY_FILE.split(" FROM ")[0])]
    assert len(by_file) == 1 and len(entries) > FILES // 2
