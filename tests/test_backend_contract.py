"""What every medium a repository lives on promises (core/storage/backend.py), tested on each registered one
(tests/backend_support.py): listing by prefix, stat, whole and ranged reads, writes that never replace unless
told, deletes, names with folders, empty and large objects, and the writer lock against a second taker and a
holder killed with -9 (a real process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backend_support import KINDS, BackendKind
from timekeep.core.errors import ObjectExists, ObjectMissing, RepositoryLocked
from timekeep.core.storage.backend import Backend, StoredObject

ROOT = Path(__file__).resolve().parent.parent
MiB = 1 << 20


@pytest.fixture(params=sorted(KINDS))
def kind(request: pytest.FixtureRequest) -> BackendKind:
    return KINDS[str(request.param)]


@pytest.fixture
def backend(kind: BackendKind, tmp_path: Path) -> Iterator[Backend]:
    with kind.make(tmp_path) as made:
        yield made


def names(backend: Backend, prefix: str = "") -> dict[str, int]:
    return {found.name: found.size for found in backend.list(prefix)}


def test_a_new_backend_is_empty_and_says_where_it_is(backend: Backend) -> None:
    assert names(backend) == {}
    assert backend.stat("config.json") is None
    assert backend.where


def test_list_by_prefix_with_folders(backend: Backend) -> None:
    backend.write("config.json", b"{}")
    backend.write("packs/ab/ab01.pack", b"x" * 10)
    backend.write("packs/cd/cd02.pack", b"y" * 20)
    backend.write("snapshots/0000000001.manifest", b"m")
    backend.write("snapshots-not/other", b"o")
    assert names(backend) == {"config.json": 2, "packs/ab/ab01.pack": 10, "packs/cd/cd02.pack": 20,
                              "snapshots/0000000001.manifest": 1, "snapshots-not/other": 1}
    assert names(backend, "packs/") == {"packs/ab/ab01.pack": 10, "packs/cd/cd02.pack": 20}
    assert names(backend, "packs/ab/") == {"packs/ab/ab01.pack": 10}
    assert names(backend, "snapshots/") == {"snapshots/0000000001.manifest": 1}
    assert names(backend, "snap") == {"snapshots/0000000001.manifest": 1, "snapshots-not/other": 1}
    assert names(backend, "nothing/") == {}


def test_names_are_the_listings_names_without_sizes(backend: Backend) -> None:
    backend.write("packs/ab/ab01.pack", b"x" * 10)
    backend.write("snapshots/0000000001.manifest", b"m")
    backend.write("snapshots/0000000002.manifest", b"mm")
    backend.write("snapshots-not/other", b"o")
    for prefix in ("", "packs/", "snapshots/", "snap", "nothing/"):
        assert sorted(backend.names(prefix)) == sorted(names(backend, prefix)), prefix
    assert sorted(backend.names("snapshots/")) == ["snapshots/0000000001.manifest", "snapshots/0000000002.manifest"]


def test_stat_says_the_size_and_none_for_what_is_not_there(backend: Backend) -> None:
    backend.write("packs/ab/ab01.pack", b"12345")
    assert backend.stat("packs/ab/ab01.pack") == StoredObject("packs/ab/ab01.pack", 5)
    assert backend.stat("packs/ab/ab02.pack") is None
    assert backend.stat("packs/ab") is None  # a folder of a drive is no object


def test_read_whole_and_ranges_including_past_the_end(backend: Backend) -> None:
    data = bytes(range(256)) * 4
    backend.write("packs/00/obj.pack", data)
    assert backend.read("packs/00/obj.pack") == data
    assert backend.read("packs/00/obj.pack", 10, 20) == data[10:30]
    assert backend.read("packs/00/obj.pack", 1000) == data[1000:]
    assert backend.read("packs/00/obj.pack", 1000, 100) == data[1000:]  # fewer only where the object ends
    assert backend.read("packs/00/obj.pack", len(data), 10) == b""
    assert backend.read("packs/00/obj.pack", 0, 0) == b""


def test_reading_what_is_not_there_is_object_missing(backend: Backend) -> None:
    with pytest.raises(ObjectMissing):
        backend.read("packs/00/none.pack")
    with pytest.raises(ObjectMissing):
        backend.read("packs/00/none.pack", 5, 10)
    backend.write("a", b"x")
    backend.delete("a")
    with pytest.raises(ObjectMissing):
        backend.read("a")


def test_write_refuses_to_replace_unless_told(backend: Backend) -> None:
    backend.write("snapshots/0000000001.manifest", b"first")
    with pytest.raises(ObjectExists):
        backend.write("snapshots/0000000001.manifest", b"second")
    assert backend.read("snapshots/0000000001.manifest") == b"first"
    backend.write("snapshots/0000000001.manifest", b"third, longer", replace=True)
    assert backend.read("snapshots/0000000001.manifest") == b"third, longer"
    assert names(backend) == {"snapshots/0000000001.manifest": 13}


def test_a_replaced_object_reads_new_after_ranged_reads_of_the_old(backend: Backend) -> None:
    backend.write("folders.json", b"old contents")
    assert backend.read("folders.json", 4, 8) == b"contents"
    backend.write("folders.json", b"new contents", replace=True)
    assert backend.read("folders.json", 0, 3) == b"new"
    assert backend.read("folders.json") == b"new contents"


def test_delete_removes_and_deleting_what_is_gone_is_fine(backend: Backend) -> None:
    backend.write("packs/ab/ab01.pack", b"x")
    backend.read("packs/ab/ab01.pack", 0, 1)
    backend.delete("packs/ab/ab01.pack")
    assert backend.stat("packs/ab/ab01.pack") is None
    assert names(backend, "packs/") == {}
    backend.delete("packs/ab/ab01.pack")
    backend.delete("never/was/there")


def test_an_empty_object(backend: Backend) -> None:
    backend.write("coalescing.json", b"")
    assert backend.stat("coalescing.json") == StoredObject("coalescing.json", 0)
    assert backend.read("coalescing.json") == b""
    assert backend.read("coalescing.json", 0, 10) == b""
    assert names(backend) == {"coalescing.json": 0}


def test_a_large_object_from_a_file_reads_back_byte_exact(backend: Backend, tmp_path: Path) -> None:
    data = os.urandom(20 * MiB)
    source = tmp_path / "upload.tmp"
    source.write_bytes(data)
    backend.write_file("packs/7f/7f00.pack", source)
    assert not source.exists(), "the file is handed over"
    assert backend.stat("packs/7f/7f00.pack") == StoredObject("packs/7f/7f00.pack", 20 * MiB)
    assert backend.read("packs/7f/7f00.pack", 13 * MiB + 5, 4096) == data[13 * MiB + 5 : 13 * MiB + 4101]
    assert backend.read("packs/7f/7f00.pack", 20 * MiB - 3) == data[-3:]
    assert backend.read("packs/7f/7f00.pack") == data


def test_write_file_refuses_to_replace_and_leaves_the_file(backend: Backend, tmp_path: Path) -> None:
    backend.write("snapshots/0000000002.manifest", b"kept")
    source = tmp_path / "manifest.tmp"
    source.write_bytes(b"other")
    with pytest.raises(ObjectExists):
        backend.write_file("snapshots/0000000002.manifest", source)
    assert source.read_bytes() == b"other"
    assert backend.read("snapshots/0000000002.manifest") == b"kept"
    backend.write_file("snapshots/0000000002.manifest", source, replace=True)
    assert backend.read("snapshots/0000000002.manifest") == b"other"


def test_write_file_from_the_medium_s_own_folder(tmp_path: Path) -> None:
    """A temporary kept where the objects are (a drive's repository folder) is published as it is. Only a drive
    has such a folder (`local_folder`); a bucket's temporaries are elsewhere, as the test above has them."""
    with KINDS["local"].make(tmp_path) as backend:
        _write_file_from_its_own_folder(backend)


def _write_file_from_its_own_folder(backend: Backend) -> None:
    folder = backend.local_folder
    assert folder is not None
    source = folder / "packs" / ".fresh.tmp"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(b"sealed pack")
    inode = source.stat().st_ino
    backend.write_file("packs/fr/fresh.pack", source)
    assert backend.read("packs/fr/fresh.pack") == b"sealed pack"
    assert (folder / "packs" / "fr" / "fresh.pack").stat().st_ino == inode, "renamed, not copied"
    assert names(backend) == {"packs/fr/fresh.pack": 11}, "temporaries are never listed"


def test_the_lock_excludes_a_second_taker(backend: Backend) -> None:
    first = backend.writer_lock()
    first.acquire()
    try:
        assert backend.writer_running()
        with pytest.raises(RepositoryLocked):
            backend.writer_lock().acquire()
    finally:
        first.release()
    assert not backend.writer_running()
    second = backend.writer_lock()
    second.acquire()
    second.release()


HOLD = """
import sys
from pathlib import Path
{build}
lock = backend.writer_lock()
lock.acquire()
print("held", flush=True)
sys.stdin.read()
"""


def test_the_lock_of_a_holder_killed_with_minus_9_is_broken(backend: Backend, kind: BackendKind) -> None:
    code = HOLD.format(build=kind.in_child(backend))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line == b"held\n", line + child.communicate(timeout=30)[1]
        assert backend.writer_running()
        with pytest.raises(RepositoryLocked, match=str(child.pid)):  # the refusal names the holder
            backend.writer_lock().acquire()
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    kind.holder_gone(backend)
    assert not backend.writer_running()
    taker = backend.writer_lock()
    taker.acquire()
    taker.release()


def test_names_that_would_leave_the_repository_are_refused(backend: Backend) -> None:
    for bad in ("", "/etc/passwd", "../outside", "packs/../../outside", "packs//x"):
        with pytest.raises(ValueError):
            backend.write(bad, b"x")
