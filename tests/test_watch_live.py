"""Real watchdog observers on real folders, through the in-process agent: the next storage time reads
exactly what changed, and agrees with a full metadata scan of the same tree (the oracle: a copy of the
repository backed up by a plain scan)."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest

from tests.agent_support import (
    InProcess,
    agent_config,
    copy_repo,
    full_scan,
    journaled,
    snapshot_of,
    wait_for,
)
from tests.helpers import backup, make_tree, new_repo, read_tree
from tests.treeops import assert_snapshot_matches, built, expected_listing, listed
from timekeep.core.agent.messages import JobProgress
from timekeep.core.agent.storage import reconcile_only
from timekeep.core.api import Timekeep, rebuild_index
from timekeep.core.schedule.policy import Policy
from timekeep.core.types import SnapshotInfo
from timekeep.core.watch.observer import WATCHDOG_LOGGER

TREE = {
    "notes.txt": b"first notes",
    "keep.txt": b"never touched",
    "rename-me.txt": b"a file that moves",
    "gone.txt": b"to be deleted",
    "docs": {"a.md": b"alpha", "deep": {"b.md": b"beta" * 1000}},
    "archive": {"old.txt": b"old"},
    "many": {f"f{i:03}.txt": f"file {i}".encode() for i in range(200)},
}


@pytest.fixture(autouse=True)
def no_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files written just before a snapshot are normally re-read next time (racy-clean); turned off here so
    counts show what the watcher alone caused."""
    import timekeep.core.capture.read as read

    monkeypatch.setattr(read, "RACY_NS", 1)


@pytest.fixture
def src(tmp_path: Path) -> Path:
    make_tree(tmp_path / "src", TREE)
    return tmp_path / "src"


def snapshots(repo: Path) -> list[SnapshotInfo]:
    with Timekeep.open(repo) as tk:
        return tk.snapshots()


def oracle_copy(tmp_path: Path, repo: Path) -> Path:
    """The repository as it is before the storage time: a full scan of it is what the journal must match."""
    return copy_repo(repo, tmp_path / "oracle")


def check_against_full_scan(tmp_path: Path, repo: Path, src: Path, result: dict[str, object], copy: Path,
                            build_each: bool = True) -> None:
    """The journaled snapshot read and changed exactly what a full scan would, and gives the tree back
    (restored, listed and every file built from its plan; for a big tree, listed and a sample built)."""
    snap = snapshot_of(result)
    oracle = full_scan(copy)
    assert (snap.files_read, snap.files_changed) == (oracle.files_read, oracle.files_changed)
    assert snap.files_scanned < oracle.files_scanned
    tree, folder = read_tree(src), os.fsencode(src)
    with Timekeep.open(repo, writer=True) as tk:
        if build_each:
            assert_snapshot_matches(tk, folder, snap.id, tree, tmp_path / "restored")
        else:  # a big tree: the listing whole, and a sample of files built from their plans
            assert listed(tk, folder, snap.id) == expected_listing(tree)
            for rel in sorted(r for r, (kind, _, _) in tree.items() if kind == "file")[::997]:
                assert built(tk, folder + b"/" + rel, snap.id) == tree[rel][1]
        after = tk.backup()
    assert (after.files_read, after.files_changed) == (0, 0), "the full scan found something the journal missed"


def test_edits_renames_moves_and_deletes_are_stored_exactly(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    backup(repo)
    with InProcess(agent_config(repo)) as run:
        (src / "notes.txt").write_bytes(b"second notes, longer")
        os.rename(src / "rename-me.txt", src / "renamed.txt")
        os.rename(src / "docs", src / "archive" / "docs")
        (src / "gone.txt").unlink()
        (src / "many" / "f007.txt").chmod(0o600)
        make_tree(src / "fresh", {"new.txt": b"brand new", "inner": {"x.bin": os.urandom(70_000)}})
        run.sees(repo, {os.fsencode(src / p) for p in ("notes.txt", "renamed.txt", "archive/docs/deep/b.md",
                                                        "gone.txt", "many/f007.txt", "fresh/inner/x.bin")})
        copy = oracle_copy(tmp_path, repo)
        result = run.backup()
    snap = snapshot_of(result)
    # notes, f007 (its ctime changed), new.txt and x.bin: the renamed and moved files are not read again
    assert snap.files_read == 4
    check_against_full_scan(tmp_path, repo, src, result, copy)


def test_one_touched_file_reads_one_file_and_scans_nothing_else(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    backup(repo)
    with InProcess(agent_config(repo)) as run:
        (src / "many" / "f100.txt").write_bytes(b"touched")
        run.sees(repo, {os.fsencode(src / "many" / "f100.txt")})
        snap = snapshot_of(run.backup())
    assert (snap.files_scanned, snap.files_read, snap.files_changed) == (1, 1, 1)


@pytest.mark.slow
def test_a_burst_of_ten_thousand_new_files(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    backup(repo)
    with InProcess(agent_config(repo)) as run:
        burst = src / "burst"
        burst.mkdir()
        for i in range(10_000):
            (burst / f"n{i:05}").write_bytes(b"%d" % i)
        (src / "keep.txt").write_bytes(b"touched during the burst")
        # a burst may overflow the kernel's queue: then the agent reconciles, and the scan finds the rest
        run.until(lambda: not run.agent.runner.busy() and os.fsencode(src / "keep.txt") in journaled(repo), 60,
                  "the burst to be journaled")
        copy = oracle_copy(tmp_path, repo)
        result = run.backup()
    assert snapshot_of(result).files_read == 10_001
    check_against_full_scan(tmp_path, repo, src, result, copy, build_each=False)


def test_a_restart_keeps_the_pending_journal(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    backup(repo)
    with InProcess(agent_config(repo)) as run:
        (src / "notes.txt").write_bytes(b"edited before the restart")
        (src / "docs" / "a.md").unlink()
        run.sees(repo, {os.fsencode(src / "notes.txt"), os.fsencode(src / "docs" / "a.md")})
    assert os.fsencode(src / "notes.txt") in journaled(repo)  # shutdown kept the journal
    (src / "keep.txt").write_bytes(b"changed while no agent ran")  # only the start-up scan can see this
    with InProcess(agent_config(repo)) as run:
        copy = oracle_copy(tmp_path, repo)
        result = run.backup()
    snap = snapshot_of(result)
    assert snap.files_read == 2
    assert snap.files_changed == 3
    check_against_full_scan(tmp_path, repo, src, result, copy)


def test_lost_events_are_found_by_reconciliation(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    backup(repo)
    with InProcess(agent_config(repo)) as run:
        with run.held():  # no tick journals the event before it is dropped
            os.truncate(src / "archive" / "old.txt", 3)  # one event (no open, no close to follow)
            wait_for(lambda: os.fsencode(src / "archive" / "old.txt") in run.agent.buffer.drain(), what="the event")
        assert os.fsencode(src / "archive" / "old.txt") not in journaled(repo)
        logging.getLogger(WATCHDOG_LOGGER).warning("Inotify queue overflowed; filesystem events were lost")
        run.until(lambda: os.fsencode(src / "archive" / "old.txt") in journaled(repo), what="reconciliation")
        run.idle()
        copy = oracle_copy(tmp_path, repo)
        result = run.backup()
    assert snapshot_of(result).files_read == 1
    check_against_full_scan(tmp_path, repo, src, result, copy)


def test_a_folder_too_big_to_watch_falls_back_to_scans(tmp_path: Path, src: Path) -> None:
    limit = tmp_path / "max_user_watches"
    limit.write_text("4\n")  # src has 6 folders: more than 3/4 of the limit
    repo = new_repo(tmp_path, src)
    backup(repo)
    with InProcess(agent_config(repo), limit_file=limit) as run:
        plan = run.agent.watcher.plan
        assert plan.watched == () and "max_user_watches" in plan.fallback[os.fsencode(src)]
        (src / "notes.txt").write_bytes(b"seen by the scan, not by a watch")
        copy = oracle_copy(tmp_path, repo)
        result = run.backup()
    assert snapshot_of(result).files_read == 1
    check_against_full_scan(tmp_path, repo, src, result, copy)


def test_a_folder_too_big_to_watch_is_watched_in_part_and_only_the_rest_scanned(tmp_path: Path) -> None:
    src = tmp_path / "home"
    make_tree(src, {"top.txt": b"top", "a": {"x.txt": b"x"}, "b": {"y.txt": b"y"},
                    "big": {f"d{i}": {"f.txt": f"file {i}".encode()} for i in range(6)}})  # 10 folders
    limit = tmp_path / "max_user_watches"
    limit.write_text("8\n")  # our share is 6 watches
    repo = new_repo(tmp_path, src)
    backup(repo)
    root, big = os.fsencode(src), os.fsencode(src / "big")
    with InProcess(agent_config(repo), limit_file=limit) as run:
        plan = run.agent.watcher.plan
        part = plan.partial[root]
        assert plan.watched == () and "rest is scanned at each backup" in plan.fallback[root]
        assert part.nodes == (root, big)  # watched alone: home's own entries, and big's
        assert part.whole == (os.fsencode(src / "a"), os.fsencode(src / "b"), big + b"/d0", big + b"/d1")
        assert part.uncovered() == [big + b"/d2", big + b"/d3", big + b"/d4", big + b"/d5"]
        (src / "a" / "x.txt").write_bytes(b"seen by a watch")
        run.sees(repo, {os.fsencode(src / "a" / "x.txt")})
        (src / "big" / "d3" / "f.txt").write_bytes(b"in no watch: found by the scan of what is left out")
        (src / "big" / "new").mkdir()  # seen by big's own watch; what it holds is in no watch
        run.sees(repo, {big + b"/new"})
        (src / "big" / "new" / "z.txt").write_bytes(b"in a folder made after the plan")
        run.idle()
        assert big + b"/new" in part.uncovered()
        copy = oracle_copy(tmp_path, repo)
        result = run.backup()
    assert snapshot_of(result).files_read == 3
    check_against_full_scan(tmp_path, repo, src, result, copy)


def test_a_folder_added_while_running_is_watched_and_stored_whole(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    backup(repo)
    other = tmp_path / "other"
    make_tree(other, {"o1.txt": b"one", "sub": {"o2.txt": b"two"}})
    with InProcess(agent_config(repo)) as run:
        with Timekeep.open(repo, writer=True) as tk:
            tk.add_folder(os.fsencode(other))
        run.until(lambda: os.fsencode(other) in run.agent.watcher.plan.watched, what="the new folder's watch")
        (other / "sub" / "o3.txt").write_bytes(b"three")
        run.sees(repo, {os.fsencode(other / "sub" / "o3.txt")})
        snap = snapshot_of(run.backup())
    assert snap.files_read == 3
    with Timekeep.open(repo) as tk:
        assert_snapshot_matches(tk, os.fsencode(other), snap.id, read_tree(other), tmp_path / "restored")


def test_a_protected_folder_deleted_and_recreated_is_watched_again(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    backup(repo)
    with InProcess(agent_config(repo)) as run:
        shutil.rmtree(src)
        run.until(lambda: os.fsencode(src) not in run.agent.watcher.plan.watched, what="the watch to stop")
        make_tree(src, {"reborn.txt": b"a new life"})
        run.until(lambda: os.fsencode(src) in run.agent.watcher.plan.watched, what="the folder to be watched again")
        run.idle()
        (src / "after.txt").write_bytes(b"seen by the new watch")
        run.sees(repo, {os.fsencode(src / "reborn.txt"), os.fsencode(src / "after.txt")})
        snap = snapshot_of(run.backup())
    with Timekeep.open(repo) as tk:
        assert {e.name for e in tk.list_dir(os.fsencode(src), snap.id)} == {b"reborn.txt", b"after.txt"}


def test_a_rebuilt_index_is_reconciled(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    backup(repo)
    with InProcess(agent_config(repo)) as run:
        (src / "notes.txt").write_bytes(b"journaled in the index about to be replaced")
        run.sees(repo, {os.fsencode(src / "notes.txt")})
        rebuild_index(repo)
        run.until(lambda: os.fsencode(src / "notes.txt") in journaled(repo), what="the new index to be reconciled")
        run.idle()
        assert snapshot_of(run.backup()).files_read == 1


def test_reconciliation_journals_without_taking_a_snapshot(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    backup(repo)
    (src / "notes.txt").write_bytes(b"changed")
    os.rename(src / "docs", src / "papers")
    assert reconcile_only(repo) == 10  # notes, src, docs and papers with their three entries each
    with Timekeep.open(repo) as tk:
        assert len(tk.snapshots()) == 1
    assert {os.fsencode(src / p) for p in ("notes.txt", "docs/deep/b.md", "papers/deep/b.md")} <= journaled(repo)


def test_a_growing_journal_starts_a_storage_time(tmp_path: Path, src: Path) -> None:
    repo = new_repo(tmp_path, src)
    backup(repo)
    policy = Policy(interval_s=24 * 3600, at_shutdown=False, journal_paths=50)
    with InProcess(agent_config(repo, policy=policy)) as run:
        for i in range(60):
            (src / "many" / f"f{i:03}.txt").write_bytes(b"rewritten")
        run.until(lambda: len(snapshots(repo)) > 1, what="a journal-bound storage time")
        run.idle()
    assert snapshots(repo)[1].trigger == "journal-bound"


def test_a_scheduled_storage_time_waits_until_the_folders_are_quiet(tmp_path: Path, src: Path) -> None:
    """A file being written is not read mid-write: a storage time the schedule starts reads nothing until no
    event came for `quiet_s` seconds of the agent's clock (which moves only as the agent ticks)."""
    repo = new_repo(tmp_path, src)
    backup(repo)
    with InProcess(agent_config(repo, quiet_s=0.5)) as run:
        reading: list[float] = []  # the agent's clock at each of the storage time's progress reports
        run.agent.publish = lambda event: reading.append(run.clock.seconds) if isinstance(event, JobProgress) else None
        with run.changes(src / "notes.txt"):
            (src / "notes.txt").write_bytes(b"still being written")
        last = run.agent.buffer.last_event()
        job = run.agent.request_backup("interval")
        run.until(job.done.is_set, what="the storage time")
    assert job.result.ok and snapshot_of(job.result).files_read == 1
    assert last is not None and reading and min(reading) >= last + 0.5
