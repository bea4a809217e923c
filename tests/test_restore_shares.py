"""A big folder restore runs in several processes, each writing its share of the files (core/restore/shares.py):
the folder comes back byte-exact with its hard links, links and folders' metadata; what each share did is
counted once (a damaged entry named once: test_restore_safety.py, and the damage matrix's shared cells); a share
that dies costs its files and says so, and the restore run again finishes; a killed or interrupted restore
leaves no share behind; where no process can be forked, one does it all."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.helpers import backup, child_env, make_tree, new_repo, read_tree
from tests.restore_support import in_shares
from tests.restore_support import src as src
from tests.treeops import payload
from timekeep.core.api import Timekeep
from timekeep.core.restore import shares


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every folder restore in two processes; the forks made, by pid, as the test's record."""
    return in_shares(monkeypatch)


def tree(src: Path) -> None:
    """Small files in folders, two of one content, a file with a second name in another folder (a hard
    link), a link, an empty folder, a bigger file; folders with their own bits and times."""
    make_tree(src, {**{f"n{i:03d}.txt": payload(i, 50 + 7 * i) for i in range(60)},
                    "docs": {f"d{i}.md": payload(100 + i, 3000 + i, "text") for i in range(25)},
                    "docs2": {"same.md": payload(100, 3000, "text")},
                    "deep": {"er": {"still": {"x.bin": payload(7, 40_000)}}},
                    "empty": {}, "big.bin": payload(8, 3 << 20), "to-docs": "-> docs/d1.md"})
    os.link(src / "n007.txt", src / "docs" / "also-n007.txt")
    os.chmod(src / "docs", 0o750)
    for n, folder in enumerate(["docs", "docs2", "deep/er", "deep", "empty", "."]):
        os.utime(src / folder, ns=(1_600_000_000_000_000_000 + n, 1_600_000_000_000_000_000 + n * 1000))


def times(root: Path) -> dict[str, int]:
    return {os.path.relpath(d, root): os.stat(d).st_mtime_ns for d, _, _ in os.walk(root)}


def owners(src: Path) -> set[int]:
    """The shares that own the files and links below `src`, of two."""
    found = [os.lstat(p) for p in src.rglob("*")]
    return {shares.owner(st.st_mtime_ns, st.st_size, 2) for st in found if not stat.S_ISDIR(st.st_mode)}


def test_a_folder_restored_in_shares_comes_back_whole(src: Path, tmp_path: Path, shared: list[int],
                                                      plain_and_encrypted: str) -> None:
    """Encrypted too: each share reads the packs with the keys the restore unlocked, its index on this computer."""
    tree(src)
    assert owners(src) == {0, 1}  # each share has files to write
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    dest = tmp_path / "dest"
    done: list[int] = []
    with Timekeep.open(repo) as tk:
        result = tk.restore(os.fsencode(src), sid, dest=os.fsencode(dest), progress=lambda p: done.append(p.bytes_done))
    assert len(shared) == 1  # the second share was forked
    assert result.errors == () and result.warnings == ()
    out = dest / "src"
    assert read_tree(out) == read_tree(src)
    assert os.stat(out / "n007.txt").st_ino == os.stat(out / "docs" / "also-n007.txt").st_ino
    assert times(out) == times(src)  # every folder's time, given once every share was done
    files = sorted(os.fsencode(p) for p in out.rglob("*") if not p.is_dir())
    assert list(result.written) == files  # each once, in order
    stored = {(st.st_ino, st.st_size) for p in src.rglob("*") if stat.S_ISREG((st := os.lstat(p)).st_mode)}
    assert done and done[-1] == sum(size for _, size in stored)  # the other share's bytes counted as it sent them
    assert not [n for n in os.listdir(out) if n.endswith(".restoring")]


def test_a_restore_in_place_in_shares_keeps_what_differs_and_counts_what_is_there(
        src: Path, tmp_path: Path, shared: list[int]) -> None:
    tree(src)
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    (src / "n003.txt").write_bytes(b"changed since")
    (src / "docs" / "d4.md").unlink()
    os.unlink(src / "big.bin")
    with Timekeep.open(repo) as tk:
        result = tk.restore(os.fsencode(src), sid)
    assert len(shared) == 1 and result.errors == ()
    beside = {os.path.basename(restored) for _, restored in result.kept_beside}
    assert {os.path.basename(p) for p in result.written} - beside == {b"big.bin", b"d4.md"}
    assert [os.path.basename(kept) for kept, _ in result.kept_beside] == [b"n003.txt"]
    assert (src / "n003.txt").read_bytes() == b"changed since"
    assert Path(os.fsdecode(result.kept_beside[0][1])).read_bytes() == payload(3, 71)
    assert (src / "docs" / "d4.md").read_bytes() == payload(104, 3004, "text")
    files = sum(1 for p in src.rglob("*") if not p.is_dir())
    assert result.unchanged == files - 4  # all but the two written, the one kept and the copy beside it: once each


def test_a_restore_over_what_is_there_in_shares_sets_every_folder_back(src: Path, tmp_path: Path,
                                                                       shared: list[int]) -> None:
    """With overwrite: each share replaces its own changed files, and the first sets every folder's metadata back
    (none was made by the restore), once all are done."""
    tree(src)
    changed = ("n003.txt", "n004.txt", "docs/d2.md", "docs2/same.md")
    for name in changed:  # an even time: the owner is the size's parity (71 and 78 bytes for the first two)
        os.utime(src / name, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    for n, folder in enumerate(["docs", "docs2", "."]):
        os.utime(src / folder, ns=(1_600_000_000_000_000_000 + n, 1_600_000_000_000_000_000 + n * 1000))
    stored = [os.lstat(src / name) for name in changed]
    assert {shares.owner(st.st_mtime_ns, st.st_size, 2) for st in stored} == {0, 1}  # both shares replace some
    before = read_tree(src)
    folder_times = times(src)
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    for name in changed:
        (src / name).write_bytes(b"changed since")
    os.chmod(src / "docs", 0o700)
    with Timekeep.open(repo) as tk:
        result = tk.restore(os.fsencode(src), sid, overwrite=True)
    assert len(shared) == 1 and result.errors == () and result.kept_beside == ()
    assert sorted(os.path.relpath(os.fsdecode(p), src) for p in result.written) == [
        "docs/d2.md", "docs2/same.md", "n003.txt", "n004.txt"]
    assert read_tree(src) == before
    assert times(src) == folder_times


def test_a_share_that_dies_costs_its_files_and_the_restore_again_finishes(
        src: Path, tmp_path: Path, shared: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    tree(src)
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    dest = tmp_path / "dest"
    serve = shares._serve
    monkeypatch.setattr(shares, "_serve", lambda *_: os.kill(os.getpid(), signal.SIGKILL))  # killed at its start
    with Timekeep.open(repo) as tk:
        result = tk.restore(os.fsencode(src), sid, dest=os.fsencode(dest))
    assert len(shared) == 1
    assert [(e.path, e.kind) for e in result.errors] == [(os.fsencode(src), "restore")]
    assert "stopped before it finished" in result.errors[0].message
    restored = read_tree(dest / "src")
    assert restored != read_tree(src)  # the other share's files are missing
    assert all(v == read_tree(src)[k] for k, v in restored.items() if v[0] != "dir")  # what is there is right
    monkeypatch.setattr(shares, "_serve", serve)
    with Timekeep.open(repo) as tk:
        again = tk.restore(os.fsencode(src), sid, dest=os.fsencode(dest))
    assert again.errors == () and again.written and again.unchanged
    assert read_tree(dest / "src") == read_tree(src)  # (its folders' times are now: none was made this time)


def test_no_process_to_be_had_restores_in_one(src: Path, tmp_path: Path, shared: list[int],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The second share cannot be forked (the process limit): the first restores everything, as alone."""
    tree(src)
    repo = new_repo(tmp_path, src)
    sid = backup(repo)

    def no_process() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_process)
    dest = tmp_path / "dest"
    with Timekeep.open(repo) as tk:
        result = tk.restore(os.fsencode(src), sid, dest=os.fsencode(dest))
    assert result.errors == ()
    assert read_tree(dest / "src") == read_tree(src)
    assert times(dest / "src") == times(src)


KILLED_RESTORE = """
import sys
from timekeep.core.restore import shares
shares.SHARES, shares.MIN_FILES = 2, 1
from timekeep.core.cli.main import entry
sys.argv = ["timekeep", *sys.argv[1:]]
entry()
"""


def children_of(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] in "ZX"
    except FileNotFoundError:
        return True


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_a_restore_killed_in_shares_leaves_no_share_and_restores_again(src: Path, tmp_path: Path,
                                                                      how: signal.Signals) -> None:
    """Killed, its shares die with it (the kernel kills them); interrupted (Ctrl-C, which a share ignores), it
    stops them itself and exits 130. Either way, no temporary is left and the restore run again finishes."""
    make_tree(src, {f"d{d}": {f"f{i:04d}.txt": payload(d * 10_000 + i, 200) for i in range(1000)} for d in range(4)})
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    dest = tmp_path / "dest"
    args = [sys.executable, "-c", KILLED_RESTORE, "restore", str(src), "--at", str(sid), "--to", str(dest),
            "--quiet", "--repo", str(repo)]
    tick = threading.Event()  # never set: its wait is how often a condition is looked at again
    with subprocess.Popen(args, env=child_env()) as proc:
        share: list[int] = []
        while not share and proc.poll() is None:
            share = children_of(proc.pid)
            tick.wait(0.002)
        out = dest / "src"
        while proc.poll() is None and sum(len(os.listdir(d)) for d in out.glob("d*")) < 300:
            tick.wait(0.002)  # some files in, from either share
        proc.send_signal(how)
    assert proc.returncode == (-how if how == signal.SIGKILL else 130), "the restore ended before it was stopped"
    assert share
    while not all(gone(pid) for pid in share):  # ended with it, not left to write on
        tick.wait(0.01)
    again = subprocess.run(args, env=child_env(), capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stderr
    assert read_tree(out) == read_tree(src)
    assert not [n for d in out.glob("d*") for n in os.listdir(d) if n.endswith(".restoring")]


WHEN_SHARED = """
import _thread, os, sys, threading
from timekeep.core.repository import Repository
from timekeep.core.restore import shares
shares.SHARES, shares.MIN_FILES = 2, 30
folder = os.fsencode(sys.argv[2])
with Repository.open(sys.argv[1]) as opened:
    said = [shares.share_count(opened, folder), shares.share_count(opened, folder + b"/f1.txt")]
    shares.MIN_FILES = 31
    said.append(shares.share_count(opened, folder))
    shares.MIN_FILES = 30
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    said.append(shares.share_count(opened, folder))
    stop.set()
    other.join()
    held = _thread.allocate_lock()
    held.acquire()
    _thread.start_new_thread(held.acquire, ())  # a thread `threading` does not know (as Qt's are not)
    said.append(shares.share_count(opened, folder))
    held.release()
    while len(os.listdir("/proc/self/task")) > 1:
        stop.wait(0.001)
    with Repository.open(sys.argv[1]) as twice:
        twice.db.connection()
        said.append(shares.share_count(opened, folder))
    said.append(shares.share_count(opened, folder))
print(said)
"""


def test_a_restore_is_shared_only_where_forking_is_safe(src: Path, tmp_path: Path) -> None:
    """In a fresh process (one thread): a folder with enough names below it, yes; a file, a folder with too few,
    while another thread runs (one `threading` started, or one it does not know, as it knows none of Qt's), or
    while the index is open a second time in the process (SQLite's state for the file would be shared with the
    fork): no."""
    make_tree(src, {f"f{i}.txt": b"x%d" % i for i in range(30)})
    repo = new_repo(tmp_path, src)
    backup(repo)
    done = subprocess.run([sys.executable, "-c", WHEN_SHARED, str(repo), str(src)], env=child_env(),
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[2, 1, 1, 1, 1, 1, 2]"
