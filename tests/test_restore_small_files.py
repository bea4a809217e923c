"""A folder's small files are written by workers (core/restore/small_files.py) and settled in order: more files
than the workers hold at once come back byte-exact, the restore's lists follow the folder's order, a second
name of one file is still a hard link, and a file already there is still kept, the stored one beside it."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import pytest

from tests.helpers import backup, make_tree, new_repo, read_tree
from tests.restore_support import src as src
from tests.treeops import payload
from timekeep.core.api import Timekeep
from timekeep.core.restore import safe_write as sw
from timekeep.core.restore import small_files
from timekeep.core.restore.small_files import AHEAD

# how a folder restore writes its small files: "main" through the restorer's general path (no workers at all),
# "inline" on the main thread as a worker would (the creates never show that workers pay), "workers" handed over
# from the first file, "handed over" after the first LOOK_EVERY files, as when the creates turn out slow
MODES = {"main": {"WORKERS": 0}, "inline": {"HAND_OVER_ABOVE": 1.0}, "workers": {"HAND_OVER_ABOVE": 0.0},
         "handed over": {"HAND_OVER_ABOVE": 1e-12, "LOOK_EVERY": 8}}


def writing(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in MODES[mode].items():
        monkeypatch.setattr(small_files, name, value)


def workers_alive() -> bool:
    return any(t.name.startswith("timekeep-small") for t in threading.enumerate())


@pytest.mark.parametrize(("mode", "unnamed"), [("main", True), ("inline", True), ("workers", True),
                                               ("handed over", True), ("workers", False), ("inline", False)])
def test_many_small_files_come_back_in_order_with_links_and_kept_files(src: Path, tmp_path: Path, mode: str,
                                                                       unnamed: bool,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    writing(mode, monkeypatch)
    if not unnamed:  # a filesystem without O_TMPFILE: made under temporary names
        monkeypatch.setattr(sw, "UNNAMED", 0)
    count = 2 * AHEAD + 7
    make_tree(src, {**{f"n{i:04d}.txt": payload(i, 100 + i) for i in range(count)},
                    "sub": {"deep.txt": b"deep"}, "zz.bin": payload(9999, 300_000)})
    os.link(src / "n0003.txt", src / "sub" / "also-n0003.txt")
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    dest = tmp_path / "dest"
    make_tree(dest / "src", {"n0005.txt": b"a file of today"})
    alive: list[bool] = []  # at the start and at each file settled: whether the workers ran then
    with Timekeep.open(repo) as tk:
        result = tk.restore(os.fsencode(src), sid, dest=os.fsencode(dest), progress=lambda _: alive.append(
            workers_alive()))
    assert not workers_alive()  # stopped with the restore
    if mode in ("main", "inline"):
        assert alive and not any(alive)
    elif mode == "workers":
        assert not alive[0] and alive[1:] and all(alive[1:])
    else:  # the first LOOK_EVERY files here, then the workers (each file's create took more than a picosecond)
        assert alive[:small_files.LOOK_EVERY - 1] == [False] * (small_files.LOOK_EVERY - 1) and alive[-1]
    assert result.errors == ()
    out = dest / "src"
    wanted = [*(f"n{i:04d}.txt" for i in range(count) if i != 5), "sub/also-n0003.txt", "sub/deep.txt", "zz.bin"]
    assert [os.fsdecode(p) for p in result.written] == [str(out / name) for name in wanted]
    assert [os.path.basename(os.fsdecode(p)) for p, _ in result.kept_beside] == ["n0005.txt"]
    assert (out / "n0005.txt").read_bytes() == b"a file of today"
    beside = Path(os.fsdecode(result.kept_beside[0][1]))
    assert beside.read_bytes() == (src / "n0005.txt").read_bytes()
    beside.unlink()
    (out / "n0005.txt").write_bytes((src / "n0005.txt").read_bytes())
    assert {k: v[:2] for k, v in read_tree(out).items()} == {k: v[:2] for k, v in read_tree(src).items()}
    assert os.stat(out / "n0003.txt").st_ino == os.stat(out / "sub" / "also-n0003.txt").st_ino
    assert not [n for n in os.listdir(out) if n.endswith(".restoring")]


def test_the_handover_pays_when_most_creates_of_its_window_took_longer_than_its_bound() -> None:
    """Measured over each window of `every` files: more than half of a window's creates over the bound start the
    workers; one create that waited long (the kernel busy elsewhere) does not, and the window before does not
    count toward the next."""
    handover = small_files.Handover(above=50e-6, every=4)
    answers = []
    for seconds in (3e-3, 10e-6, 12e-6, 11e-6,  # one stall, 760 µs a file on average: fast all the same
                    60e-6, 70e-6, 10e-6, 10e-6,  # half over the bound: not most
                    60e-6, 10e-6, 70e-6, 55e-6):  # three of four
        handover.created(seconds)
        answers.append(handover.pays())
    assert answers == [False] * 11 + [True]
    again = small_files.Handover(above=50e-6, every=4)
    for seconds in (1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 60e-6):  # slow, then a window with one slow create
        again.created(seconds)
        answers.append(again.pays())
    assert answers[12:] == [False, False, False, True, False, False, False, False]
    assert small_files.Handover(above=0.0).pays()  # 0: from the first file
    slow_start = small_files.Handover(above=50e-6, every=2)
    slow_start.created(1.0)
    assert not slow_start.pays()  # only at the end of its window


class ScriptedCreates:
    """A clock for `small_files.timed` (read once before a create and once after): the first `slow` creates take
    100 µs each, every later one 1 µs; with `slow` None every one is slow."""

    def __init__(self, slow: int | None) -> None:
        self.slow, self.now, self.reads, self.creates = slow, 0.0, 0, 0

    def __call__(self) -> float:
        self.reads += 1
        if self.reads % 2 == 0:
            self.creates += 1
            self.now += 100e-6 if self.slow is None or self.creates <= self.slow else 1e-6
        return self.now


def where_written(count: int, always_slow: bool) -> list[str]:
    """Which thread writes each of `count` files in a row, the first window's creates slow: windows of 8 here,
    32 at a time on the workers after each slow one."""
    out: list[str] = []
    while len(out) < count:
        out += ["main"] * 8
        if always_slow or len(out) == 8:
            out += ["worker"] * 32
    return out[:count]


@pytest.mark.parametrize("slow", [8, None])
def test_the_main_thread_takes_files_back_once_creates_are_fast_again(src: Path, tmp_path: Path, slow: int | None,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Every PROBE_EVERY files handed over, one window is written on the main thread and timed: still slow, the
    workers go on; fast, the main thread keeps the files. Each file comes back byte-exact either way."""
    monkeypatch.setattr(small_files, "LOOK_EVERY", 8)
    monkeypatch.setattr(small_files, "PROBE_EVERY", 32)
    monkeypatch.setattr(small_files, "HAND_OVER_ABOVE", 50e-6)
    monkeypatch.setattr(small_files, "clock", ScriptedCreates(slow))
    named = sw.name_unnamed
    threads: dict[str, str] = {}

    def spy(fd: int, dir_fd: int, name: bytes) -> None:  # the real call, and the thread that made the file
        threads[os.fsdecode(name)] = "worker" if threading.current_thread().name.startswith("timekeep-small") \
            else "main"
        named(fd, dir_fd, name)

    monkeypatch.setattr(sw, "name_unnamed", spy)
    count = 150
    make_tree(src, {f"n{i:03d}.txt": payload(i, 60 + i) for i in range(count)})
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    dest = tmp_path / "dest"
    with Timekeep.open(repo) as tk:
        result = tk.restore(os.fsencode(src), sid, dest=os.fsencode(dest))
    assert result.errors == () and len(result.written) == count
    assert [threads[f"n{i:03d}.txt"] for i in range(count)] == where_written(count, slow is None)
    assert read_tree(dest / "src") == read_tree(src)
    assert not workers_alive()


@pytest.mark.parametrize("mode", ["main", "inline", "workers", "handed over"])
def test_a_tree_of_small_folders_gets_each_folders_times_and_bits_after_its_files(
        src: Path, tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder is left (its times and bits set, its descriptor closed) only once its files are placed, even
    while the workers still write the files of the folders planned after it."""
    writing(mode, monkeypatch)
    make_tree(src, {f"p{p}": {f"d{d}": {f"f{i}.txt": payload(p * 100 + d * 10 + i, 50 + i) for i in range(7)}
                              for d in range(4)} for p in range(5)})
    folders = [Path(d) for d, _, _ in os.walk(src) if Path(d) != src]
    for n, folder in enumerate(sorted(folders, key=lambda d: -len(d.parts))):  # deepest first: no later change
        folder.chmod(0o750 if n % 2 else 0o755)
        os.utime(folder, ns=(1_600_000_000_000_000_000 + n, 1_600_000_000_000_000_000 + n * 1_000_000_007))
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    dest = tmp_path / "dest"
    fds_before = len(os.listdir("/proc/self/fd"))
    with Timekeep.open(repo) as tk:
        result = tk.restore(os.fsencode(src), sid, dest=os.fsencode(dest))
    assert len(os.listdir("/proc/self/fd")) == fds_before  # every folder's descriptor closed
    assert result.errors == ()
    assert len(result.written) == 5 * 4 * 7
    assert read_tree(dest / "src") == read_tree(src)
    for folder in folders:
        got, want = os.stat(dest / "src" / folder.relative_to(src)), os.stat(folder)
        assert (got.st_mtime_ns, got.st_mode) == (want.st_mtime_ns, want.st_mode), folder


def test_a_name_taken_while_a_worker_writes_its_unnamed_file_is_kept_and_the_file_goes_beside(
        src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The link that names a file made without a name fails on a name someone took meanwhile, as the rename does:
    what they wrote stays, the stored file goes beside it, and no temporary is left."""
    writing("workers", monkeypatch)
    make_tree(src, {f"f{i:03d}.txt": payload(i, 3_000 + i) for i in range(40)})
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    real_linkat = sw._linkat
    assert real_linkat is not None

    def linkat(fd: int, path: bytes, dir_fd: int, name: bytes, flags: int) -> int:
        if name == b"f003.txt":  # someone else makes the name just before the link
            with contextlib.suppress(FileExistsError):
                made = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=dir_fd)
                os.write(made, b"written by someone else meanwhile")
                os.close(made)
        return int(real_linkat(fd, path, dir_fd, name, flags))

    monkeypatch.setattr(sw, "_linkat", linkat)
    dest = tmp_path / "dest"
    with Timekeep.open(repo) as tk:
        result = tk.restore(os.fsencode(src), sid, dest=os.fsencode(dest))
    assert result.errors == ()
    out = dest / "src"
    assert (out / "f003.txt").read_bytes() == b"written by someone else meanwhile"
    [(kept, beside)] = result.kept_beside
    assert kept == os.fsencode(out / "f003.txt")
    assert Path(os.fsdecode(beside)).read_bytes() == (src / "f003.txt").read_bytes()
    assert len(os.listdir(out)) == 41 and not [n for n in os.listdir(out) if n.endswith(".restoring")]


def test_an_unnamed_file_is_named_through_proc_where_its_descriptor_cannot_be_linked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without linkat(AT_EMPTY_PATH) (a process without the capability), the link goes through /proc/self/fd."""
    monkeypatch.setattr(sw, "_linkat", None)
    dir_fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fd = sw.create_unnamed(dir_fd, 0o640)
        assert fd is not None and os.listdir(tmp_path) == []
        os.write(fd, b"whole")
        sw.name_unnamed(fd, dir_fd, b"named.txt")
        (tmp_path / "taken.txt").write_bytes(b"someone's")
        with pytest.raises(FileExistsError):
            sw.name_unnamed(fd, dir_fd, b"taken.txt")
        os.close(fd)
    finally:
        os.close(dir_fd)
    assert sorted(os.listdir(tmp_path)) == ["named.txt", "taken.txt"]
    assert (tmp_path / "named.txt").read_bytes() == b"whole" and (tmp_path / "taken.txt").read_bytes() == b"someone's"
