"""The away store and the move onto the drive, through the engine on real folders: a snapshot copied from
another repository keeps its time and restores byte-exact; a move killed with SIGKILL and run again leaves
every away snapshot on the drive once; the cap thins the oldest; a damaged store costs only what needed the
damage, and says so."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.agent_support import wait_for
from tests.helpers import backup, child_env, make_tree, new_repo, read_tree
from tests.treeops import restore_into
from timekeep.core.api import Timekeep, is_encrypted, repository_id
from timekeep.core.away import keeping, moving, store
from timekeep.core.capture.excludes import Excludes
from timekeep.core.crypto.sealing import unlocked
from timekeep.core.index.journal import JournalEntry


@pytest.fixture(autouse=True)
def no_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    import timekeep.core.capture.read as read

    monkeypatch.setattr(read, "RACY_NS", 1)


def away_store_of(repo: Path, src: Path) -> Path:
    rid = repository_id(repo)
    path = store.path_for(rid)
    store.create(path, rid, unlocked(rid))
    with Timekeep.open(path, writer=True) as tk:
        keeping.sync_folders(tk, {os.fsencode(src): Excludes([])})
    return path


def change(away: Path, src: Path, files: dict[str, bytes], cap: int = 1 << 30) -> int:
    """Write `files` under `src`, journal them in the store, and take an away storage time; its snapshot id."""
    entries = []
    for name, data in files.items():
        (src / name).write_bytes(data)
        entries.append(JournalEntry(os.fsencode(src), os.fsencode(src / name), len(data), None))
    keeping.record(away, entries, time.time_ns())
    outcome = keeping.storage_time(away, cap)
    assert outcome.snapshot is not None, outcome
    return outcome.snapshot.id


def states_while_away(tmp_path: Path, src: Path, away: Path, count: int) -> list[dict[bytes, tuple[str, bytes, int]]]:
    states = []
    for i in range(count):
        change(away, src, {"notes.txt": f"version {i}\n".encode() * (i + 1), f"new{i}.bin": os.urandom(70_000)})
        states.append(read_tree(src))
    return states


def drive_states(repo: Path, src: Path, scratch: Path) -> list[tuple[int, str, dict[bytes, tuple[str, bytes, int]]]]:
    with Timekeep.open(repo) as tk:
        return [(s.time_ns, s.trigger, restore_into(tk, os.fsencode(src), s.id, scratch / str(s.id))[0])
                for s in tk.snapshots()]


def test_away_snapshots_move_onto_the_drive_with_their_times(tmp_path: Path, plain_and_encrypted: str) -> None:
    src = tmp_path / "src"
    make_tree(src, {"notes.txt": b"before", "keep.txt": b"untouched"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    away = away_store_of(repo, src)
    assert is_encrypted(away) == (plain_and_encrypted == "encrypted")  # with the drive's own key
    states = states_while_away(tmp_path, src, away, 3)
    with Timekeep.open(away) as tk:
        times = [s.time_ns for s in tk.snapshots()]
        assert len(tk.versions(os.fsencode(src / "notes.txt"))) == 3
    moved = moving.move(away, repo)
    assert moved.removed and not away.exists() and not moved.errors
    found = drive_states(repo, src, tmp_path / "restored")
    assert [t for t, trigger, _ in found if trigger == "away"] == times
    assert [tree for _, trigger, tree in found if trigger == "away"] == states
    assert moving.move(away, repo).snapshots == []  # nothing left to move, nothing twice


def test_a_copy_made_twice_is_made_once(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"a"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    away = away_store_of(repo, src)
    sid = change(away, src, {"a.txt": b"changed"})
    with Timekeep.open(away) as source, Timekeep.open(repo, writer=True) as dest:
        first = dest.store_copy(source, sid)
        again = dest.store_copy(source, sid)
        assert again == first and len(dest.snapshots()) == 2


def test_the_cap_thins_the_oldest_away_snapshots(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"big.bin": b"0"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    away = away_store_of(repo, src)
    cap = store.size_on_disk(away) + 2_600_000
    for _ in range(5):
        change(away, src, {"big.bin": os.urandom(1_000_000)}, cap)
        assert store.size_on_disk(away) <= cap
    last = read_tree(src)
    with Timekeep.open(away) as tk:
        kept = tk.snapshots()
    assert 1 < len(kept) < 5
    moving.move(away, repo)
    assert drive_states(repo, src, tmp_path / "r")[-1][2] == last


def test_a_change_bigger_than_the_room_is_refused_cleanly(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"big.bin": b"0"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    away = away_store_of(repo, src)
    (src / "big.bin").write_bytes(os.urandom(300_000))
    keeping.record(away, [JournalEntry(os.fsencode(src), os.fsencode(src / "big.bin"), 300_000, None)], 1)
    with pytest.raises(store.NoRoomHere, match="cap"):
        keeping.storage_time(away, 100_000)
    with Timekeep.open(away) as tk:
        assert tk.snapshots() == [] and tk.journal.stats().paths == 1  # still journaled for the drive


def test_a_damaged_pack_in_the_store_costs_only_the_file_that_needed_it(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"a", "b.txt": b"b"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    away = away_store_of(repo, src)
    change(away, src, {"a.txt": os.urandom(200_000)})
    good = change(away, src, {"b.txt": b"b, edited away"})
    del good
    first_pack = min((away / "packs").rglob("*.pack"), key=lambda p: p.stat().st_mtime_ns)
    data = bytearray(first_pack.read_bytes())
    data[100] ^= 0xFF
    first_pack.write_bytes(bytes(data))
    moved = moving.move(away, repo)
    assert [os.fsdecode(e.path) for e in moved.errors] == [str(src / "a.txt")]
    assert "cannot be read" in moved.errors[0].message
    found = drive_states(repo, src, tmp_path / "r")
    assert found[-1][2][b"b.txt"][1] == b"b, edited away"
    assert found[-2][2][b"a.txt"][1] == b"a"  # its away version is lost; the drive still holds the one before


MOVE = """
import sys
from pathlib import Path
from timekeep.core.away import moving
moving.move(Path(sys.argv[1]), Path(sys.argv[2]))
"""


def test_a_move_killed_midway_completes_when_run_again(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"notes.txt": b"before"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    away = away_store_of(repo, src)
    states = [read_tree(src)]
    for i in range(6):
        change(away, src, {f"f{i}.bin": os.urandom(400_000)})
        states.append(read_tree(src))
    env = child_env(XDG_DATA_HOME=os.environ["XDG_DATA_HOME"], XDG_CACHE_HOME=os.environ["XDG_CACHE_HOME"])
    proc = subprocess.Popen([sys.executable, "-c", MOVE, str(away), str(repo)], env=env)
    try:
        wait_for(lambda: proc.poll() is not None or len(list((repo / "snapshots").glob("*.manifest"))) >= 3,
                 what="the move to seal two away snapshots")
    finally:
        proc.kill()
        proc.wait()
    assert away.exists()
    (store.home() / f"{store.REMOVING}{away.name}-1").mkdir()  # as a removal killed midway leaves it
    moving.move(away, repo)
    assert not away.exists() and not list(store.home().glob(f"{store.REMOVING}*"))
    found = drive_states(repo, src, tmp_path / "r")
    assert [tree for _, _, tree in found] == states
    assert len({t for t, _, _ in found}) == len(found) == 7


def test_the_store_keeps_what_changed_and_the_folders_above_it_never_a_copy_of_the_rest(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"big": {"sibling.bin": os.urandom(1_000_000), "deep": {"x.txt": b"x"}}, "top.bin": b"t" * 9000})
    repo = new_repo(tmp_path, src)
    backup(repo)
    away = away_store_of(repo, src)
    sid = change(away, src, {"big/deep/x.txt": b"edited deep down"})
    with Timekeep.open(away) as tk:
        assert tk.snapshots()[-1].bytes_new < 10_000
        assert [e.path for e in tk.list_dir(os.fsencode(src), sid)] == [os.fsencode(src / "big")]
        assert [e.path for e in tk.list_dir(os.fsencode(src / "big"), sid)] == [os.fsencode(src / "big/deep")]
    moving.move(away, repo)
    assert drive_states(repo, src, tmp_path / "r")[-1][2] == read_tree(src)


def test_a_lost_store_index_is_rebuilt_from_the_store_and_nothing_is_lost(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"notes.txt": b"before"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    away = away_store_of(repo, src)
    states = [read_tree(src), *states_while_away(tmp_path, src, away, 2)]
    for leftover in away.glob("index.db*"):
        leftover.unlink()  # the store's index is a cache of its own packs and manifests, as the drive's is
    moved = moving.move(away, repo)
    assert len(moved.snapshots) == 2 and not moved.errors
    assert [tree for _, _, tree in drive_states(repo, src, tmp_path / "r")] == states
