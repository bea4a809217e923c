"""A sealed pack leaves the page cache (pack.py `_leave_page_cache`): once fsynced, nothing in the backup
reads it again, so its pages are let go rather than pushing the person's own files out of memory. Residency
is read with mincore(2) over a mapping of each pack that is never touched."""

from __future__ import annotations

import ctypes
import mmap
import os
from pathlib import Path

from tests.helpers import read_tree
from tests.treeops import assert_snapshot_matches, payload
from timekeep.core.api import Timekeep, init_repository
from timekeep.core.storage.layout import Layout

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
FAILED = ctypes.c_void_p(-1).value


def resident(path: Path) -> int:
    """Bytes of `path` in the page cache, without reading any."""
    size = path.stat().st_size
    fd = os.open(path, os.O_RDONLY)
    try:
        at = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        assert at not in (None, FAILED), os.strerror(ctypes.get_errno())
        try:
            pages = ctypes.create_string_buffer(-(-size // mmap.PAGESIZE))
            assert _libc.mincore(at, size, pages) == 0, os.strerror(ctypes.get_errno())
        finally:
            _libc.munmap(at, size)
    finally:
        os.close(fd)
    return sum(page & 1 for page in pages.raw) * mmap.PAGESIZE


def test_a_file_written_and_fsynced_stays_cached_without_the_advice(tmp_path: Path) -> None:
    """The measure can see cached pages: a file written as a pack was, but not let go."""
    path = tmp_path / "plain"
    with path.open("wb") as fh:
        fh.write(payload(1, 3 << 20))
        fh.flush()
        os.fsync(fh.fileno())
    assert resident(path) >= (3 << 20) - mmap.PAGESIZE


def test_sealed_packs_leave_the_page_cache_and_still_restore_byte_exact(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / f"big{i}.bin").write_bytes(payload(i, 3 << 20))
        (src / f"note{i}.txt").write_bytes(payload(i, 4000, "text"))
    init_repository(tmp_path / "repo")
    with Timekeep.open(tmp_path / "repo", writer=True) as tk:
        tk.add_folder(os.fsencode(src))
        sid = tk.backup().id
    packs = sorted(Layout(tmp_path / "repo").packs.glob("*/*.pack"))
    assert packs and sum(p.stat().st_size for p in packs) > 9 << 20
    assert [resident(p) for p in packs] == [0] * len(packs)
    with Timekeep.open(tmp_path / "repo") as tk:
        assert tk.check(read_data=True).ok
        assert_snapshot_matches(tk, os.fsencode(src), sid, read_tree(src), tmp_path / "restores")
