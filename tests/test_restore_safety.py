"""A restore is safe to run on a person's files: it leaves what it keeps exactly as it is, replaces nothing
it was not asked to (not even a file that appears while it works), makes replacements durable, goes as
deep and as long-named as the filesystem does, turns hostile or damaged stored values into one line
each, and clears up after a restore that was killed."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

import timekeep.core.restore.safe_write as sw
from tests.helpers import backup, make_tree, new_repo, read_tree
from tests.restore_support import ROOT, b, fd_tree, in_shares, reseal, xattrs_of
from tests.restore_support import src as src
from tests.treeops import index_db, payload
from timekeep.core.api import Timekeep
from timekeep.core.cli.main import main
from timekeep.core.restore import small_files
from timekeep.core.restore.restore import beside_name

SNAPSHOT_NS = 1_780_000_000 * 10**9
NAME_MAX = 255




def cli(capsys: pytest.CaptureFixture[str], repo: Path, *args: str) -> tuple[int, str, str]:
    code = main([*args, "--repo", str(repo)])
    out = capsys.readouterr()
    return code, out.out, out.err


def stamp(path: Path) -> tuple[int, int, int, int, int, int, dict[bytes, bytes]]:
    st = os.lstat(path)
    return st.st_ino, st.st_mode, st.st_uid, st.st_mtime_ns, st.st_ctime_ns, st.st_nlink, xattrs_of(path)


# --- what a restore keeps, it keeps as it is ------------------------------------------------------------------


def test_without_overwrite_kept_files_and_folders_keep_the_metadata_they_have_now(
        src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_tree(src, {"a.txt": b"alpha", "sub": {"c.txt": b"sea"}})
    repo = new_repo(tmp_path, src)
    first = backup(repo)
    stored = read_tree(src)
    (src / "a.txt").chmod(0o600)  # what the person did since: their choice, not the restore's to undo
    os.utime(src / "a.txt", ns=(1, 1_500_000_000 * 10**9))
    os.setxattr(src / "a.txt", "user.note", b"added later")
    if os.geteuid() == 0:
        os.chown(src / "a.txt", 1234, 1234)
    (src / "sub").chmod(0o700)
    os.utime(src / "sub", ns=(1, 1_400_000_000 * 10**9))
    (src / "b.txt").write_bytes(b"new since")
    before = {name: stamp(src / name) for name in ("a.txt", "sub", "sub/c.txt")}
    code, out, err = cli(capsys, repo, "restore", str(src), "--at", str(first))
    assert (code, err) == (0, "")
    assert {name: stamp(src / name) for name in before} == before
    assert "--overwrite sets them back" in out
    with Timekeep.open(repo) as tk:
        result = tk.restore(b(src), first, overwrite=True)
    assert result.errors == () and result.unchanged == 2
    assert read_tree(src) == {**stored, b"b.txt": ("file", b"new since", 0o644)}
    a = os.lstat(src / "a.txt")
    assert (a.st_ino, a.st_uid, xattrs_of(src / "a.txt")) == (before["a.txt"][0], 0 if os.geteuid() == 0 else
                                                              os.geteuid(), {})  # set back on the same file
    assert stat.S_IMODE(os.lstat(src / "sub").st_mode) == stored[b"sub"][2]


# --- a newcomer is never replaced; a replacement is durable -----------------------------------------------------


@pytest.fixture
def deleted_since(src: Path, tmp_path: Path) -> tuple[Path, int]:
    make_tree(src, {"report.txt": b"as it was", "other.txt": b"other"})
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    (src / "report.txt").unlink()
    return repo, sid


class Newcomer:
    """Someone else writes `report.txt` in the very instant before the restore moves its file to that name:
    every way of moving a file there (rename, renameat2, link) first makes the newcomer."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, renameat2: bool) -> None:
        self.made = False
        real_rename, real_link, real_renameat2 = os.rename, os.link, getattr(sw, "_renameat2", None)

        def rename(src: bytes, dst: bytes, *, src_dir_fd: int | None = None, dst_dir_fd: int | None = None) -> None:
            self.arrive(dst, dst_dir_fd)
            real_rename(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)

        def link(src: bytes, dst: bytes, *, src_dir_fd: int | None = None, dst_dir_fd: int | None = None,
                 follow_symlinks: bool = True) -> None:
            self.arrive(dst, dst_dir_fd)
            real_link(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd, follow_symlinks=follow_symlinks)

        def renameat2(src_fd: int, src: bytes, dst_fd: int, dst: bytes, flags: int) -> int:
            self.arrive(dst, dst_fd)
            assert real_renameat2 is not None
            return int(real_renameat2(src_fd, src, dst_fd, dst, flags))

        monkeypatch.setattr(os, "rename", rename)
        monkeypatch.setattr(os, "link", link)
        monkeypatch.setattr(sw, "_renameat2", renameat2 if renameat2 and real_renameat2 else None, raising=False)

    def arrive(self, name: bytes, dir_fd: int | None) -> None:
        if name == b"report.txt" and not self.made:
            self.made = True
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=dir_fd)
            os.write(fd, b"written by someone else meanwhile")
            os.close(fd)


@pytest.mark.parametrize("renameat2", [True, False], ids=["renameat2", "no-renameat2"])
def test_a_name_that_appears_just_before_the_move_is_never_replaced(
        src: Path, deleted_since: tuple[Path, int], monkeypatch: pytest.MonkeyPatch, renameat2: bool) -> None:
    repo, sid = deleted_since
    newcomer = Newcomer(monkeypatch, renameat2)  # without renameat2: a filesystem that refuses the flag
    with Timekeep.open(repo) as tk:
        result = tk.restore(b(src / "report.txt"), sid)
    monkeypatch.undo()
    assert newcomer.made and result.errors == ()
    assert (src / "report.txt").read_bytes() == b"written by someone else meanwhile"
    [(kept, beside)] = result.kept_beside
    assert kept == b(src / "report.txt") and Path(os.fsdecode(beside)).read_bytes() == b"as it was"
    assert sorted(os.listdir(src)) == sorted(["report.txt", "other.txt", os.path.basename(os.fsdecode(beside))])


def test_overwrite_syncs_the_new_file_before_it_takes_the_name_and_the_folder_after(
        src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(src, {"report.txt": payload(1, 200_000)})
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    (src / "report.txt").write_bytes(b"changed since")
    events: list[tuple[str, int]] = []
    real_fsync, real_rename = os.fsync, os.rename

    def fsync(fd: int) -> None:
        events.append(("fsync", os.fstat(fd).st_ino))
        real_fsync(fd)

    def rename(src_name: bytes, dst: bytes, *, src_dir_fd: int | None = None, dst_dir_fd: int | None = None) -> None:
        if dst == b"report.txt":
            events.append(("rename", os.stat(src_name, dir_fd=src_dir_fd, follow_symlinks=False).st_ino))
        real_rename(src_name, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    with Timekeep.open(repo) as tk:
        result = tk.restore(b(src / "report.txt"), sid, overwrite=True)
    monkeypatch.undo()
    assert result.errors == () and (src / "report.txt").read_bytes() == payload(1, 200_000)
    new_file, folder = os.stat(src / "report.txt").st_ino, os.stat(src).st_ino
    renamed = events.index(("rename", new_file))
    assert ("fsync", new_file) in events[:renamed]
    assert ("fsync", folder) in events[renamed:]


# --- depth and long names ---------------------------------------------------------------------------------------

DEPTH = 400


def test_a_folder_nested_deeper_than_path_max_restores_whole(src: Path, tmp_path: Path) -> None:
    deep = src / "nest"
    deep.mkdir()
    level = deep
    for n in range(DEPTH):
        level = level / "d"
        level.mkdir()
        if n % 100 == 99:
            (level / "f.txt").write_bytes(b"at depth %d" % n)
    (src / "zz-after.txt").write_bytes(b"restored after the deep branch")
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    dest = tmp_path / "dest"
    for _ in range(15):  # the destination alone takes most of PATH_MAX: what is restored goes beyond it
        dest = dest / ("x" * 250)
    assert len(b(dest)) + len(b"/src") + 2 * DEPTH > 4096
    with Timekeep.open(repo) as tk:
        result = tk.restore(b(src), sid, dest=b(dest))
    assert result.errors == ()
    fd = os.open(dest / "src", os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert fd_tree(fd) == read_tree(src)
    finally:
        os.close(fd)


@pytest.mark.parametrize("name", [
    b"n" * 220 + b"." + b"x" * 34,  # 255 bytes with a long extension
    b"n" * 200 + b"." + b"x" * 30,  # a 31-byte extension
    ("x" + "é" * 127).encode(),  # 255 bytes of UTF-8 whose cut falls inside a character
    ("ü" * 125).encode() + b".txt",
], ids=["255-long-extension", "31-byte-extension", "255-utf8", "254-utf8-ext"])
def test_a_long_name_is_restored_beside_its_changed_current_version(src: Path, tmp_path: Path, name: bytes) -> None:
    path = os.path.join(b(src), name)
    Path(os.fsdecode(path)).write_bytes(b"stored")
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    Path(os.fsdecode(path)).write_bytes(b"changed since")
    with Timekeep.open(repo) as tk:
        result = tk.restore(path, sid)
    assert result.errors == ()
    [(kept, beside)] = result.kept_beside
    assert kept == path
    written = os.path.basename(beside)
    assert len(written) <= NAME_MAX and b" (restored " in written
    if _is_utf8(name):
        written.decode()  # never a split character
    assert Path(os.fsdecode(beside)).read_bytes() == b"stored"
    assert Path(os.fsdecode(path)).read_bytes() == b"changed since"


def _is_utf8(name: bytes) -> bool:
    try:
        name.decode()
    except UnicodeDecodeError:
        return False
    return True


WHEN = datetime.fromtimestamp(SNAPSHOT_NS / 1e9).strftime("%Y-%m-%d %H%M").encode()


@pytest.mark.parametrize(("name", "n", "want"), [
    (b"report.txt", 1, b"report (restored WHEN).txt"),
    (b"report.txt", 3, b"report (restored WHEN 3).txt"),
    (b".bashrc", 1, b".bashrc (restored WHEN)"),
    (b"a." + b"e" * 40, 1, b"a." + b"e" * 40 + b" (restored WHEN)"),  # not a 40-byte extension
    (b"n" * 250 + b".txt", 1, b"n" * (255 - len(b".txt (restored )") - len(WHEN)) + b" (restored WHEN).txt"),
])
def test_beside_names(name: bytes, n: int, want: bytes) -> None:
    assert beside_name(name, SNAPSHOT_NS, n) == want.replace(b"WHEN", WHEN)


def test_beside_names_fit_and_never_split_a_character() -> None:
    for name in (b"n" * 255, ("é" * 127).encode(), ("x" + "€" * 84).encode(), ("😀" * 63).encode() + b".md"):
        for n in (1, 2, 999):
            got = beside_name(name, SNAPSHOT_NS, n)
            assert len(got) <= NAME_MAX
            got.decode()
            assert name.endswith(b".md") == got.endswith(b".md")


# --- hostile or damaged stored values ------------------------------------------------------------------------


@pytest.fixture
def hostile(src: Path, tmp_path: Path) -> tuple[Path, int]:
    make_tree(src, {"a.txt": b"alpha", "big.txt": b"big", "mode.txt": b"mode", "owner.txt": b"owner",
                    "attrs.txt": b"attrs", "typed.txt": b"typed", "z.txt": b"zed", "link": "-> a.txt"})
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    reseal(repo, b(src / "link"), link_target=b"a.txt\0/etc/passwd")
    reseal(repo, b(src / "big.txt"), size=-3)
    reseal(repo, b(src / "mode.txt"), mode=stat.S_IFDIR | 0o7777)
    reseal(repo, b(src / "owner.txt"), uid=2**32 - 1)
    reseal(repo, b(src / "attrs.txt"), xattrs=b"\x06\x00\x00\x00user.\x00\x01\x00\x00\x00v")
    with index_db(repo) as conn:  # a value of the wrong type: no seal can even be computed over it
        conn.execute("UPDATE version SET mtime_ns = 1.5 WHERE file_id = (SELECT id FROM file WHERE path = ?)",
                     (b(src / "typed.txt"),))
    return repo, sid


@pytest.mark.parametrize("shared", [False, True])
def test_hostile_stored_values_cost_their_entry_alone_with_one_line_each(
        src: Path, tmp_path: Path, hostile: tuple[Path, int], capsys: pytest.CaptureFixture[str], shared: bool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """In one process, and in shares (each walks the folder: an entry every share meets is named once)."""
    repo, sid = hostile
    dest = tmp_path / "dest"
    forks = in_shares(monkeypatch) if shared else []
    code, _, err = cli(capsys, repo, "restore", str(src), "--at", str(sid), "--to", str(dest))
    assert len(forks) == shared
    assert code == 1 and "Traceback" not in err
    lines = err.strip().splitlines()
    bad = ("link", "big.txt", "mode.txt", "owner.txt", "attrs.txt", "typed.txt")
    assert len(lines) == len(bad) and all(line.startswith("timekeep: could not restore ") for line in lines)
    assert all(any(f"/src/{name}" in line for line in lines) for name in bad), lines
    assert read_tree(dest / "src") == {b"a.txt": ("file", b"alpha", 0o644), b"z.txt": ("file", b"zed", 0o644)}


def test_cat_of_an_entry_with_values_of_the_wrong_type_is_one_line(
        src: Path, hostile: tuple[Path, int], capsys: pytest.CaptureFixture[str]) -> None:
    repo, sid = hostile
    code, out, err = cli(capsys, repo, "cat", str(src / "typed.txt"), "--at", str(sid))
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("at", ["99999999999999999999999", "9223372036854775808", "0001-01-01",
                                "0001-01-01 00:00", "0001-01-01T00:00Z", "9999-12-31", "999999 weeks ago"])
@pytest.mark.parametrize("command", ["cat", "restore"])
def test_an_out_of_range_time_is_one_line_and_exit_2(src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     at: str, command: str) -> None:
    make_tree(src, {"a.txt": b"alpha"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    code, out, err = cli(capsys, repo, command, str(src / "a.txt"), "--at", at)
    assert (code, out) == (2, "")
    assert len(err.strip().splitlines()) == 1 and err.startswith("timekeep: ") and "Traceback" not in err


# --- a killed restore's temporaries ---------------------------------------------------------------------------

KILLED_RESTORE = """
import os, signal, sys
from timekeep.core.api import Timekeep
with Timekeep.open(sys.argv[1]) as tk:
    tk.restore(sys.argv[2].encode(), int(sys.argv[3]), dest=sys.argv[4].encode(),
               progress=lambda p: os.kill(os.getpid(), signal.SIGKILL))
"""


@pytest.fixture
def live_process() -> Iterator[int]:
    """A process that runs until the test is over (it waits for input that never comes)."""
    proc = subprocess.Popen(["cat"], stdin=subprocess.PIPE)
    yield proc.pid
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait()


def test_the_next_restore_removes_a_killed_restores_temporaries_and_no_live_ones(
        src: Path, tmp_path: Path, live_process: int) -> None:
    make_tree(src, {"big.bin": payload(7, 3_000_000), "small.txt": b"small"})
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    dest = tmp_path / "dest"
    run = subprocess.run([sys.executable, "-c", KILLED_RESTORE, str(repo), str(src), str(sid), str(dest)],
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, timeout=120, check=False)
    assert run.returncode == -signal.SIGKILL, run.stderr.decode()
    left = [n for n in os.listdir(dest / "src") if n.endswith(".restoring")]
    assert len(left) == 1, left  # killed while writing it
    live = dest / "src" / f".small.txt.{live_process}.restoring"
    live.write_bytes(b"a restore that is still running is writing this")
    with Timekeep.open(repo) as tk:
        result = tk.restore(b(src), sid, dest=b(dest))
    assert result.errors == ()
    assert sorted(os.listdir(dest / "src")) == sorted(["big.bin", "small.txt", live.name])
    assert read_tree(dest / "src") == {**read_tree(src), os.fsencode(live.name): (
        "file", b"a restore that is still running is writing this", 0o644)}


KILLED_AFTER = """
import os, signal, sys
from timekeep.core.api import Timekeep
settled = []
def progress(p):
    settled.append(p)
    if len(settled) == int(sys.argv[5]):
        os.kill(os.getpid(), signal.SIGKILL)
with Timekeep.open(sys.argv[1]) as tk:
    tk.restore(sys.argv[2].encode(), int(sys.argv[3]), dest=sys.argv[4].encode(), progress=progress)
"""


@pytest.mark.parametrize(("unnamed", "workers"), [(True, True), (False, True), (True, False)])
def test_a_restore_killed_while_its_workers_write_leaves_only_whole_files_under_their_names(
        src: Path, tmp_path: Path, unnamed: bool, workers: bool) -> None:
    """kill -9 while the small-file workers write (or the main thread, before they pay: small_files.Handover):
    every name holds its whole stored file, nothing else is left where new files are made without a name
    (safe_write.create_unnamed), and the next restore finishes."""
    make_tree(src, {f"d{d}": {f"f{i:03d}.txt": payload(d * 1000 + i, 20_000 + i) for i in range(60)} for d in range(3)})
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    dest = tmp_path / "dest"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    no_unnamed = "import timekeep.core.restore.safe_write as sw\nsw.UNNAMED = 0\n"  # a filesystem without O_TMPFILE
    code = KILLED_AFTER if unnamed else no_unnamed + KILLED_AFTER
    code = f"import timekeep.core.restore.small_files as sf\nsf.HAND_OVER_ABOVE = {0.0 if workers else 1.0}\n{code}"
    run = subprocess.run([sys.executable, "-c", code, str(repo), str(src), str(sid), str(dest), "40"],
                         env=env, capture_output=True, timeout=120, check=False)
    assert run.returncode == -signal.SIGKILL, run.stderr.decode()
    got, want = read_tree(dest / "src"), read_tree(src)
    temporaries = [rel for rel in got if os.path.basename(rel).endswith(b".restoring")]
    assert not temporaries if unnamed else len(temporaries) <= 2 * small_files.GROUP
    placed = [rel for rel in got if rel not in temporaries and got[rel][0] == "file"]
    assert 40 <= len(placed) < len(want) - 3
    assert all(got[rel][1] == want[rel][1] for rel in placed)  # whole, never torn
    with Timekeep.open(repo) as tk:
        result = tk.restore(b(src), sid, dest=b(dest))
    assert result.errors == ()
    assert read_tree(dest / "src") == want
