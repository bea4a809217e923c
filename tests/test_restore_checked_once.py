"""A restore writes each version to a temporary it keeps only if the whole matches the digest recorded at backup, so
its chunks are hashed once (by the whole) and checked one by one only when the whole does not match, to name the
damaged chunk and pack (core/restore/combine.py, `provisional`). What is handed back anywhere else (a preview, a
comparison) is still checked chunk by chunk before a byte of it goes out."""

from __future__ import annotations

import dataclasses
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.restore_support import src as src
from tests.treeops import flip, pack_file
from timekeep.core.api import Timekeep, init_repository
from timekeep.core.errors import CorruptData
from timekeep.core.restore import combine

MIB = 1 << 20
BIG = "big.bin"  # many frames: fetched ahead in threads
SMALL = "small.bin"  # one frame: fetched on the restoring thread


class CountingIds:
    """The repository's chunk ids, counting the chunks checked against them."""

    def __init__(self, ids: Any) -> None:
        self.ids, self.checked = ids, 0

    def of(self, data: Any) -> bytes:
        self.checked += 1
        digest: bytes = self.ids.of(data)
        return digest


@pytest.fixture
def history(src: Path, tmp_path: Path) -> Iterator[tuple[Path, int, dict[str, bytes]]]:
    """Random (stored raw, so a flipped byte still decodes) files in a plain repository, backed up once."""
    rnd = random.Random(37)
    files = {BIG: rnd.randbytes(5 * MIB), SMALL: rnd.randbytes(200_000), "other.bin": rnd.randbytes(150_000)}
    for name, data in files.items():
        (src / name).write_bytes(data)
    repo = tmp_path / "drive" / "Timekeep" / "repo"
    init_repository(repo)
    with Timekeep.open(repo, writer=True) as tk:
        tk.add_folder(os.fsencode(src))
        sid = tk.backup().id
    yield repo, sid, files


def damage(tk: Timekeep, path: bytes, sid: int, repo: Path, piece: int) -> str:
    """One bit of the `piece`-th piece's chunk flipped in its pack; the chunk's short name, as errors give it."""
    digest = tk.plan(path, sid).pieces[piece].digest
    where = tk._repo.source.locate([digest])[digest]  # type: ignore[attr-defined]
    flip(pack_file(repo, where.pack), where.offset + combine.frame.FRAME.size + where.inner + where.raw_length // 2)
    return digest.hex()[:16]


@pytest.mark.parametrize("name", [BIG, SMALL])
def test_a_whole_version_that_matches_is_restored_without_checking_a_chunk(
        history: tuple[Path, int, dict[str, bytes]], src: Path, tmp_path: Path, name: str) -> None:
    repo, sid, files = history
    with Timekeep.open(repo) as tk:
        counting = tk._repo.source.ids = CountingIds(tk._repo.source.ids)  # type: ignore[attr-defined]
        result = tk.restore(os.fsencode(src / name), sid, dest=os.fsencode(tmp_path / "out"))
    assert result.errors == ()
    assert (tmp_path / "out" / name).read_bytes() == files[name]
    assert counting.checked == 0


@pytest.mark.parametrize(("name", "piece"), [(BIG, 0), (BIG, -1), (SMALL, 0)])
def test_a_damaged_chunk_is_named_and_nothing_of_its_file_is_kept(
        history: tuple[Path, int, dict[str, bytes]], src: Path, tmp_path: Path, name: str, piece: int) -> None:
    repo, sid, files = history
    out = tmp_path / "out"
    with Timekeep.open(repo) as tk:
        short = damage(tk, os.fsencode(src / name), sid, repo, piece)
        result = tk.restore(os.fsencode(src), sid, dest=os.fsencode(out))
    (error,) = result.errors
    assert error.path == os.fsencode(src / name)
    assert f"chunk {short}" in error.message and "does not match its digest" in error.message
    left = {p.name: p.read_bytes() for p in (out / "src").iterdir()}
    assert left == {n: data for n, data in files.items() if n != name}, "the others whole, nothing of the damaged"


def test_a_preview_checks_each_chunk_before_it_goes_out(history: tuple[Path, int, dict[str, bytes]],
                                                         src: Path) -> None:
    repo, sid, files = history
    with Timekeep.open(repo) as tk:
        short = damage(tk, os.fsencode(src / BIG), sid, repo, -1)
        got: list[bytes] = []

        class Sink:
            def write(self, data: Any) -> None:
                got.append(bytes(data))

        with pytest.raises(CorruptData, match=f"chunk {short}"):
            tk.write_version(tk.plan(os.fsencode(src / BIG), sid), Sink())  # type: ignore[arg-type]
    handed = b"".join(got)
    assert 0 < len(handed) < len(files[BIG]) and files[BIG].startswith(handed), "only checked bytes went out"


def test_a_version_without_a_recorded_digest_has_every_chunk_checked(history: tuple[Path, int, dict[str, bytes]],
                                                                     src: Path) -> None:
    repo, sid, files = history
    with Timekeep.open(repo) as tk:
        source = tk._repo.source  # type: ignore[attr-defined]
        plan = dataclasses.replace(tk.plan(os.fsencode(src / BIG), sid), digest=None)
        counting = source.ids = CountingIds(source.ids)
        got: list[bytes] = []
        combine.stream_version(source, plan, lambda raw, start, end: got.append(bytes(raw[start:end])),
                               provisional=True)
        assert b"".join(got) == files[BIG]
        assert counting.checked == len({p.digest for p in plan.pieces})
        short = damage(tk, plan.path, sid, repo, 0)
        with pytest.raises(CorruptData, match=f"chunk {short}"):
            combine.stream_version(source, plan, lambda raw, start, end: None, provisional=True)
