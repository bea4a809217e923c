"""A repository that keeps its index on each computer (config `"index": "local"`), not on the drive: the drive
holds no index.db, a computer without one builds it from the drive, one left behind by another computer's
backups or thinnings catches up before it reads or writes, a damaged one is rebuilt, and two computers taking
turns on one drive each see and restore every snapshot byte-exact, with no id reused and no manifest
overwritten."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.damage_support import data_files, timekeep
from tests.helpers import backup, index_file, make_tree, new_repo, read_tree
from tests.treeops import append, payload, restore_into
from timekeep.core.api import Timekeep, init_repository
from timekeep.core.errors import FormatTooNew, UsageError
from timekeep.core.storage.layout import CONFIG_NAME, load_config
from timekeep.core.storage.lock import WriterLock
from timekeep.core.types import Progress


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = Path(os.path.realpath(tmp_path)) / "src"
    make_tree(path, {"a.txt": b"alpha\n", "big.bin": payload(7, 400_000), "sub": {"c.txt": b"see\n"}})
    return path


@pytest.fixture
def repo(tmp_path: Path, src: Path, both_index_modes: str) -> Path:
    return new_repo(tmp_path, src)


def computer(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """Be another computer from here on: its own cache folder (where a local index lives)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))


def snapshot_ids(repo: Path) -> list[int]:
    with Timekeep.open(repo) as tk:
        return [s.id for s in tk.snapshots()]


@pytest.mark.parametrize("both_index_modes", ["local", "encrypted"], indirect=True)
def test_two_computers_take_turns_and_each_restores_the_others_snapshots(
        tmp_path: Path, src: Path, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trees = {}
    manifests: dict[str, str] = {}
    for turn, who in enumerate(("laptop", "desktop", "laptop", "desktop", "laptop")):
        computer(monkeypatch, tmp_path / who)
        append(src / "a.txt", f"{who} was here, turn {turn}\n".encode())
        (src / "sub" / f"{who}-{turn}.txt").write_bytes(payload(turn, 70_000))
        sid = backup(repo)
        trees[sid] = read_tree(src)
        now = data_files(repo)
        assert {n: h for n, h in now.items() if n in manifests} == manifests  # none overwritten
        manifests = {n: h for n, h in now.items() if n.startswith("snapshots/")}
    assert sorted(trees) == [1, 2, 3, 4, 5]  # each turn took the next id, whoever backed up before
    assert not list(repo.glob("index.db*"))
    for who in ("laptop", "desktop"):
        computer(monkeypatch, tmp_path / who)
        with Timekeep.open(repo) as tk:
            assert [s.id for s in tk.snapshots()] == sorted(trees)
            for sid, tree in trees.items():
                got, result = restore_into(tk, os.fsencode(src), sid, tmp_path / f"out-{who}")
                assert got == tree and not result.errors, (who, sid)
            assert tk.check(read_data=True).ok


@pytest.mark.parametrize("both_index_modes", ["local", "encrypted"], indirect=True)
def test_a_computer_behind_another_ones_thinning_catches_up_and_loses_nothing(
        tmp_path: Path, src: Path, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The desktop drops a snapshot and gives its packs back; the laptop's index still names both. The laptop
    must not write the dropped snapshot's manifest again, nor call the reclaimed packs lost."""
    computer(monkeypatch, tmp_path / "laptop")
    ids = []
    for n in range(3):
        (src / "big.bin").write_bytes(payload(20 + n, 400_000))
        ids.append(backup(repo))
    latest = read_tree(src)
    computer(monkeypatch, tmp_path / "desktop")
    with Timekeep.open(repo, writer=True) as tk:
        assert list(tk.coalesce(drop=[ids[1]]).snapshots_dropped) == [ids[1]]
        assert [s.id for s in tk.snapshots()] == [ids[0], ids[2]]
    computer(monkeypatch, tmp_path / "laptop")
    with Timekeep.open(repo, writer=True) as tk:
        assert tk.rebuilt and any("behind" in n for n in tk.notes)
        assert not any("missing from the drive" in n for n in tk.notes)
        assert [s.id for s in tk.snapshots()] == [ids[0], ids[2]]
        assert tk.backup().id == ids[2] + 1
    assert sorted(int(p.name[:10]) for p in (repo / "snapshots").iterdir()) == [ids[0], ids[2], ids[2] + 1]
    with Timekeep.open(repo) as tk:
        got, _ = restore_into(tk, os.fsencode(src), ids[2], tmp_path / "out")
        assert got == latest and tk.check(read_data=True).ok


@pytest.mark.parametrize("both_index_modes", ["local"], indirect=True)
def test_a_computer_without_the_index_builds_it_with_progress_and_keeps_it_private(
        tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sid = backup(repo)
    computer(monkeypatch, tmp_path / "new-computer")
    index = index_file(repo)
    assert not index.exists() and index.is_relative_to(tmp_path / "new-computer" / "cache")
    seen: list[Progress] = []
    with Timekeep.open(repo, progress=seen.append) as tk:
        assert [s.id for s in tk.snapshots()] == [sid] and any("missing" in n for n in tk.notes)
    assert seen and seen[-1].phase == "rebuild" and seen[-1].files_done == seen[-1].files_total == 1
    assert stat.S_IMODE(index.parent.stat().st_mode) == 0o700
    for side in index.parent.iterdir():
        assert stat.S_IMODE(side.stat().st_mode) == 0o600, side
    assert index.parent.name == load_config(repo).repository_id and index.parent.parent.name == "indexes"


@pytest.mark.parametrize("both_index_modes", ["local"], indirect=True)
def test_a_damaged_local_index_is_set_aside_on_this_computer_and_rebuilt(tmp_path: Path, src: Path,
                                                                        repo: Path) -> None:
    first = backup(repo)
    index = index_file(repo)
    index.write_bytes(b"this is not a database, but it is long enough to look like one" * 100)
    append(src / "a.txt", b"more\n")
    with Timekeep.open(repo, writer=True) as tk:
        assert tk.rebuilt and any("damaged" in n for n in tk.notes)
        second = tk.backup().id
    assert second == first + 1 and list(index.parent.glob("index.db.damaged-*"))
    assert not list(repo.glob("index.db*"))
    assert snapshot_ids(repo) == [first, second]


@pytest.mark.parametrize("both_index_modes", ["local"], indirect=True)
def test_a_reader_says_so_when_a_running_writer_keeps_it_from_catching_up(
        tmp_path: Path, src: Path, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    computer(monkeypatch, tmp_path / "laptop")
    first = backup(repo)
    computer(monkeypatch, tmp_path / "desktop")
    second = backup(repo)
    computer(monkeypatch, tmp_path / "laptop")
    lock = WriterLock(repo / "lock")
    lock.acquire()
    try:
        with Timekeep.open(repo) as tk:
            assert [s.id for s in tk.snapshots()] == [first]
            assert any("backup is running" in n for n in tk.notes)
            assert any("behind the drive" in n for n in tk.notes)
    finally:
        lock.release()
    assert snapshot_ids(repo) == [first, second]


def test_a_byte_exact_round_trip_through_the_command_line(tmp_path: Path, src: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    drive = tmp_path / "drive" / "repo"
    assert timekeep(drive, "init", str(drive), "--here", "--index", "local", "--encryption", "none").code == 0
    assert timekeep(drive, "add", str(src)).code == 0
    assert timekeep(drive, "backup").code == 0
    want = read_tree(src)
    (src / "a.txt").write_bytes(b"changed after the backup\n")
    computer(monkeypatch, tmp_path / "elsewhere")
    run = timekeep(drive, "restore", str(src), "--at", "1", "--to", str(tmp_path / "out"), "--quiet")
    assert run.code == 0, str(run)
    assert read_tree(tmp_path / "out" / "src") == want
    assert json.loads((drive / CONFIG_NAME).read_bytes())["index"] == "local"
    assert sorted(p.name for p in drive.iterdir()) == ["config.json", "folders.json", "lock", "packs", "snapshots"]


def test_the_default_keeps_the_index_on_the_drive_and_its_config_as_before(tmp_path: Path) -> None:
    init_repository(tmp_path / "repo")
    assert (tmp_path / "repo" / "index.db").exists()
    assert "index" not in json.loads((tmp_path / "repo" / CONFIG_NAME).read_bytes())
    with pytest.raises(UsageError, match="drive or locally"):
        init_repository(tmp_path / "other", index="cloud")


@pytest.mark.parametrize(("field", "value"), [("index", "cloud"), ("sealed_index", True)])
def test_a_config_this_timekeep_does_not_understand_is_refused_in_one_line(tmp_path: Path, field: str,
                                                                          value: object) -> None:
    """A newer Timekeep's setting is refused, not guessed at (a repository whose index is elsewhere must
    never be taken for one that lost it)."""
    init_repository(tmp_path / "repo")
    config = tmp_path / "repo" / CONFIG_NAME
    config.write_text(json.dumps({**json.loads(config.read_bytes()), field: value}))
    with pytest.raises(FormatTooNew, match=f"needs a newer Timekeep.*{field if field != 'index' else 'cloud'}"):
        Timekeep.open(tmp_path / "repo")
    run = timekeep(tmp_path / "repo", "snapshots")
    assert run.code == 2 and run.crash is None and len(run.err_text.strip().splitlines()) == 1


def test_a_pack_gone_from_the_drive_is_lost_in_both_modes_and_a_local_index_asks_the_drive_why(
        tmp_path: Path, src: Path, repo: Path, both_index_modes: str) -> None:
    """On the drive the index marks the pack missing; kept locally it cannot tell a loss from another
    computer's thinning, so it is rebuilt from the drive, which records the same loss."""
    sid = backup(repo)
    for pack in (repo / "packs").rglob("*.pack"):
        pack.unlink()
    with Timekeep.open(repo, writer=True) as tk:
        assert tk.rebuilt == (both_index_modes == "local")
        report = tk.check()
    assert (sid, os.fsencode(src / "big.bin")) in {(item.snapshots[0], item.path) for item in report.lost}


@pytest.mark.parametrize("both_index_modes", ["local"], indirect=True)
def test_new_snapshots_from_another_computer_are_caught_up_and_the_journal_kept(
        tmp_path: Path, src: Path, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only snapshots added since: just their manifests are loaded (the index keeps its identity and this
    computer's journal of dirty paths), and what it then holds is what a rebuild from the drive gives."""
    computer(monkeypatch, tmp_path / "laptop")
    first = backup(repo)
    with Timekeep.open(repo) as tk:
        made = tk.index_id()
    computer(monkeypatch, tmp_path / "desktop")
    append(src / "a.txt", b"from the desktop\n")
    second = backup(repo)
    (src / "sub" / "new.txt").write_bytes(b"new on the desktop\n")
    third = backup(repo)
    want = read_tree(src)
    computer(monkeypatch, tmp_path / "laptop")
    seen: list[Progress] = []
    with Timekeep.open(repo, writer=True, progress=seen.append) as tk:
        assert not tk.rebuilt and any("caught up" in n for n in tk.notes), tk.notes
        assert tk.index_id() == made and [s.id for s in tk.snapshots()] == [first, second, third]
        assert seen[-1].phase == "rebuild" and seen[-1].files_done == seen[-1].files_total == 2
        got, result = restore_into(tk, os.fsencode(src), third, tmp_path / "out")
        assert got == want and not result.errors
        caught = {s.id: s for s in tk.snapshots()}
    computer(monkeypatch, tmp_path / "third-computer")
    with Timekeep.open(repo) as tk:  # built whole from the drive: the same history
        assert {s.id: s for s in tk.snapshots()} == caught
        assert tk.check(read_data=True).ok


@pytest.mark.parametrize("both_index_modes", ["local"], indirect=True)
def test_a_killed_backup_here_is_never_completed_with_another_computers_manifest(
        tmp_path: Path, src: Path, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The laptop's backup was killed while snapshot 2 ran (its index says so); the desktop, knowing nothing
    of it, took id 2. The laptop must see the desktop's snapshot 2, not complete its own with that manifest."""
    import sqlite3

    computer(monkeypatch, tmp_path / "laptop")
    first = backup(repo)
    with sqlite3.connect(index_file(repo)) as conn:
        conn.execute("INSERT INTO snapshot (id, time_ns, trigger, state, files_scanned, files_read, files_changed, "
                     "bytes_read, bytes_new, errors, duration_s) VALUES (?, 1, 'manual', 'running', 0, 0, 0, 0, "
                     "0, 0, 0)", (first + 1,))
    computer(monkeypatch, tmp_path / "desktop")
    (src / "big.bin").write_bytes(payload(99, 300_000))
    second = backup(repo)
    want = read_tree(src)
    assert second == first + 1
    computer(monkeypatch, tmp_path / "laptop")
    with Timekeep.open(repo, writer=True) as tk:
        assert [s.id for s in tk.snapshots()] == [first, second]
        got, result = restore_into(tk, os.fsencode(src), second, tmp_path / "out")
    assert got == want and not result.errors


@pytest.mark.parametrize("both_index_modes", ["local"], indirect=True)
def test_a_damaged_new_manifest_is_not_caught_up_but_rebuilt_and_reported(
        tmp_path: Path, src: Path, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.treeops import flip
    from timekeep.core.storage.layout import Layout

    computer(monkeypatch, tmp_path / "laptop")
    first = backup(repo)
    computer(monkeypatch, tmp_path / "desktop")
    append(src / "a.txt", b"two\n")
    second = backup(repo)
    append(src / "a.txt", b"three\n")
    third = backup(repo)
    want = read_tree(src)
    manifest = Layout(repo).manifest_path(second)
    flip(manifest, manifest.stat().st_size // 2)
    computer(monkeypatch, tmp_path / "laptop")
    with Timekeep.open(repo, writer=True) as tk:
        assert tk.rebuilt and not any("caught up" in n for n in tk.notes)
        assert [s.id for s in tk.snapshots()] == [first, third] and tk.lost_snapshots() == [second]
        got, _ = restore_into(tk, os.fsencode(src), third, tmp_path / "out")
    assert got == want
