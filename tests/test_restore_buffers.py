"""Frames read and decompressed into reused buffers (core/restore/buffers.py, frame.decode_parts): a buffer
anyone still holds is never refilled, a frame decodes to the bytes `decode` gives or to CorruptData, and a
damaged chunk in the middle of a big file costs that file with that chunk's error, nothing of it kept."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
import zstandard

from tests.helpers import backup, new_repo
from tests.restore_support import src as src
from tests.treeops import small_tmpfs
from timekeep.core.api import Timekeep
from timekeep.core.errors import CorruptData
from timekeep.core.restore.buffers import Buffers
from timekeep.core.storage import frame
from timekeep.core.storage.layout import pack_name

MIB = 1 << 20


def test_a_buffer_is_taken_again_only_once_nothing_holds_it() -> None:
    buffers = Buffers(keep=2)
    first = buffers.take(100)
    view = memoryview(first)
    second = buffers.take(100)
    assert second is not first  # `first` is held (and viewed)
    del view
    assert buffers.take(100) is not first  # still held by the name `first`
    first_id = id(first)
    first[:] = b"a" * 100
    del first
    again = buffers.take(40)
    assert id(again) == first_id and again == b"a" * 40  # reused, cut to the length asked, not cleared
    grown = buffers.take(3000)  # `second` is held, `again` is held: a third buffer, not kept (keep=2)
    assert len(grown) == 3000 and grown is not again and grown is not second


def test_buffers_beyond_the_bound_are_not_kept() -> None:
    buffers = Buffers(keep=1)
    held = [buffers.take(10) for _ in range(3)]
    ids = {id(b) for b in held}
    del held
    reused = [buffers.take(10) for _ in range(3)]
    assert sum(id(b) in ids for b in reused) >= 1
    assert len({id(b) for b in reused}) == 3


def _parts(encoded: bytes) -> tuple[bytes, bytearray]:
    return encoded[: frame.FRAME.size], bytearray(encoded[frame.FRAME.size :])


@pytest.mark.parametrize("raw", [b"", b"x", random.Random(3).randbytes(300_000), b"text " * 200_000])
def test_decode_parts_gives_what_decode_gives(raw: bytes) -> None:
    encoded = frame.encode(raw, 3)
    buffers = Buffers()
    assert frame.decode_parts(*_parts(encoded), buffers.take) == frame.decode(encoded) == raw


def _zstd_frame(raw_len: int, payload: bytes) -> bytes:
    return frame.FRAME.pack(frame.FRAME_VERSION, frame.ZSTD, 0, 0, raw_len, len(payload)) + payload


@pytest.mark.parametrize("encoded", [
    _zstd_frame(10_000, zstandard.ZstdCompressor().compress(b"y" * 10_000)[:-4]),  # cut short
    _zstd_frame(10_000, zstandard.ZstdCompressor().compress(b"y" * 10_000) + b"zz"),  # more after the frame
    _zstd_frame(9_999, zstandard.ZstdCompressor().compress(b"y" * 10_000)),  # longer than it says
    _zstd_frame(10_001, zstandard.ZstdCompressor().compress(b"y" * 10_000)),  # shorter than it says
    _zstd_frame(10, b"not zstd at all"),
    frame.FRAME.pack(frame.FRAME_VERSION, frame.RAW, 0, 0, 5, 4) + b"abcd",  # raw, lengths disagree
    frame.FRAME.pack(frame.FRAME_VERSION, 7, 0, 0, 4, 4) + b"abcd",  # unknown compression
    frame.FRAME.pack(9, frame.RAW, 0, 0, 4, 4) + b"abcd",  # unknown version
])
def test_a_damaged_frame_is_corrupt_data(encoded: bytes) -> None:
    with pytest.raises(CorruptData):
        frame.decode_parts(*_parts(encoded), Buffers().take)


def _big_file() -> bytes:
    """Random (stored raw) and text (compressed) sections, with zeros: many frames of both kinds."""
    rnd = random.Random(23)
    text = b"".join(b"line %d of a note that compresses well\n" % n for n in range(30_000))[:MIB]
    return b"".join(rnd.randbytes(MIB) + text + bytes(MIB) for _ in range(4))


@pytest.mark.parametrize("section", ["random", "text"])
def test_a_damaged_chunk_in_a_big_file_is_that_chunks_error_and_nothing_is_kept(
        plain_and_encrypted: str, src: Path, tmp_path: Path, section: str) -> None:
    data = _big_file()
    (src / "disk.img").write_bytes(data)
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    path = os.fsencode(src / "disk.img")
    with Timekeep.open(repo) as tk:
        source = tk._repo.source  # type: ignore[attr-defined]
        plan = tk.plan(path, sid)
        middle = (4 * MIB + MIB // 2) if section == "random" else (5 * MIB + MIB // 2)  # the third section
        piece = next(p for p in plan.pieces if p.offset <= middle < p.offset + p.length)
        where = source.locate([piece.digest])[piece.digest]
        assert where.offset > 0 and len(plan.pieces) > 8
        pack = Path(source.reader.layout.store.local_folder) / pack_name(where.pack)
        at = where.offset + where.length // 2
        with open(pack, "r+b") as fh:  # one byte of the frame that holds the chunk, flipped
            fh.seek(at)
            byte = fh.read(1)
            fh.seek(at)
            fh.write(bytes([byte[0] ^ 0x40]))
        dest = tmp_path / "dest"
        result = tk.restore(path, sid, dest=os.fsencode(dest))
    assert len(result.errors) == 1
    said = str(result.errors[0])
    assert where.pack in said or piece.digest.hex()[:16] in said, said
    assert not dest.exists() or os.listdir(dest) == [], "nothing of the damaged file is kept, not even a temporary"


def test_a_big_file_comes_back_whole_through_reused_buffers(plain_and_encrypted: str, src: Path,
                                                            tmp_path: Path) -> None:
    data = _big_file()
    (src / "disk.img").write_bytes(data)
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    dest = tmp_path / "dest"
    with Timekeep.open(repo) as tk:
        result = tk.restore(os.fsencode(src / "disk.img"), sid, dest=os.fsencode(dest))
    assert result.errors == ()
    out = dest / "disk.img"
    assert out.read_bytes() == data
    assert os.stat(out).st_blocks * 512 <= len(data) - 3 * MIB, "the zeros stay holes"


def test_a_big_file_on_a_target_too_small_is_one_error_and_nothing_left(src: Path, tmp_path: Path) -> None:
    """Blocks are reserved before each write (sparse.py): a full target fails there, as a write would."""
    data = _big_file()
    (src / "disk.img").write_bytes(data)
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    with small_tmpfs(tmp_path / "small", "4m") as small, Timekeep.open(repo) as tk:
        result = tk.restore(os.fsencode(src / "disk.img"), sid, dest=os.fsencode(small / "out"))
        assert [e.message for e in result.errors] == ["No space left on device"], result.errors
        assert not (small / "out").exists() or os.listdir(small / "out") == []
