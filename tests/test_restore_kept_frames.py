"""A frame a file keeps coming back to (the frame of zeros of a disk image) is read once and kept until its
last use (core/restore/combine.py, `_Kept`): the file still comes back byte for byte, its zeros as holes."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

from tests.helpers import backup, new_repo
from tests.restore_support import src as src
from timekeep.core.api import Timekeep

MIB = 1 << 20


def test_a_frame_of_zeros_returned_to_is_read_once(src: Path, tmp_path: Path) -> None:
    rnd = random.Random(15)
    sections = 6
    data = b"".join(rnd.randbytes(MIB) + bytes(MIB) for _ in range(sections))
    (src / "disk.img").write_bytes(data)
    repo = new_repo(tmp_path, src)
    sid = backup(repo)
    dest = tmp_path / "dest"
    reads: list[tuple[Any, ...]] = []
    with Timekeep.open(repo) as tk:
        reader = tk._repo.source.reader  # type: ignore[attr-defined]
        real, real_into = reader.read, reader.read_into

        def counted(*args: Any) -> bytes:
            reads.append(args)
            return real(*args)

        def counted_into(pack: str, offset: int, parts: list[bytearray]) -> None:  # the frames of a big file
            reads.append((pack, offset, sum(len(part) for part in parts)))
            real_into(pack, offset, parts)

        reader.read, reader.read_into = counted, counted_into
        result = tk.restore(os.fsencode(src / "disk.img"), sid, dest=os.fsencode(dest))
    assert result.errors == ()
    out = dest / "disk.img"
    assert out.read_bytes() == data
    assert os.stat(out).st_blocks * 512 < len(data) * 3 // 4, "the zeros stay holes"
    assert len(reads) == len(set(reads)), "every frame is read once"
    assert sections < len(reads) < sections * 3  # counted: a frame or two a section of data, one of zeros
