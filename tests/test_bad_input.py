"""Bad input never fails a snapshot and never costs what was stored; bad storage never gives wrong bytes.

Unreadable, restless and vanishing files, sockets and FIFOs, link loops and odd names on the way in;
a damaged pack, a lost index and a full drive in the repository; crafted index rows and hostile
destinations on the way out — restore never writes outside its target.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

import timekeep.core.capture.read as read_mod
from tests.helpers import make_tree, new_repo, read_tree
from tests.restore_support import chown_tree
from tests.restore_support import shared_tmp as shared_tmp
from tests.treeops import (
    FifoUnblocker,
    add_crafted_file,
    append,
    assert_snapshot_matches,
    built,
    chunks_of,
    deny,
    everything_under,
    fault_at_open,
    fill_leaving,
    flip_byte,
    fresh_dir,
    index_db,
    listed,
    make_bytes_tree,
    payload,
    reseal,
    restless_chunker,
    restore_into,
    small_tmpfs,
)
from timekeep.core.api import Timekeep, rebuild_index
from timekeep.core.errors import CorruptData, StorageError
from timekeep.core.types import FileError, SnapshotInfo

ROOT = Path(__file__).resolve().parent.parent
NOBODY = 65534


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = Path(os.path.realpath(tmp_path)) / "src"
    path.mkdir()
    return path


def b(path: Path) -> bytes:
    return os.fsencode(path)


def run_backup(repo: Path) -> tuple[SnapshotInfo, list[FileError]]:
    with Timekeep.open(repo, writer=True) as tk:
        info = tk.backup()
        return info, tk.snapshot_errors(info.id)


def kinds_of(errors: list[FileError]) -> dict[bytes, str]:
    return {e.path: e.kind for e in errors}


def content_at(repo: Path, path: Path, sid: int) -> bytes:
    with Timekeep.open(repo) as tk:
        return built(tk, b(path), sid)


def names_at(repo: Path, folder: Path, sid: int) -> set[bytes]:
    with Timekeep.open(repo) as tk:
        return set(listed(tk, b(folder), sid))


# --- unreadable files ------------------------------------------------------------------------------------


def test_unreadable_file_is_recorded_and_its_stored_version_kept(src: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(src, {"a.txt": b"alpha", "secret.txt": b"version one", "sub": {"b.txt": b"beta"}})
    repo = new_repo(tmp_path, src)
    first, _ = run_backup(repo)
    (src / "a.txt").write_bytes(b"alpha, edited")
    (src / "secret.txt").write_bytes(b"version two, longer")
    (src / "locked-new.txt").write_bytes(b"never readable")
    denied = {b(src / "secret.txt"), b(src / "locked-new.txt")}
    monkeypatch.setattr(read_mod, "open_file", fault_at_open(denied, deny))
    second, errors = run_backup(repo)
    assert kinds_of(errors) == dict.fromkeys(denied, "unreadable") and second.errors == 2
    assert content_at(repo, src / "a.txt", second.id) == b"alpha, edited"
    assert content_at(repo, src / "secret.txt", second.id) == b"version one"  # kept, not dropped
    assert b"locked-new.txt" not in names_at(repo, src, second.id)
    monkeypatch.undo()
    third, errors = run_backup(repo)
    assert errors == [] and third.errors == 0
    assert content_at(repo, src / "secret.txt", third.id) == b"version two, longer"
    assert content_at(repo, src / "locked-new.txt", third.id) == b"never readable"
    assert content_at(repo, src / "secret.txt", first.id) == b"version one"


def backup_as_nobody(repo: Path) -> subprocess.CompletedProcess[bytes]:
    code = ("import sys; from timekeep.core.api import Timekeep\n"
            "with Timekeep.open(sys.argv[1], writer=True) as tk: tk.backup()")
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": str(repo), "PYTHONDONTWRITEBYTECODE": "1"}
    command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", sys.executable, "-c", code,
               str(repo)]
    return subprocess.run(command, env=env, cwd="/", capture_output=True, timeout=120, check=False)


@pytest.mark.skipif(shutil.which("setpriv") is None or os.geteuid() != 0, reason="needs root and setpriv")
def test_unreadable_to_an_unprivileged_user(shared_tmp: Path) -> None:
    src = shared_tmp / "src"
    make_tree(src, {"open.txt": b"anyone may read", "secret.txt": b"root only, v1",
                    "private": {"inner.txt": b"inside a closed folder"}})
    (src / "secret.txt").chmod(0o600)
    (src / "private").chmod(0o700)
    repo = new_repo(shared_tmp, src)
    first, _ = run_backup(repo)  # as root: everything is readable
    (src / "open.txt").write_bytes(b"anyone may read, edited")
    (src / "secret.txt").write_bytes(b"root only, v2")
    chown_tree(shared_tmp / "drive", NOBODY)
    run = backup_as_nobody(repo)
    assert run.returncode == 0, run.stderr.decode()
    with Timekeep.open(repo) as tk:
        second = tk.snapshots()[-1]
        errors = kinds_of(tk.snapshot_errors(second.id))
        assert errors == {b(src / "secret.txt"): "unreadable", b(src / "private"): "unreadable"}
        assert second.errors == 2
        assert built(tk, b(src / "open.txt"), second.id) == b"anyone may read, edited"
        assert built(tk, b(src / "secret.txt"), second.id) == b"root only, v1"
        assert built(tk, b(src / "private" / "inner.txt"), second.id) == b"inside a closed folder"
        assert set(listed(tk, b(src), second.id)) == set(listed(tk, b(src), first.id))  # nothing dropped


# --- files that change or vanish while being read ---------------------------------------------------------------


def test_file_that_keeps_changing_is_retried_then_recorded(src: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(src, {"busy.log": b"first lines\n", "calm.txt": b"calm"})
    repo = new_repo(tmp_path, src)
    run_backup(repo)
    (src / "busy.log").write_bytes(b"first lines\nsecond lines\n")
    attempts: Counter[bytes] = Counter()
    monkeypatch.setattr(read_mod, "iter_chunks", restless_chunker({b(src / "busy.log")}, 99, attempts))
    second, errors = run_backup(repo)
    assert kinds_of(errors) == {b(src / "busy.log"): "changing"} and second.errors == 1
    assert attempts[b(src / "busy.log")] == 3
    assert content_at(repo, src / "busy.log", second.id) == b"first lines\n"  # the stored version is kept
    monkeypatch.undo()
    third, errors = run_backup(repo)
    assert errors == [] and content_at(repo, src / "busy.log", third.id) == (src / "busy.log").read_bytes()


def test_file_changed_on_the_first_read_only_is_stored_right(src: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    big = payload(1, 300 * 1024)
    make_tree(src, {"settles.bin": big, "new.bin": payload(2, 100_000)})
    repo = new_repo(tmp_path, src)
    attempts: Counter[bytes] = Counter()
    paths = {b(src / "settles.bin"), b(src / "new.bin")}
    monkeypatch.setattr(read_mod, "iter_chunks", restless_chunker(paths, 1, attempts))
    info, errors = run_backup(repo)
    assert errors == [] and info.errors == 0
    assert all(attempts[p] == 2 for p in paths)
    assert content_at(repo, src / "settles.bin", info.id) == big + b" and more"
    with Timekeep.open(repo) as tk:
        assert_snapshot_matches(tk, b(src), info.id, read_tree(src), tmp_path / "restores")


def test_file_that_vanishes_between_scan_and_read(src: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(src, {"stays.txt": b"stays", "goes.txt": b"goes, v1"})
    repo = new_repo(tmp_path, src)
    first, _ = run_backup(repo)
    (src / "goes.txt").write_bytes(b"goes, v2")
    (src / "stays.txt").write_bytes(b"stays, v2")
    monkeypatch.setattr(read_mod, "open_file", fault_at_open({b(src / "goes.txt")}, os.unlink))
    second, errors = run_backup(repo)
    assert kinds_of(errors) == {b(src / "goes.txt"): "vanished"} and second.errors == 1
    assert content_at(repo, src / "stays.txt", second.id) == b"stays, v2"
    monkeypatch.undo()
    third, errors = run_backup(repo)
    assert errors == [] and names_at(repo, src, third.id) == {b"stays.txt"}
    assert content_at(repo, src / "goes.txt", first.id) == b"goes, v1"


def test_file_replaced_by_a_fifo_before_it_is_read_does_not_hang_the_backup(
        src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(src, {"pipe-to-be": b"a plain file at scan time", "other.txt": b"other"})
    repo = new_repo(tmp_path, src)
    swap = src / "pipe-to-be"

    def to_fifo(path: bytes) -> None:
        if not stat.S_ISFIFO(os.lstat(path).st_mode):
            os.unlink(path)
            os.mkfifo(path)

    monkeypatch.setattr(read_mod, "open_file", fault_at_open({b(swap)}, to_fifo))
    with FifoUnblocker(swap) as unblocker:
        info, errors = run_backup(repo)
    assert unblocker.rescues == 0, "the backup blocked opening a FIFO for reading"
    assert set(kinds_of(errors)) == {b(swap)}
    assert content_at(repo, src / "other.txt", info.id) == b"other"


# --- things that are not files, link loops, odd names ---------------------------------------------------------


def test_sockets_and_fifos_are_skipped_with_a_note(src: Path, tmp_path: Path) -> None:
    make_tree(src, {"plain.txt": b"plain", "sub": {}})
    os.mkfifo(src / "pipe")
    os.mkfifo(src / "sub" / "pipe2")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(src / "sock"))
        repo = new_repo(tmp_path, src)
        info, errors = run_backup(repo)
    skipped = {b(src / "pipe"), b(src / "sub" / "pipe2"), b(src / "sock")}
    assert kinds_of(errors) == dict.fromkeys(skipped, "skipped")
    assert info.errors == 0
    assert names_at(repo, src, info.id) == {b"plain.txt", b"sub"}
    with Timekeep.open(repo) as tk:
        restored, result = restore_into(tk, b(src), info.id, tmp_path / "restores")
    assert result.errors == () and restored == {b"plain.txt": read_tree(src)[b"plain.txt"],
                                                 b"sub": read_tree(src)[b"sub"]}


def test_symlink_loops_are_recorded_as_links_and_never_followed(src: Path, tmp_path: Path) -> None:
    make_tree(src, {"file.txt": b"the only file", "sub": {"parent": "-> ..", "deeper": {"root": "-> ../.."}},
                    "loop_a": "-> loop_b", "loop_b": "-> loop_a", "self": "-> .", "up": "-> .."})
    os.symlink(src, src / "absolute_root")
    repo = new_repo(tmp_path, src)
    info, errors = run_backup(repo)
    assert errors == [] and info.errors == 0
    assert info.files_scanned == 8  # one file and seven links: nothing was followed
    with Timekeep.open(repo) as tk:
        assert_snapshot_matches(tk, b(src), info.id, read_tree(src), tmp_path / "restores")
        kinds = {rel: entry[0] for rel, entry in listed(tk, b(src), info.id).items()}
    assert kinds[b"loop_a"] == kinds[b"sub/parent"] == kinds[b"absolute_root"] == "symlink"


ODD_NAMES: dict[bytes, object] = {
    b"caf\xe9.txt": b"latin-1 name, not UTF-8",
    b"new\nline": b"a newline in the name",
    b"x" * 251 + b".txt": b"a name of 255 bytes",
    b"\xff\xfe folder": {b"tab\there \xc3\x28": b"odd file in an odd folder"},
}


def test_odd_names_round_trip(src: Path, tmp_path: Path) -> None:
    make_bytes_tree(b(src), ODD_NAMES)
    os.symlink(b"caf\xe9.txt", os.path.join(b(src), b"link to caf\xe9"))
    assert len(b"x" * 251 + b".txt") == 255
    repo = new_repo(tmp_path, src)
    info, errors = run_backup(repo)
    assert errors == []
    tree = read_tree(src)
    assert len(tree) == 6
    with Timekeep.open(repo) as tk:
        assert_snapshot_matches(tk, b(src), info.id, tree, tmp_path / "restores")
    rebuild_index(repo)
    with Timekeep.open(repo) as tk:
        assert_snapshot_matches(tk, b(src), info.id, tree, tmp_path / "restores")


# --- damage in the repository ------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["random", "text"])  # a raw frame and a zstd frame
def test_corrupt_pack_is_reported_and_never_restored_as_wrong_bytes(src: Path, tmp_path: Path, style: str) -> None:
    make_tree(src, {"bystander.txt": b"unharmed"})
    repo = new_repo(tmp_path, src)
    run_backup(repo)  # the bystander's bytes sit in another pack: the damage below cannot reach them
    (src / "victim.bin").write_bytes(payload(3, 400_000, style))
    info, _ = run_backup(repo)
    pack, offset, length = chunks_of(repo, b(src / "victim.bin"))[1]
    flip_byte(repo, pack, offset + 12 + length // 2)  # inside the payload, past the 12-byte frame header
    with Timekeep.open(repo) as tk:
        assert not tk.check(read_data=True).ok
        with pytest.raises(CorruptData):
            built(tk, b(src / "victim.bin"), info.id)
        dest = fresh_dir(tmp_path / "restores")
        try:
            result = tk.restore(b(src / "victim.bin"), info.id, dest=b(dest))
            assert result.errors and result.errors[0].path == b(src / "victim.bin")
        except CorruptData:
            pass
        assert os.listdir(dest) == []  # neither the file nor a temporary is left behind
        restored, result = restore_into(tk, b(src), info.id, tmp_path / "restores")
    assert [e.path for e in result.errors] == [b(src / "victim.bin")]
    assert restored == {b"bystander.txt": read_tree(src)[b"bystander.txt"]}


def test_rebuilt_index_gives_back_the_same_history(src: Path, tmp_path: Path) -> None:
    make_tree(src, {"a.txt": payload(4, 150_000), "doc": {"b.txt": b"bee", "c.txt": b"sea"}, "l": "-> a.txt"})
    repo = new_repo(tmp_path, src)
    trees = {run_backup(repo)[0].id: read_tree(src)}
    (src / "doc" / "b.txt").rename(src / "b-moved.txt")
    append(src / "a.txt", b"appended")
    os.mkfifo(src / "pipe")  # a skipped entry: errors survive the rebuild too
    trees[run_backup(repo)[0].id] = read_tree(src)
    (src / "doc" / "c.txt").unlink()
    (src / "a.txt").chmod(0o600)
    trees[run_backup(repo)[0].id] = read_tree(src)
    with Timekeep.open(repo) as tk:
        before = (tk.snapshots(), [tk.snapshot_errors(s) for s in trees], tk.versions(b(src / "a.txt")))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{repo / 'index.db'}{suffix}").unlink(missing_ok=True)
    rebuild_index(repo)
    with Timekeep.open(repo) as tk:
        assert (tk.snapshots(), [tk.snapshot_errors(s) for s in trees], tk.versions(b(src / "a.txt"))) == before
        for sid, tree in trees.items():
            assert_snapshot_matches(tk, b(src), sid, tree, tmp_path / "restores")
    next_id, _ = run_backup(repo)
    assert next_id.id == max(trees) + 1


# --- a full drive ---------------------------------------------------------------------------------------------


@pytest.fixture
def small_drive(tmp_path: Path) -> Iterator[Path]:
    """A 5 MiB tmpfs where new_repo puts the repository (tmp_path/drive)."""
    drive = tmp_path / "drive"
    with small_tmpfs(drive, "5m"):
        yield drive


def test_full_drive_stops_the_snapshot_and_loses_nothing(src: Path, tmp_path: Path, small_drive: Path) -> None:
    make_tree(src, {"small.bin": payload(5, 1_000_000), "note.txt": b"note"})
    repo = new_repo(tmp_path, src)
    first, _ = run_backup(repo)
    tree = read_tree(src)
    (src / "huge.bin").write_bytes(payload(6, 8_000_000))
    with pytest.raises(StorageError, match=r"(?i)space") as failure:
        run_backup(repo)
    assert "\n" not in str(failure.value) and "drive" in str(failure.value)
    with Timekeep.open(repo) as tk:
        assert [s.id for s in tk.snapshots()] == [first.id]
        assert tk.check(read_data=True).ok
        assert_snapshot_matches(tk, b(src), first.id, tree, tmp_path / "restores")
    subprocess.run(["mount", "-o", "remount,size=40m", str(small_drive)], check=True)  # a bigger target
    second, errors = run_backup(repo)
    assert errors == []
    with Timekeep.open(repo) as tk:
        assert tk.check(read_data=True).ok
        assert_snapshot_matches(tk, b(src), first.id, tree, tmp_path / "restores")
        assert_snapshot_matches(tk, b(src), second.id, read_tree(src), tmp_path / "restores")


@pytest.mark.parametrize("free_kib", [0, 4, 8, *range(16, 272, 16)])
def test_drive_filling_up_at_any_point_gives_storage_error(src: Path, tmp_path: Path, small_drive: Path,
                                                           free_kib: int) -> None:
    """Wherever the space runs out — lock, index, packs, manifest — the error is StorageError, and then
    the repository checks clean, the earlier snapshot restores, and the next writer (same process) works."""
    make_tree(src, {f"f{i}.txt": payload(i, 3000, "text") for i in range(50)})
    repo = new_repo(tmp_path, src)
    first, _ = run_backup(repo)
    tree = read_tree(src)
    for i in range(50):
        (src / f"f{i}.txt").write_bytes(payload(i + 100, 3000))
    filler = fill_leaving(small_drive, free_kib * 1024)
    try:
        run_backup(repo)
    except StorageError as err:
        assert "\n" not in str(err) and "space" in str(err).lower()
    filler.unlink()
    with Timekeep.open(repo) as tk:
        assert tk.check(read_data=True).ok
        assert tk.snapshots()[0].id == first.id
        assert_snapshot_matches(tk, b(src), first.id, tree, tmp_path / "restores")
    last, errors = run_backup(repo)
    with Timekeep.open(repo) as tk:
        assert errors == [] and tk.check(read_data=True).ok
        assert_snapshot_matches(tk, b(src), last.id, read_tree(src), tmp_path / "restores")


def test_a_writer_that_failed_to_open_on_a_full_drive_leaves_no_lock(src: Path, tmp_path: Path,
                                                                     small_drive: Path) -> None:
    repo = new_repo(tmp_path, src)
    filler = fill_leaving(small_drive, 0)
    with pytest.raises((StorageError, OSError)):  # StorageError is what it should be (see the test above)
        Timekeep.open(repo, writer=True).close()
    filler.unlink()
    with Timekeep.open(repo, writer=True) as tk:  # the same process: a leaked lock would refuse this
        assert tk.backup().errors == 0


# --- restore never writes outside its target -------------------------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder restores must never touch; named to sort before 'src' so crafted rows come first."""
    path = Path(os.path.realpath(tmp_path)) / "0outside"
    path.mkdir()
    (path / "target.txt").write_bytes(b"keep me")
    return path


@pytest.fixture
def plain_repo(src: Path, tmp_path: Path) -> tuple[Path, int]:
    make_tree(src, {"a.txt": b"alpha", "b.txt": b"beta", "sub": {"c.txt": b"sea", "d.txt": b"dee"}})
    repo = new_repo(tmp_path, src)
    return repo, run_backup(repo)[0].id


def restore_src(repo: Path, src: Path, sid: int, dest: Path, overwrite: bool = False) -> tuple[FileError, ...]:
    with Timekeep.open(repo) as tk:
        try:
            return tk.restore(b(src), sid, dest=b(dest), overwrite=overwrite).errors
        except (CorruptData, StorageError, OSError) as err:
            pytest.fail(f"restore raised {err!r} instead of recording it")


@pytest.mark.parametrize("rename", [b"/sub/../../../../escape.txt", b"/sub/x/../../../../escape.txt"])
def test_restore_refuses_a_stored_path_that_climbs_out(src: Path, tmp_path: Path, plain_repo: tuple[Path, int],
                                                       rename: bytes) -> None:
    repo, sid = plain_repo
    with index_db(repo) as conn:
        conn.execute("UPDATE file SET path = ? WHERE path = ?", (b(src) + rename, b(src / "sub" / "c.txt")))
    reseal(repo, b(src) + rename)
    before = everything_under(tmp_path)
    errors = restore_src(repo, src, sid, tmp_path / "a" / "b" / "dest")
    assert any("refusing" in e.message for e in errors)
    new = everything_under(tmp_path) - before
    assert all(p in ("a", "a/b") or p.startswith("a/b/dest") for p in new), new
    assert not any(p.name == "escape.txt" for p in tmp_path.rglob("*"))


def test_restore_refuses_an_absolute_stored_path(src: Path, tmp_path: Path, plain_repo: tuple[Path, int],
                                                 outside: Path) -> None:
    repo, sid = plain_repo
    with index_db(repo) as conn:
        conn.execute("UPDATE file SET path = ? WHERE path = ?", (b(outside / "evil.txt"), b(src / "a.txt")))
    reseal(repo, b(outside / "evil.txt"))
    errors = restore_src(repo, src, sid, tmp_path / "dest")
    assert any("refusing" in e.message for e in errors)
    assert everything_under(outside) == {"target.txt"}


def test_an_unsafe_row_does_not_stop_its_siblings(src: Path, tmp_path: Path, plain_repo: tuple[Path, int],
                                                  outside: Path) -> None:
    repo, sid = plain_repo
    with index_db(repo) as conn:
        conn.execute("UPDATE file SET path = ? WHERE path = ?", (b(outside / "evil.txt"), b(src / "a.txt")))
    reseal(repo, b(outside / "evil.txt"))
    restore_src(repo, src, sid, tmp_path / "dest")
    restored = read_tree(tmp_path / "dest" / "src")
    assert set(restored) == {b"b.txt", b"sub", b"sub/c.txt", b"sub/d.txt"}


def test_a_row_that_fails_its_seal_is_one_error_and_its_siblings_come_back(src: Path, tmp_path: Path,
                                                                          plain_repo: tuple[Path, int]) -> None:
    """A row a damaged index changed (here its path, unsealed) is named and left out; nothing wrong is
    written, and the rest of the folder is restored."""
    repo, sid = plain_repo
    with index_db(repo) as conn:
        conn.execute("UPDATE file SET path = ? WHERE path = ?", (b(src / "a.txu"), b(src / "a.txt")))
    errors = restore_src(repo, src, sid, tmp_path / "dest")
    assert [(e.path, "damaged" in e.message) for e in errors] == [(b(src / "a.txu"), True)]
    assert set(read_tree(tmp_path / "dest" / "src")) == {b"b.txt", b"sub", b"sub/c.txt", b"sub/d.txt"}


def test_a_restored_link_does_not_let_later_files_out(src: Path, tmp_path: Path, outside: Path) -> None:
    make_tree(src, {"a.txt": b"alpha", "z.txt": b"zed"})
    os.symlink(outside, src / "sub")
    repo = new_repo(tmp_path, src)
    sid = run_backup(repo)[0].id
    with index_db(repo) as conn:
        add_crafted_file(conn, b(src / "sub" / "x"), b(src / "sub"), sid)  # a child of the link itself
        add_crafted_file(conn, b(src / "sub" / "y"), b(src), sid)  # a two-level name listed in the folder
    errors = restore_src(repo, src, sid, tmp_path / "dest")
    assert os.readlink(tmp_path / "dest" / "src" / "sub") == str(outside)
    assert everything_under(outside) == {"target.txt"}
    assert any(e.path == b(src / "sub" / "y") or "refusing" in e.message for e in errors)
    with Timekeep.open(repo) as tk:
        dest = fresh_dir(tmp_path / "single")
        tk.restore(b(src / "sub" / "x"), sid, dest=b(dest))
        assert everything_under(outside) == {"target.txt"} and everything_under(dest) == {"x"}


def test_restoring_an_older_folder_over_a_newer_link_stays_inside(src: Path, tmp_path: Path, outside: Path) -> None:
    make_tree(src, {"sub": {"x.txt": b"was a folder"}})
    repo = new_repo(tmp_path, src)
    older = run_backup(repo)[0].id
    shutil.rmtree(src / "sub")
    os.symlink(outside, src / "sub")
    newer = run_backup(repo)[0].id
    dest = tmp_path / "dest"
    assert restore_src(repo, src, newer, dest) == ()
    errors = restore_src(repo, src, older, dest, overwrite=True)
    assert errors and everything_under(outside) == {"target.txt"}
    assert os.path.islink(dest / "src" / "sub")


def test_preexisting_links_in_the_destination_are_not_followed(src: Path, tmp_path: Path,
                                                               plain_repo: tuple[Path, int], outside: Path) -> None:
    repo, sid = plain_repo
    dest = tmp_path / "dest"
    (dest / "src").mkdir(parents=True)
    os.symlink(outside, dest / "src" / "sub")  # where a folder goes
    os.symlink(outside / "target.txt", dest / "src" / "a.txt")  # where a file goes
    errors = restore_src(repo, src, sid, dest, overwrite=True)
    assert [e.path for e in errors] == [b(src / "sub")]
    assert everything_under(outside) == {"target.txt"} and (outside / "target.txt").read_bytes() == b"keep me"
    assert not os.path.islink(dest / "src" / "a.txt") and (dest / "src" / "a.txt").read_bytes() == b"alpha"


def test_a_destination_that_is_a_link_is_not_followed(src: Path, tmp_path: Path, plain_repo: tuple[Path, int],
                                                      outside: Path) -> None:
    repo, sid = plain_repo
    dest = tmp_path / "dest"
    dest.mkdir()
    os.symlink(outside, dest / "src")  # the restored folder itself would land through a link
    errors = restore_src(repo, src, sid, dest)
    assert errors and everything_under(outside) == {"target.txt"}
