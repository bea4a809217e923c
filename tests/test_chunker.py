"""Streaming content-defined chunking: the same cut points as chunking the whole file at once."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from timekeep.core.capture.chunker import iter_chunks
from timekeep.core.storage.layout import ChunkerParams


def whole_file_chunks(data: bytes, params: ChunkerParams) -> list[bytes]:
    from fastcdc.fastcdc_cy import fastcdc_cy

    return [data[c.offset : c.offset + c.length]
            for c in fastcdc_cy(data, params.min_size, params.avg_size, params.max_size)]


def stream_chunks(path: Path, params: ChunkerParams, block: int) -> list[bytes]:
    fd = os.open(path, os.O_RDONLY)
    try:
        return [bytes(c) for block_chunks in iter_chunks(fd, params, block_size=block) for c in block_chunks]
    finally:
        os.close(fd)


@pytest.mark.parametrize("block", [64 * 1024, 300_001, 1 << 20, 8 << 20])
def test_stream_matches_whole_file(tmp_path: Path, block: int) -> None:
    rnd = random.Random(block)
    data = rnd.randbytes(1_500_000) + b"\0" * 700_000 + b"text line\n" * 50_000 + rnd.randbytes(77)
    path = tmp_path / "f"
    path.write_bytes(data)
    params = ChunkerParams()
    got = stream_chunks(path, params, block)
    assert got == whole_file_chunks(data, params)
    assert b"".join(got) == data
    assert all(len(c) <= params.max_size for c in got)


def test_empty_file_has_no_chunks(tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    assert stream_chunks(path, ChunkerParams(), 1 << 20) == []


def test_insertion_changes_only_nearby_chunks(tmp_path: Path) -> None:
    rnd = random.Random(7)
    data = rnd.randbytes(4_000_000)
    params = ChunkerParams()
    before = set(whole_file_chunks(data, params))
    edited = data[:2_000_000] + b"x" * 100 + data[2_000_000:]
    after = whole_file_chunks(edited, params)
    new = [c for c in after if c not in before]
    assert sum(len(c) for c in new) < 3 * params.max_size


def test_compiled_chunker_is_used() -> None:
    from fastcdc import fastcdc_cy

    assert fastcdc_cy.__file__.endswith(".so")


@pytest.mark.parametrize("size", [1, 4096, 16_383, 16_384, 16_385, 16_386, 40_000])
def test_small_files_cut_as_the_chunker_cuts_them(tmp_path: Path, size: int) -> None:
    """A file of at most min_size is one chunk without asking FastCDC: what FastCDC itself would give."""
    path = tmp_path / "small"
    path.write_bytes(random.Random(size).randbytes(size))
    params = ChunkerParams()
    for block in (size, size + 1, 1 << 20):
        assert stream_chunks(path, params, block) == whole_file_chunks(path.read_bytes(), params)
