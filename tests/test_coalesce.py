"""The coalescer: retention rules, folding dropped snapshots into kept ones, last copies, reclaimed
space, crash safety, and a drive that fills up."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

import timekeep.core.coalesce.manifests as manifests_mod
from tests.helpers import Tree, make_tree, new_repo, read_tree
from tests.treeops import assert_snapshot_matches, index_db, overwrite, payload, small_tmpfs
from timekeep.core.api import Timekeep, rebuild_index
from timekeep.core.coalesce.retention import kept
from timekeep.core.errors import StorageError, UsageError
from timekeep.core.storage.layout import Layout
from timekeep.core.storage.manifest import manifest_ids
from timekeep.core.types import Retention

NOW = datetime(2026, 11, 25, 12, 0, 0)


def ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1e9)


# --- which snapshots a rule keeps ------------------------------------------------------------------------


def test_rule_keeps_recent_hours_then_last_of_each_day_then_of_each_week() -> None:
    times = {
        1: NOW - timedelta(days=60, hours=3),   # week A, older than the daily band
        2: NOW - timedelta(days=60, hours=1),   # week A, later: kept for its week
        3: NOW - timedelta(days=3, hours=5),    # day D: earlier
        4: NOW - timedelta(days=3, hours=4),    # day D: later, kept
        5: NOW - timedelta(hours=5),            # inside the keep-all window
        6: NOW - timedelta(hours=2),            # inside the keep-all window
    }
    snaps = [(sid, ns(t)) for sid, t in times.items()]
    assert kept(snaps, Retention(keep_all_hours=24, daily_days=30), ns(NOW)) == {2, 4, 5, 6}
    # weekly history limited to 4 weeks: week A is past it
    assert kept(snaps, Retention(keep_all_hours=24, daily_days=30, weekly_weeks=4), ns(NOW)) == {4, 5, 6}
    # no daily band: day D falls to the weekly rule, which keeps the week's last
    assert kept(snaps, Retention(keep_all_hours=24, daily_days=0), ns(NOW)) == {2, 4, 5, 6}


def test_rule_always_keeps_the_newest() -> None:
    old = [(1, ns(NOW - timedelta(days=400))), (2, ns(NOW - timedelta(days=399)))]
    assert kept(old, Retention(keep_all_hours=1, daily_days=0, weekly_weeks=1), ns(NOW)) == {2}
    assert kept([], Retention(), ns(NOW)) == set()


# --- folding, exactly ------------------------------------------------------------------------------------


def _history(tmp_path: Path) -> tuple[Path, Path, dict[int, Tree]]:
    """Four snapshots of a big file edited in place twice and grown, plus a small file that changes."""
    src = tmp_path / "src"
    make_tree(src, {"big.bin": payload(1, 2_000_000), "note.txt": b"one\n", "docs": {"a.md": b"# A\n"}})
    repo = new_repo(tmp_path, src)
    trees: dict[int, Tree] = {}

    def snap() -> None:
        with Timekeep.open(repo, writer=True) as tk:
            trees[tk.backup().id] = read_tree(src)

    snap()
    overwrite(src / "big.bin", 500_000, payload(2, 700_000))
    (src / "note.txt").write_bytes(b"two\n")
    snap()
    overwrite(src / "big.bin", 400_000, payload(3, 900_000))  # covers the first overwrite entirely
    (src / "docs" / "b.md").write_bytes(b"# B\n")
    snap()
    with open(src / "big.bin", "ab") as fh:
        fh.write(payload(4, 300_000))
    (src / "note.txt").write_bytes(b"three\n")
    snap()
    return repo, src, trees


def test_dropped_snapshots_fold_into_the_next_kept_one_byte_exact(tmp_path: Path) -> None:
    repo, src, trees = _history(tmp_path)
    with Timekeep.open(repo, writer=True) as tk:
        assert any("no snapshot uses" in note for note in tk.check().notes) is False
        report = tk.coalesce(drop=[2, 3])
        assert report.snapshots_dropped == (2, 3) and report.snapshots_kept_for_last_copy == ()
        assert report.versions_folded >= 2 and report.versions_moved >= 1
        # snapshot 2's overwrite is hidden by snapshot 3's everywhere: its ~700 kB of random chunks go
        assert report.chunks_reclaimed >= 8 and report.bytes_freed > 500_000
        assert [s.id for s in tk.snapshots()] == [1, 4]
        for sid in (1, 4):
            assert_snapshot_matches(tk, os.fsencode(src), sid, trees[sid], tmp_path / "restores")
        assert tk.check(read_data=True).ok
        changed = {e.name for e in tk.list_dir(os.fsencode(src), 4) if e.changed}
        assert changed == {b"big.bin", b"note.txt", b"docs"}  # what changed since snapshot 1, kept or folded
        assert b"b.md" in {e.name for e in tk.list_dir(os.fsencode(src / "docs"), 4) if e.changed}
        assert [v.snapshot_id for v in tk.versions(os.fsencode(src / "note.txt"))] == [1, 4]
    assert manifest_ids(Layout(repo)) == [1, 4]
    assert not Layout(repo).coalescing.exists()


def test_the_drive_alone_rebuilds_the_coalesced_history(tmp_path: Path) -> None:
    repo, src, trees = _history(tmp_path)
    with Timekeep.open(repo, writer=True) as tk:
        tk.coalesce(drop=[1, 3])
    (repo / "index.db").unlink()
    for extra in ("index.db-wal", "index.db-shm"):
        (repo / extra).unlink(missing_ok=True)
    rebuild_index(repo)
    with Timekeep.open(repo) as tk:
        assert [s.id for s in tk.snapshots()] == [2, 4]
        for sid in (2, 4):
            assert_snapshot_matches(tk, os.fsencode(src), sid, trees[sid], tmp_path / "restores")
        assert tk.check(read_data=True).ok


def test_thinning_never_drops_the_only_copy_of_a_file(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"keep.txt": b"always here\n"})
    repo = new_repo(tmp_path, src)
    trees: dict[int, Tree] = {}
    for step in range(4):
        if step == 1:
            (src / "brief.txt").write_bytes(b"lived for one snapshot\n")
        if step == 2:
            (src / "brief.txt").unlink()
        (src / "keep.txt").write_bytes(b"always here %d\n" % step)
        with Timekeep.open(repo, writer=True) as tk:
            trees[tk.backup().id] = read_tree(src)
    with Timekeep.open(repo, writer=True) as tk:
        report = tk.coalesce(drop=[1, 2, 3])
        assert report.snapshots_kept_for_last_copy == (2,) and report.snapshots_dropped == (1, 3)
        assert [s.id for s in tk.snapshots()] == [2, 4]
        for sid in (2, 4):
            assert_snapshot_matches(tk, os.fsencode(src), sid, trees[sid], tmp_path / "restores")


def test_retention_rule_thins_by_time(tmp_path: Path) -> None:
    repo, src, trees = _history(tmp_path)
    day = NOW - timedelta(days=3)
    times = {1: day.replace(hour=9), 2: day.replace(hour=10), 3: NOW - timedelta(days=2), 4: NOW - timedelta(hours=1)}
    with index_db(repo) as conn:
        for sid, moment in times.items():
            conn.execute("UPDATE snapshot SET time_ns = ? WHERE id = ?", (ns(moment), sid))
    with Timekeep.open(repo, writer=True) as tk:
        assert tk.thinning_plan(ns(NOW)) == ([1], [])
        report = tk.coalesce(now_ns=ns(NOW))
        assert report.snapshots_dropped == (1,)
        assert [s.id for s in tk.snapshots()] == [2, 3, 4]
        for sid in (2, 3, 4):
            assert_snapshot_matches(tk, os.fsencode(src), sid, trees[sid], tmp_path / "restores")
        assert tk.coalesce(now_ns=ns(NOW)).snapshots_dropped == ()  # a second run finds nothing more


def test_retention_is_stored_with_the_repository(tmp_path: Path) -> None:
    repo = new_repo(tmp_path)
    with Timekeep.open(repo, writer=True) as tk:
        assert tk.retention() == Retention()
        tk.set_retention(Retention(keep_all_hours=6, daily_days=7, weekly_weeks=52))
        with pytest.raises(UsageError):
            tk.set_retention(Retention(keep_all_hours=0))
    with Timekeep.open(repo) as tk:
        assert tk.retention() == Retention(6, 7, 52)
        with pytest.raises(UsageError):
            tk.set_retention(Retention())  # a reader may not change it


def test_a_crash_after_the_index_fold_is_finished_by_the_next_writer(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    repo, src, trees = _history(tmp_path)

    def crash(*args: object) -> None:
        raise KeyboardInterrupt("killed")

    with Timekeep.open(repo, writer=True) as tk:
        monkeypatch.setattr(manifests_mod, "finish", crash)
        import timekeep.core.coalesce.run as run_mod
        monkeypatch.setattr(run_mod.manifests, "finish", crash)
        with pytest.raises(KeyboardInterrupt):
            tk.coalesce(drop=[2])
    monkeypatch.undo()
    layout = Layout(repo)
    assert layout.coalescing.exists() and 2 in manifest_ids(layout)  # the drive lags the index
    with Timekeep.open(repo) as tk:
        report = tk.check()
        assert report.ok and any("thinning was interrupted" in note for note in report.notes)
    with Timekeep.open(repo, writer=True) as tk:
        assert [s.id for s in tk.snapshots()] == [1, 3, 4]
    assert not layout.coalescing.exists() and manifest_ids(layout) == [1, 3, 4]
    shutil.rmtree(tmp_path / "restores", ignore_errors=True)
    for name in ("index.db", "index.db-wal", "index.db-shm"):
        (repo / name).unlink(missing_ok=True)
    rebuild_index(repo)
    with Timekeep.open(repo) as tk:
        for sid in (1, 3, 4):
            assert_snapshot_matches(tk, os.fsencode(src), sid, trees[sid], tmp_path / "restores")


def test_a_mostly_dead_pack_is_rewritten_with_its_live_chunks(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"replaced.bin": payload(10, 1_000_000), "kept.bin": payload(11, 150_000)})
    repo = new_repo(tmp_path, src)
    with Timekeep.open(repo, writer=True) as tk:
        tk.backup()
        (src / "replaced.bin").write_bytes(payload(12, 1_000_000))
        second = tk.backup().id
        tree = read_tree(src)
        packs_before = sorted(p.name for p in (repo / "packs").rglob("*.pack"))
        report = tk.coalesce(drop=[1])
        assert report.packs_rewritten == 1 and report.packs_deleted == 0
        assert 900_000 < report.bytes_freed < 1_100_000
        packs_after = sorted(p.name for p in (repo / "packs").rglob("*.pack"))
        assert packs_before[0] not in packs_after or packs_before[1] not in packs_after
        assert len(packs_after) == 2
        assert_snapshot_matches(tk, os.fsencode(src), second, tree, tmp_path / "restores")
        assert tk.check(read_data=True).ok


@pytest.fixture
def small_drive(tmp_path: Path) -> Iterator[Path]:
    """A 6 MiB tmpfs where new_repo puts the repository (tmp_path/drive)."""
    drive = tmp_path / "drive"
    with small_tmpfs(drive, "6m"):
        yield drive


def test_a_full_drive_thins_old_snapshots_and_the_backup_goes_through(tmp_path: Path, small_drive: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"film.bin": payload(20, 2_200_000), "note.txt": b"note\n"})
    repo = new_repo(tmp_path, src)
    trees: dict[int, Tree] = {}
    for seed in (21, 22):
        with Timekeep.open(repo, writer=True) as tk:
            trees[tk.backup().id] = read_tree(src)
        (src / "film.bin").write_bytes(payload(seed, 2_200_000))
    with index_db(repo) as conn:  # two days old, on different days: the rule alone keeps both
        conn.execute("UPDATE snapshot SET time_ns = time_ns - ? - (3 - id) * ?", (2 * 86400 * 10**9, 86400 * 10**9))
    with Timekeep.open(repo, writer=True) as tk:
        third = tk.backup()
        trees[third.id] = read_tree(src)
        assert [s.id for s in tk.snapshots()] == [2, third.id]  # the oldest made room
        for sid in (2, third.id):
            assert_snapshot_matches(tk, os.fsencode(src), sid, trees[sid], tmp_path / "restores")
        assert tk.check(read_data=True).ok


def test_a_full_drive_with_only_recent_history_says_so(tmp_path: Path, small_drive: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"film.bin": payload(30, 2_200_000)})
    repo = new_repo(tmp_path, src)
    for seed in (31, 32):
        with Timekeep.open(repo, writer=True) as tk:
            tk.backup()
        (src / "film.bin").write_bytes(payload(seed, 2_200_000))
    with Timekeep.open(repo, writer=True) as tk:
        with pytest.raises(StorageError, match="within the last 24 hours"):
            tk.backup()
        assert [s.id for s in tk.snapshots()] == [1, 2]
        assert tk.check(read_data=True).ok
