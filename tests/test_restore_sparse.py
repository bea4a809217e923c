"""The sparse writer on its own: runs cut anywhere still give the exact bytes, pages of zeros become holes
across run boundaries, an error in the writer thread reaches the caller, and a restore holds what reached
the file to the version's size."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tests.helpers import backup, make_tree, new_repo, read_tree
from timekeep.core.api import Timekeep
from timekeep.core.restore import restore as restore_module
from timekeep.core.restore.sparse import PAGE, ZERO_PAGE, SparseFile, data_runs

MIB = 1 << 20


def _content() -> bytes:
    """Data, 2 MiB of zeros starting off a page boundary, data, and a tail of zeros shorter than a page."""
    rnd = random.Random(7)
    return rnd.randbytes(5000) + bytes(2 * MIB) + rnd.randbytes(3 * PAGE + 17) + bytes(100)


def _runs(data: bytes, seed: int) -> list[tuple[bytes, int, int]]:
    """`data` as runs of random lengths, each a slice of a bigger buffer (as frames hold many chunks)."""
    rnd, runs, at = random.Random(seed), [], 0
    while at < len(data):
        n = min(rnd.choice((1, 700, PAGE, PAGE + 1, 65_536, 300_000)), len(data) - at)
        pad = rnd.randrange(0, 50)
        runs.append((b"x" * pad + data[at : at + n] + b"y" * 9, pad, pad + n))
        at += n
    return runs


@pytest.mark.parametrize("threaded", [False, True])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_runs_cut_anywhere_give_the_bytes_and_the_zeros_become_holes(tmp_path: Path, threaded: bool,
                                                                        seed: int) -> None:
    data = _content()
    path = tmp_path / "out"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with SparseFile(fd, threaded) as sink:
            for run in _runs(data, seed):
                sink.put(*run)
            sink.finish()
    finally:
        os.close(fd)
    assert path.read_bytes() == data
    written = os.stat(path).st_blocks * 512
    assert written <= 64 * 1024 < MIB, written  # the data pages only, not the 2 MiB of zeros


def test_an_error_in_the_writer_thread_reaches_the_caller(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_bytes(b"")
    fd = os.open(path, os.O_RDONLY)  # every write fails: EBADF
    try:
        with pytest.raises(OSError), SparseFile(fd, threaded=True) as sink:
            for _ in range(64):
                sink.put(b"z" * MIB, 0, MIB)
            sink.finish()
    finally:
        os.close(fd)
    assert path.stat().st_size == 0


def _every_page(raw: bytes, start: int, end: int) -> list[tuple[int, int]]:
    """data_runs spelled out: every page compared whole."""
    runs: list[tuple[int, int]] = []
    begin = start
    for at in range(start, end, PAGE):
        if raw[at : at + PAGE] == ZERO_PAGE:
            if begin < at:
                runs.append((begin, at))
            begin = at + PAGE
    if begin < end:
        runs.append((begin, end))
    return runs


@pytest.mark.parametrize("seed", range(6))
def test_data_runs_skip_exactly_the_pages_of_zeros(seed: int) -> None:
    """Pages that begin (or end) with zeros and are not all zeros are data; only whole pages of zeros are
    skipped, wherever the run starts in its buffer and however it ends."""
    rnd = random.Random(seed)
    pages = []
    for _ in range(64):
        kind = rnd.randrange(5)
        if kind == 0:
            pages.append(ZERO_PAGE)
        elif kind == 1:  # zeros but for one byte somewhere
            at = rnd.randrange(PAGE)
            pages.append(bytes(at) + b"\1" + bytes(PAGE - at - 1))
        elif kind == 2:  # begins with zeros
            pages.append(bytes(rnd.randrange(1, PAGE)).ljust(PAGE, b"d"))
        else:
            pages.append(rnd.randbytes(PAGE))
    pad = rnd.randrange(0, 3 * PAGE)
    raw = rnd.randbytes(pad) + b"".join(pages) + rnd.randbytes(rnd.randrange(PAGE))
    end = pad + rnd.randrange(1, 65) * PAGE
    assert data_runs(raw, pad, end) == _every_page(raw, pad, end)
    assert data_runs(bytearray(raw), pad, end) == _every_page(raw, pad, end)


@pytest.mark.parametrize("threaded", [False, True])
@pytest.mark.parametrize("split", [1, 1000, PAGE - 1])
def test_a_last_page_of_zeros_split_between_two_runs_keeps_the_files_size(tmp_path: Path, threaded: bool,
                                                                          split: int) -> None:
    """The file ends in a page of zeros that two runs share: nothing is written for it, and the file still gets
    its whole size (an empty write at that page once counted as its end, and the file came back a page short
    while the stream it was written from, and so the whole-file digest, was right)."""
    data = b"d" * PAGE + bytes(PAGE)
    path = tmp_path / "out"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with SparseFile(fd, threaded) as sink:
            sink.put(data, 0, PAGE + split)
            sink.put(data, PAGE + split, 2 * PAGE)
            sink.finish()
    finally:
        os.close(fd)
    assert path.read_bytes() == data


class _LosesItsLastByte(SparseFile):
    """A writer with a bug of the kind above: it sizes any file over 100 bytes one byte short."""

    def finish(self) -> None:
        super().finish()
        if (size := os.fstat(self.fd).st_size) > 100:
            os.ftruncate(self.fd, size - 1)


@pytest.mark.parametrize("size", [3000, 5 * MIB])  # a small file (the workers') and a big one (its own writer)
def test_a_file_the_writer_cut_short_is_an_error_not_a_restored_file(tmp_path: Path, size: int,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the writer does wrong, the restored file's size is held to the version's: a short file is the
    entry's error, and nothing is left under its name or beside it."""
    src = tmp_path / "src"
    make_tree(src, {"kept.txt": b"fine\n", "data.bin": random.Random(3).randbytes(size)})
    repo = new_repo(tmp_path, src)
    snap = backup(repo)
    monkeypatch.setattr(restore_module, "SparseFile", _LosesItsLastByte)
    out = tmp_path / "out"
    with Timekeep.open(repo) as tk:
        result = tk.restore(os.fsencode(src), snap, dest=os.fsencode(out))
    failed = [e for e in result.errors if e.failed]
    assert [os.path.basename(e.path) for e in failed] == [b"data.bin"], result.errors
    assert f"came out {size - 1} bytes where the version has {size}" in failed[0].message
    assert {k: v[1] for k, v in read_tree(out).items() if v[0] == "file"} == {b"src/kept.txt": b"fine\n"}
