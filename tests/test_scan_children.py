"""A full scan compares each folder's children with the index by one `lstat` and one comparison for a file as
stored; everything else a child can become takes the longer way. These cases hold the short way to what the
longer one decides, through real backups of real folders."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from tests.helpers import new_repo
from tests.treeops import built, index_db
from timekeep.core.api import Timekeep
from timekeep.core.capture.excludes import Excludes
from timekeep.core.capture.scan import FolderScan, ScanItem
from timekeep.core.types import SnapshotInfo


def names_at(repo: Path, folder: Path, snapshot: int) -> dict[bytes, str]:
    with Timekeep.open(repo) as tk:
        return {os.path.basename(e.path): e.kind for e in tk.list_dir(os.fsencode(folder), snapshot)}


def backup(repo: Path) -> tuple[SnapshotInfo, list[str]]:
    with Timekeep.open(repo, writer=True) as tk:
        snap = tk.backup()
        return snap, [f"{os.fsdecode(e.path)}: {e.kind}" for e in tk.snapshot_errors(snap.id)]


def test_each_thing_a_stored_file_can_become_is_what_the_scan_records(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("same", "fifo", "excluded.bak", "dir", "link", "moved", "chmod", "gone"):
        (src / name).write_bytes(name.encode())
    repo = new_repo(tmp_path, src)
    first, _ = backup(repo)
    assert first.files_scanned == 8
    st = (src / "moved").stat()
    os.mkfifo(src / "fifo.new")
    os.replace(src / "fifo.new", src / "fifo")
    with Timekeep.open(repo, writer=True) as tk:
        tk.set_excludes(os.fsencode(src), ("*.bak",), default_excludes=False)
    (src / "dir").unlink()
    (src / "dir").mkdir()
    (src / "dir" / "inside").write_bytes(b"inside")
    (src / "link").unlink()
    (src / "link").symlink_to("same")
    shutil.copy2(src / "moved", src / "moved.copy")  # same size and mtime, another inode
    os.replace(src / "moved.copy", src / "moved")
    assert (src / "moved").stat().st_mtime_ns == st.st_mtime_ns
    (src / "chmod").chmod(0o600)  # only the ctime and mode say so
    (src / "gone").unlink()
    second, errors = backup(repo)
    assert names_at(repo, src, second.id) == {b"same": "file", b"dir": "dir", b"link": "symlink",
                                              b"moved": "file", b"chmod": "file"}
    assert names_at(repo, src / "dir", second.id) == {b"inside": "file"}
    assert any(line.startswith(os.fsdecode(src / "fifo")) for line in errors), errors
    assert second.files_scanned == 5  # links count as files; folders do not
    third, _ = backup(repo)
    assert (third.files_changed, third.files_scanned) == (0, 5)
    with Timekeep.open(repo) as tk:
        assert [v.snapshot_id for v in tk.versions(os.fsencode(src / "moved"))] == [first.id, second.id]


def test_a_row_made_to_say_a_changed_file_is_as_stored_is_refused_and_the_change_stored(tmp_path: Path) -> None:
    """The short way still checks every row it compares against its seal: a damaged index that gives a changed
    file the disk's new stat (so it would look unchanged) is met by the scan, the index is rebuilt from the
    drive, and the change is stored."""
    src = tmp_path / "src"
    src.mkdir()
    for n in range(5):
        (src / f"f{n}").write_bytes(b"first %d" % n)
    repo = new_repo(tmp_path, src)
    backup(repo)
    with open(src / "f3", "ab") as fh:
        fh.write(b" and more")
    st = (src / "f3").stat()
    with index_db(repo) as conn:
        conn.execute("UPDATE version SET size = ?, mtime_ns = ?, inode = ?, ctime_ns = ?, racy = 0 "
                     "WHERE file_id = (SELECT id FROM file WHERE path = ?)",
                     (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns, os.fsencode(src / "f3")))
    with Timekeep.open(repo, writer=True) as tk:
        snap = tk.backup()
        assert tk.rebuilt
        assert built(tk, os.fsencode(src / "f3"), snap.id) == b"first 3 and more"



def folders_open(inside: Path) -> list[str]:
    """The folders under `inside` this process holds a descriptor of."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the listing's own descriptor, closed by now
            continue
        if target == str(inside) or target.startswith(f"{inside}/"):
            found.append(target)
    return found


def test_a_scan_holds_one_folder_open_at_a_time_and_leaves_none_open(tmp_path: Path) -> None:
    """Each folder's children are stat'ed through the folder's descriptor, closed again before the folder's
    changes are handed on: a scan walked whole, or dropped in the middle of a folder, holds none."""
    src = tmp_path / "src"
    for folder in ("a", "a/b", "c"):
        (src / folder).mkdir(parents=True)
        for i in range(3):
            (src / folder / f"f{i}").write_bytes(b"first")
    repo = new_repo(tmp_path, src)
    backup(repo)
    for path in src.rglob("f*"):
        path.write_bytes(b"second, longer")
    with Timekeep.open(repo) as tk:
        def scan() -> Iterator[ScanItem]:
            return FolderScan(tk._repo.db, os.fsencode(src), Excludes(()), lambda error: None).items()

        held = {os.fsdecode(item.path): folders_open(src) for item in scan()}
        assert sorted(held) == sorted(str(p) for p in src.rglob("f*")), held  # the nine files, read
        assert all(found == [] for found in held.values()), held
        dropped = scan()
        next(dropped)
        assert folders_open(src) == []
        dropped.close()
        assert folders_open(src) == []
    assert folders_open(src) == []
