"""Packs written past the page cache (core/storage/direct_writes.py): every byte lands once and in order,
whole blocks go out directly and only the last part of a pack through the page cache, and a drive that
refuses direct writes (at fcntl, at a write, or with a short write) gets the same bytes the ordinary way.

The stand-ins below replace the `os` and `fcntl` the appender calls, as a filesystem would answer; the
bytes are always written for real, to a file on the test's drive (one that takes O_DIRECT)."""

from __future__ import annotations

import errno
import fcntl
import itertools
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import blake3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import timekeep.core.storage.direct_writes as direct_mod
from tests.helpers import read_tree
from tests.treeops import assert_snapshot_matches, payload
from timekeep.core.api import Timekeep, init_repository
from timekeep.core.storage import frame
from timekeep.core.storage.direct_writes import BLOCK, DirectAppender
from timekeep.core.storage.layout import Layout
from timekeep.core.storage.pack import PackReader, PackWriter, read_footer


def refuse_direct_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A filesystem that does not take O_DIRECT: fcntl says EINVAL, as Linux does for one without direct I/O."""

    def refusing(fd: int, cmd: int, arg: int = 0) -> int:
        if cmd == fcntl.F_SETFL and arg & os.O_DIRECT:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        return fcntl.fcntl(fd, cmd, arg)

    monkeypatch.setattr(direct_mod, "fcntl", SimpleNamespace(fcntl=refusing, F_GETFL=fcntl.F_GETFL,
                                                             F_SETFL=fcntl.F_SETFL))


def is_direct(fd: int) -> bool:
    return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT)


class Writes:
    """Stands in for `os` inside the appender: notes each write's length and whether it went out directly, and
    can refuse the next direct write (EINVAL), fail it (EIO) or cut it short off a block's edge."""

    def __init__(self, next_direct: str = "") -> None:
        self.next_direct = next_direct  # "", "refuse", "fail" or "cut"
        self.done: list[tuple[int, bool]] = []
        self.refused = 0
        self.cut = 0  # bytes the cut write took

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def write(self, fd: int, data: Any) -> int:
        if self.next_direct and is_direct(fd):
            return self._misbehave(fd, data)
        self.done.append((len(data), is_direct(fd)))
        return os.write(fd, data)

    def writev(self, fd: int, buffers: Any) -> int:
        self.done.append((sum(len(b) for b in buffers), is_direct(fd)))
        return os.writev(fd, buffers)

    def _misbehave(self, fd: int, data: Any) -> int:
        what, self.next_direct = self.next_direct, ""
        if what == "fail":
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        if what == "refuse":
            self.refused += 1
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)  # "cut": the drive took up to 5,000 bytes, off a block's edge
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_DIRECT)
        self.cut = min(5000, len(data) - 1)
        try:
            self.done.append((self.cut, True))
            return os.write(fd, data[: self.cut])
        finally:
            fcntl.fcntl(fd, fcntl.F_SETFL, flags)

    def total(self, direct: bool) -> int:
        return sum(n for n, was_direct in self.done if was_direct == direct)


def append(path: Path, batches: list[list[Any]], capacity: int = 1 << 16, finish: bool = True) -> DirectAppender:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        out = DirectAppender(fd, capacity)
        for batch in batches:
            out.write(batch)
        if finish:
            out.finish()
        else:
            out.close()
    finally:
        os.close(fd)
    return out


def pieces_of(sizes: list[list[int]], seed: int) -> list[list[Any]]:
    """Pieces of the given sizes as a pack gets them: bytes, bytearrays and views into larger buffers."""
    kinds = (bytes, bytearray, lambda b: memoryview(b"..." + b)[3:])
    return [[kinds[j % 3](payload(seed + i * 97 + j, n)) for j, n in enumerate(batch)]
            for i, batch in enumerate(sizes)]


_files = itertools.count()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.lists(st.integers(0, 20_000), max_size=8), max_size=6),
       capacity=st.sampled_from([BLOCK, 3 * BLOCK + 100, 1 << 16]), seed=st.integers(0, 1000))
def test_pieces_land_once_and_in_order_and_whole_blocks_go_out_directly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sizes: list[list[int]], capacity: int, seed: int) -> None:
    writes = Writes()
    monkeypatch.setattr(direct_mod, "os", writes)
    batches = pieces_of(sizes, seed)
    path = tmp_path / f"pack{next(_files)}"
    append(path, batches, capacity)
    expected = b"".join(bytes(piece) for batch in batches for piece in batch)
    assert path.read_bytes() == expected
    assert all(n % BLOCK == 0 for n, direct in writes.done if direct)
    assert writes.total(direct=True) == len(expected) - len(expected) % BLOCK  # the test's drive takes O_DIRECT
    assert writes.total(direct=False) == len(expected) % BLOCK


def test_a_filesystem_refusing_direct_writes_gets_the_same_bytes(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    refuse_direct_writes(monkeypatch)
    writes = Writes()
    monkeypatch.setattr(direct_mod, "os", writes)
    batches = pieces_of([[70_000, 5], [0, 9000, 123_457]], 1)
    out = append(tmp_path / "pack", batches)
    assert not out.direct and writes.total(direct=True) == 0
    assert (tmp_path / "pack").read_bytes() == b"".join(bytes(p) for batch in batches for p in batch)


@pytest.mark.parametrize("misbehaviour", ["refuse", "cut"])
def test_a_direct_write_refused_or_cut_short_falls_back_for_good(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  misbehaviour: str) -> None:
    """A drive that accepts O_DIRECT at fcntl and then refuses a write (EINVAL), or takes part of one off a
    block's edge: the rest of that write and every later one go through the page cache, nothing twice."""
    writes = Writes(misbehaviour)
    monkeypatch.setattr(direct_mod, "os", writes)
    batches = pieces_of([[30_000], [50_000, 7], [20_000]], 2)
    out = append(tmp_path / "pack", batches, capacity=16 * BLOCK)
    assert (tmp_path / "pack").read_bytes() == b"".join(bytes(p) for batch in batches for p in batch)
    assert not out.direct and writes.total(direct=True) == writes.cut == (5000 if misbehaviour == "cut" else 0)
    assert writes.refused == (misbehaviour == "refuse")


def test_a_failing_direct_write_is_the_callers_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(direct_mod, "os", Writes("fail"))
    with pytest.raises(OSError) as failed:
        append(tmp_path / "pack", pieces_of([[3 * BLOCK]], 3))
    assert failed.value.errno == errno.EIO


def test_a_pack_given_up_leaves_only_its_whole_blocks(tmp_path: Path) -> None:
    batches = pieces_of([[2 * BLOCK + 100]], 4)
    out = append(tmp_path / "pack", batches, finish=False)
    assert (tmp_path / "pack").read_bytes() == bytes(batches[0][0])[: 2 * BLOCK]
    out.finish()  # after close, nothing is left to write
    assert (tmp_path / "pack").stat().st_size == 2 * BLOCK


@pytest.mark.parametrize("drive", ["direct", "refused"])
def test_a_pack_reads_back_frame_by_frame_either_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     drive: str) -> None:
    if drive == "refused":
        refuse_direct_writes(monkeypatch)
    writes = Writes()
    monkeypatch.setattr(direct_mod, "os", writes)
    layout = Layout(tmp_path / "repo")
    layout.packs.mkdir(parents=True)
    writer = PackWriter(layout)
    raws = [payload(n, 100 + n * 977 % 90_000, "text" if n % 3 else "random") for n in range(200)]
    for raw in raws:
        writer.add_parts(frame.parts(raw, 3), [(blake3.blake3(raw).digest(), 0, len(raw))])
    [sealed] = writer.flush()
    assert (writes.total(direct=True) > 0) == (drive == "direct")
    assert (layout.packs / sealed.name[:2] / f"{sealed.name}.pack").stat().st_size == sealed.size
    reader = PackReader(layout)
    entries = read_footer(layout.store, sealed.name)
    assert [frame.decode(reader.read(sealed.name, e.offset, e.length)) for e in entries] == raws
    reader.close()


def test_a_backup_to_a_drive_refusing_direct_writes_restores_byte_exact(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    refuse_direct_writes(monkeypatch)
    src = tmp_path / "src"
    src.mkdir()
    for i in range(4):
        (src / f"big{i}.bin").write_bytes(payload(i, 700_000 + i))
        (src / f"note{i}.txt").write_bytes(payload(i, 3000 + i, "text"))
    init_repository(tmp_path / "repo")
    with Timekeep.open(tmp_path / "repo", writer=True) as tk:
        tk.add_folder(os.fsencode(src))
        sid = tk.backup().id
        assert tk.check(read_data=True).ok
        assert_snapshot_matches(tk, os.fsencode(src), sid, read_tree(src), tmp_path / "restores")

