"""The scan's prefetch (core/capture/prefetch.py): a forked process meets the protected folders while the command
loads the engine, and the scan takes a bucket's children from it only where they digest to the digest kept. A
scan with it finds exactly what a scan without it finds; a listing missing, truncated, stale or hostile costs
speed, never a version; the child never outlives its use."""

from __future__ import annotations

import json
import marshal
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.agent_support import wait_for
from tests.helpers import make_tree, new_repo, read_tree
from tests.test_folder_digests import STEPS, big_folder, restored, stepped_tree
from timekeep.core.api import Timekeep
from timekeep.core.capture import prefetch
from timekeep.core.capture.excludes import Excludes
from timekeep.core.capture.scan import FolderScan, ScanItem
from timekeep.core.index import bucket_digests
from timekeep.core.index.folder_digests import FolderDigests
from timekeep.core.index.records import RECORD


@pytest.fixture(autouse=True)
def no_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files written just before a backup are not read again for being racy: each scan says what changed."""
    import timekeep.core.capture.read as read

    monkeypatch.setattr(read, "RACY_NS", 1)


@contextmanager
def handed(raw: bytes) -> Iterator[None]:
    """`raw` as what a prefetch's child wrote, for this process's next scans."""
    fd, name = tempfile.mkstemp()
    os.unlink(name)
    os.write(fd, raw)
    os.lseek(fd, 0, os.SEEK_SET)
    before, prefetch._started = prefetch._started, prefetch.Prefetch(None, fd)
    try:
        yield
    finally:
        prefetch.stop()
        prefetch._started = before


def met_now(repo: Path, budget: int = prefetch.MAX_CHILDREN) -> bytes:
    """What the child would write now."""
    return marshal.dumps(prefetch.met_by_prefetch(str(repo), budget))


def excludes_of(tk: Timekeep) -> Excludes:
    """The protected folder's exclusions, as a backup's scan has them: the kept digests are made with them."""
    (folder,) = tk.folders()
    return Excludes(folder.excludes)


def scanned_items(repo: Path, src: Path, *, digests: bool = True) -> tuple[set[tuple[bytes, str]], Any, Any]:
    """A full scan's findings, and the digests it would keep (found as stored, and pending)."""
    with Timekeep.open(repo, writer=True) as tk:
        db = tk._repo.db
        kept = FolderDigests(db) if digests else None
        items = {(i.path, i.action) for i in FolderScan(db, os.fsencode(src), excludes_of(tk), lambda e: None,
                                                        digests=kept).items()}
        return items, None if kept is None else sorted(kept._found), None if kept is None else kept._pending


def scan_counting(repo: Path, src: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[ScanItem], list[bytes]]:
    """A full scan's items, and the folders it listed and `lstat`ed whole itself."""
    import timekeep.core.capture.scan as scan

    whole: list[bytes] = []
    real = scan.met_in

    def spy(path: bytes, excludes: Excludes, cut: int) -> Any:
        whole.append(path)
        return real(path, excludes, cut)

    monkeypatch.setattr(scan, "met_in", spy)
    with Timekeep.open(repo, writer=True) as tk:
        db = tk._repo.db
        items = list(FolderScan(db, os.fsencode(src), excludes_of(tk), lambda e: None,
                                digests=FolderDigests(db)).items())
    monkeypatch.setattr(scan, "met_in", real)
    return items, whole


@pytest.mark.parametrize("whole", [bucket_digests.WHOLE, 1])  # 1: every folder of two or more kept by buckets
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=st.lists(STEPS, min_size=2, max_size=5), budget=st.sampled_from([prefetch.MAX_CHILDREN, 4]))
def test_a_scan_with_a_prefetch_finds_what_one_without_finds(history: list[list[tuple[int, str]]], whole: int,
                                                             budget: int, monkeypatch: pytest.MonkeyPatch) -> None:
    for n, base, src, repo in stepped_tree(history, whole, monkeypatch):
        plain, _, _ = scanned_items(repo, src, digests=False)
        vouched = scanned_items(repo, src)
        with handed(met_now(repo, budget)):  # (a budget of 4 leaves most folders to the scan)
            assert scanned_items(repo, src) == vouched
        assert vouched[0] == plain
        with handed(met_now(repo, budget)), Timekeep.open(repo, writer=True) as tk:
            snap = tk.backup()
        assert restored(repo, src, snap.id, base / f"out{n}") == read_tree(src)


def test_an_unchanged_tree_is_not_met_again_and_a_changed_bucket_is(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    names = [f"note{i:05d}.txt" for i in range(bucket_digests.WHOLE * 2)]
    repo, src = big_folder(tmp_path, names)
    make_tree(src / "small", {"a": b"a", "b": b"b"})
    with Timekeep.open(repo, writer=True) as tk:
        tk.backup()
    items, whole = scan_counting(repo, src, monkeypatch)
    assert items == [] and len(whole) == 3  # src, big, small: met by the scan itself
    with handed(met_now(repo)):
        items, whole = scan_counting(repo, src, monkeypatch)
    assert items == [] and whole == []
    (src / "big" / "note00042.txt").write_bytes(b"changed")
    (src / "small" / "a").write_bytes(b"changed too")
    with handed(met_now(repo)):
        items, whole = scan_counting(repo, src, monkeypatch)
    assert sorted((i.path, i.action) for i in items) == [(os.fsencode(src / "big" / "note00042.txt"), "read"),
                                                         (os.fsencode(src / "small" / "a"), "read")]
    assert whole == []  # a small folder is one bucket: its children met again by the names listed, not listed again


def test_a_change_after_the_prefetch_is_found_where_its_bucket_is_met_again(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan meets again every bucket whose listing does not hold: what changed there since the prefetch
    looked is seen as it is now. A file gone since then makes the folder be met whole."""
    names = [f"note{i:05d}.txt" for i in range(bucket_digests.WHOLE * 2)]
    repo, src = big_folder(tmp_path, names)
    big = src / "big"
    (big / "note00042.txt").write_bytes(b"changed before the prefetch")
    listed = met_now(repo)
    same_bucket = [n for n in names if bucket_digests.bucket_of(n.encode()) == bucket_digests.bucket_of(
        b"note00042.txt") and n != "note00042.txt"]
    (big / "note00042.txt").write_bytes(b"and changed again, longer, after it")
    (big / same_bucket[0]).write_bytes(b"changed after the prefetch, in a bucket met again")
    with handed(listed):
        items, whole = scan_counting(repo, src, monkeypatch)
    found = {i.path: i for i in items}
    assert set(found) == {os.fsencode(big / "note00042.txt"), os.fsencode(big / same_bucket[0])}
    assert found[os.fsencode(big / "note00042.txt")].observed.size == len(b"and changed again, longer, after it")
    assert whole == []
    (big / same_bucket[1]).unlink()
    with handed(listed):
        items, whole = scan_counting(repo, src, monkeypatch)
    assert whole == [os.fsencode(big)]
    assert {(i.path, i.action) for i in items} == {
        (os.fsencode(big / "note00042.txt"), "read"), (os.fsencode(big / same_bucket[0]), "read"),
        (os.fsencode(big / same_bucket[1]), "deleted")}


def test_a_change_after_the_prefetch_in_a_bucket_it_vouches_for_is_found_by_the_next_scan(
        tmp_path: Path) -> None:
    """What the prefetch met as stored is taken as stored, as a scan of its own a moment earlier would have
    found it: a file changed in between waits for the next scan (or the watcher), as one changed after a scan."""
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"a", "b.txt": b"b"})
    repo = new_repo(tmp_path, src)
    for _ in range(2):
        with Timekeep.open(repo, writer=True) as tk:
            tk.backup()
    listed = met_now(repo)
    (src / "a.txt").write_bytes(b"changed just after the prefetch looked")
    with handed(listed):
        assert scanned_items(repo, src)[0] == set()
    assert scanned_items(repo, src)[0] == {(os.fsencode(src / "a.txt"), "read")}


def test_the_prefetch_meets_as_the_scan_does(tmp_path: Path) -> None:
    """Names sorted, exclusions left out, a folder with a child that has no record (a socket) left to the scan."""
    import socket

    src = tmp_path / "src"
    make_tree(src, {"b.txt": b"b", "a.txt": b"a", "skip.tmp": b"x", "d": {"c": b"c"}, "s": {}})
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(src / "s" / "sock"))
        repo = new_repo(tmp_path, src)
        with Timekeep.open(repo, writer=True) as tk:
            tk.set_excludes(os.fsencode(src), ("*.tmp",), default_excludes=False)
        ((root, folders),) = prefetch.met_by_prefetch(str(repo))
    assert root == os.fsencode(src)
    listed = dict(folders)
    assert set(listed) == {os.fsencode(src), os.fsencode(src / "d")}
    assert listed[os.fsencode(src)][0] == [b"a.txt", b"b.txt", b"d", b"s"]
    assert len(listed[os.fsencode(src)][1]) == 4 * RECORD.size
    assert RECORD.unpack_from(listed[os.fsencode(src)][1], 0)[0] == 1  # a.txt's size
    assert prefetch.parse(marshal.dumps(prefetch.met_by_prefetch(str(repo)))) == {root: listed}


GOOD = [(b"/src", [(b"/src", ([b"a", b"b"], bytes(2 * RECORD.size)))])]


@pytest.mark.parametrize("raw", [
    b"", b"garbage", marshal.dumps(GOOD)[:-3], marshal.dumps({"a": 1}), marshal.dumps([(b"/src",)]),
    marshal.dumps([(b"/src", [(b"/elsewhere", ([b"a"], bytes(RECORD.size)))])]),  # outside its protected folder
    marshal.dumps([(b"src", [(b"src", ([b"a"], bytes(RECORD.size)))])]),  # not an absolute path
    marshal.dumps([(b"/src", [(b"/src", ([b"b", b"a"], bytes(2 * RECORD.size)))])]),  # not sorted
    marshal.dumps([(b"/src", [(b"/src", ([b"a", b"a"], bytes(2 * RECORD.size)))])]),  # twice
    marshal.dumps([(b"/src", [(b"/src", ([b"a/b"], bytes(RECORD.size)))])]),  # not a child
    marshal.dumps([(b"/src", [(b"/src", ([b".."], bytes(RECORD.size)))])]),
    marshal.dumps([(b"/src", [(b"/src", ([b""], bytes(RECORD.size)))])]),
    marshal.dumps([(b"/src", [(b"/src", ([b"a"], bytes(RECORD.size - 1)))])]),  # a record short
    marshal.dumps([(b"/src", [(b"/src", (["a"], bytes(RECORD.size)))])]),  # a name not bytes
    marshal.dumps([(b"/src", [(b"/src", ([b"a\0b", b"c"], bytes(2 * RECORD.size)))])]),  # a NUL in a name
    marshal.dumps([(b"/src", [(b"/src", ([b"a", b""], bytes(2 * RECORD.size)))])]),  # an empty name, last
], ids=["empty", "garbage", "truncated", "a dict", "a short item", "outside", "relative", "unsorted", "twice",
        "slash", "dotdot", "no name", "short record", "text", "nul", "empty last"])
def test_what_does_not_parse_is_dropped_whole(raw: bytes) -> None:
    assert prefetch.parse(raw) == {}
    assert prefetch.parse(marshal.dumps(GOOD)) == {b"/src": dict(GOOD[0][1])}


def test_a_hostile_listing_costs_speed_never_a_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A listing that parses but says what the disk does not hold (names that are not there, wrong records,
    a folder's children in another folder) is held to the kept digests: what does not digest to them is met
    again, and a child that cannot be met again makes the folder be met whole."""
    names = [f"note{i:05d}.txt" for i in range(bucket_digests.WHOLE * 2)]
    repo, src = big_folder(tmp_path, names)
    (src / "big" / "note00007.txt").write_bytes(b"changed")
    honest = prefetch.parse(met_now(repo))[os.fsencode(src)]
    big = os.fsencode(src / "big")
    listed_names, records = honest[big]
    forged = [
        (os.fsencode(src), [(big, ([*listed_names, b"zz-not-there"], records + bytes(RECORD.size)))]),
        (os.fsencode(src), [(big, (listed_names, bytes(len(records))))]),
        (os.fsencode(src), [(os.fsencode(src), honest[big]), (big, honest[os.fsencode(src)])]),
    ]
    expected = {(os.fsencode(src / "big" / "note00007.txt"), "read")}
    for root, folders in forged:
        with handed(marshal.dumps([(root, folders)])):
            items, _ = scan_counting(repo, src, monkeypatch)
        assert {(i.path, i.action) for i in items} == expected
    with handed(marshal.dumps([(os.fsencode(src), forged[0][1])])), Timekeep.open(repo, writer=True) as tk:
        snap = tk.backup()
    assert restored(repo, src, snap.id, tmp_path / "out") == read_tree(src)


def test_a_cli_backup_meets_only_the_changed_bucket_itself(tmp_path: Path) -> None:
    """`timekeep backup` forks the prefetch before it loads the engine, and its scan lists no folder itself (the
    changed bucket's children it `lstat`s by the names listed); the backup is whole and the child is gone when the
    command ends."""
    src = tmp_path / "src"
    make_tree(src, {"docs": {f"n{i}.txt": b"%d" % i for i in range(30)}, "photos": {"p.jpg": b"jpeg"}})
    repo = new_repo(tmp_path, src)
    for _ in range(2):
        assert cli_backup(repo, tmp_path).returncode == 0
    (src / "docs" / "n7.txt").write_bytes(b"edited")
    done = cli_backup(repo, tmp_path)
    assert done.returncode == 0, done.stderr
    met_whole, child = done.stderr.strip().splitlines()[-2:]
    assert met_whole == "met whole: []"  # the changed folder's one bucket met again by the names listed, no folder
    assert not Path(f"/proc/{child.split()[-1]}").exists() or "Z" in Path(f"/proc/{child.split()[-1]}/stat"
                                                                           ).read_text().split()[2]
    with Timekeep.open(repo) as tk:
        latest = tk.snapshots()[-1].id
    assert restored(repo, src, latest, tmp_path / "out") == read_tree(src)


COUNTING_CLI = """
import atexit, sys
from timekeep.core.capture import prefetch, scan
from timekeep.core.cli.main import entry
whole, real, child = [], scan.met_in, []
def spy(path, excludes, cut):
    whole.append(path)
    return real(path, excludes, cut)
scan.met_in = spy
real_start = prefetch.start
def start(repository):
    real_start(repository)
    child.append(prefetch._started.pid if prefetch._started else None)
prefetch.start = start
atexit.register(lambda: print(f"met whole: {whole}\\nprefetch child {child[0]}", file=sys.stderr))
sys.argv = ["timekeep", *sys.argv[1:]]
entry()
"""


def cli_backup(repo: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_STATE_HOME": str(tmp_path / "state"),
           "XDG_RUNTIME_DIR": ""}
    return subprocess.run([sys.executable, "-c", COUNTING_CLI, "backup", "--quiet", "--repo", str(repo)],
                          capture_output=True, text=True, env=env, timeout=120)


KILLED = """
import os, signal, sys
from timekeep.core.capture import prefetch
prefetch.start(lambda: sys.argv[1])
print(prefetch._started.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_child_ends_by_itself_when_the_command_is_killed(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {f"d{i}": {f"f{j}": b"x" for j in range(50)} for i in range(40)})
    repo = new_repo(tmp_path, src)
    killed = subprocess.run([sys.executable, "-c", KILLED, str(repo)], capture_output=True, text=True, timeout=60)
    assert killed.returncode == -signal.SIGKILL
    child = int(killed.stdout.split()[0])

    def gone() -> bool:
        try:
            return Path(f"/proc/{child}/stat").read_text().split()[2] == "Z"  # ended; its reaper not ours
        except FileNotFoundError:
            return True

    wait_for(gone, timeout=60, what="the orphaned prefetch to end")


LOADS = """
import sys
from timekeep.core.capture import prefetch
prefetch.met_by_prefetch(sys.argv[1])
print(" ".join(sorted(m for m in sys.modules if m.startswith(("timekeep.", "peewee", "sqlite3", "dataclasses")))))
"""


def test_the_child_loads_none_of_the_index(tmp_path: Path) -> None:
    """It runs while the command imports the engine: what it loads is time the scan would wait for."""
    src = tmp_path / "src"
    make_tree(src, {"a": b"a", "d": {"b": b"b"}})
    repo = new_repo(tmp_path, src)
    loaded = subprocess.run([sys.executable, "-c", LOADS, str(repo)], capture_output=True, text=True, check=True,
                            timeout=60).stdout.split()
    assert "timekeep.core.capture.met" in loaded and "timekeep.core.index.records" in loaded
    assert not {"peewee", "sqlite3", "dataclasses", "timekeep.core.index.scanned", "timekeep.core.types",
                "timekeep.core.index.bucket_digests"} & set(loaded), loaded


@pytest.mark.parametrize("folders_json", [b"", b'[{"path": "/src", "excl', b"\x00garbage\xff", b'{"path": 1}',
                                          "other excludes"],
                         ids=["empty", "truncated", "garbage", "not a list", "other excludes"])
def test_a_damaged_folders_json_leaves_the_prefetch_empty_handed_and_the_backup_whole(
        tmp_path: Path, folders_json: bytes | str) -> None:
    """The child reads folders.json as the drive holds it; the command's own open writes a damaged one again from
    the index, and one that parses is the drive's record, whose exclusions then rule. Whatever the child found
    there, the backup is the one the folders and exclusions in force make."""
    src = tmp_path / "src"
    make_tree(src, {"docs": {"a.txt": b"a", "b.tmp": b"b"}, "c.txt": b"c"})
    repo = new_repo(tmp_path, src)  # (the default exclusions: *.tmp among them)
    for _ in range(2):  # the second keeps the digests, so the prefetch's listing is looked at
        assert cli_backup(repo, tmp_path).returncode == 0
    (src / "docs" / "a.txt").write_bytes(b"edited")
    (src / "docs" / "new.tmp").write_bytes(b"excluded unless the exclusions change")
    if isinstance(folders_json, str):
        (repo / "folders.json").write_text(json.dumps([{"path": str(src), "excludes": []}]))
    else:
        (repo / "folders.json").write_bytes(folders_json)
    done = cli_backup(repo, tmp_path)
    assert done.returncode == 0, done.stderr
    with Timekeep.open(repo) as tk:
        latest = tk.snapshots()[-1].id
    expected = read_tree(src)
    if not isinstance(folders_json, str):
        expected = {path: entry for path, entry in expected.items() if not path.endswith(b".tmp")}
    assert restored(repo, src, latest, tmp_path / "out") == expected


def test_a_prefetch_still_at_work_when_the_scan_asks_is_given_up_after_its_wait() -> None:
    """A child stuck on a slow drive must not hold the backup: after its wait the scan meets every folder itself."""
    read_end, write_end = os.pipe()
    os.write(write_end, marshal.dumps(GOOD)[:10])  # begun, never finished
    stuck = prefetch.Prefetch(None, read_end)
    try:
        assert stuck.listings(b"/src", wait=0.05) == {}
        assert stuck.fd is None  # its pipe let go
    finally:
        os.close(write_end)


def test_a_child_gone_with_its_whole_bucket_makes_the_folder_be_met_and_compared_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every bucket the listing has holds, but the index holds one more child than they vouch for (the only one
    of its bucket, deleted before the prefetch looked): the folder is listed here and compared row by row."""
    names = [f"f{i}" for i in range(bucket_digests.WHOLE * 3)]
    lonely = next(n for n in names if bucket_digests.bucket_of(n.encode()) == 7)
    names = [n for n in names if bucket_digests.bucket_of(n.encode()) != 7 or n == lonely]
    repo, src = big_folder(tmp_path, names)
    (src / "big" / lonely).unlink()
    with handed(met_now(repo)):
        items, whole = scan_counting(repo, src, monkeypatch)
    assert {(i.path, i.action) for i in items} == {(os.fsencode(src / "big"), "metadata"),  # its mtime
                                                   (os.fsencode(src / "big" / lonely), "deleted")}
    assert whole == [os.fsencode(src / "big")]


def test_a_listing_too_old_when_the_scan_first_asks_is_not_used() -> None:
    """A backup that waited long (the drive's writer lock, a passphrase) meets every folder itself."""
    now = [100.0]
    read_end, write_end = os.pipe()
    os.write(write_end, marshal.dumps(GOOD))
    os.close(write_end)
    late = prefetch.Prefetch(None, read_end, clock=lambda: now[0])
    now[0] += prefetch.MAX_AGE_SECONDS + 1
    assert late.listings(b"/src") == {} and late.fd is None
    read_end, write_end = os.pipe()
    os.write(write_end, marshal.dumps(GOOD))
    os.close(write_end)
    in_time = prefetch.Prefetch(None, read_end, clock=lambda: now[0])
    now[0] += prefetch.MAX_AGE_SECONDS
    assert in_time.listings(b"/src") == dict(GOOD[0][1])
