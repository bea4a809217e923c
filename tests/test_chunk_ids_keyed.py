"""Keyed chunk ids and the keyed chunker: equal content gets different ids and different cut points in two
repositories, the same ones every time in one (so deduplication still works), and an unkeyed repository
keeps plain BLAKE3 ids exactly as before."""

from __future__ import annotations

import random

import blake3
import pytest
from fastcdc.fastcdc_cy import fastcdc_cy

from timekeep.core.crypto.chunk_ids import ChunkIds, chunker_permutation, permuted
from timekeep.core.storage.layout import ChunkerParams

KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))
PARAMS = ChunkerParams()


def _data(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _cuts(data: bytes, table: bytes | None) -> list[tuple[int, int]]:
    looked_at = data if table is None else permuted(data, table)
    return [(c.offset, c.length) for c in fastcdc_cy(looked_at, PARAMS.min_size, PARAMS.avg_size, PARAMS.max_size)]


def test_an_unkeyed_repository_keeps_plain_blake3_ids() -> None:
    assert ChunkIds().of(b"content") == blake3.blake3(b"content").digest()


def test_keyed_ids_differ_between_repositories_and_agree_within_one() -> None:
    content = _data(1, 70_000)
    a, b = ChunkIds(KEY_A), ChunkIds(KEY_B)
    assert a.of(content) == ChunkIds(bytes(KEY_A)).of(memoryview(content))
    assert len({a.of(content), b.of(content), ChunkIds().of(content)}) == 3
    assert a.of(content) == blake3.blake3(content, key=KEY_A).digest() and len(a.of(content)) == 32


def test_the_incremental_hasher_gives_the_same_id() -> None:
    content = _data(2, 200_000)
    for ids in (ChunkIds(), ChunkIds(KEY_A)):
        hasher = ids.hasher()
        for at in range(0, len(content), 65_536):
            hasher.update(content[at : at + 65_536])
        assert hasher.digest() == ids.of(content)


def test_a_key_must_be_32_bytes_and_never_shows_in_a_repr() -> None:
    for bad in (b"", bytes(31), bytes(33)):
        with pytest.raises(ValueError, match="32 bytes"):
            ChunkIds(bad)
        with pytest.raises(ValueError, match="32 bytes"):
            chunker_permutation(bad)
    assert repr(ChunkIds(KEY_A)) == "ChunkIds(keyed=True)" and KEY_A.hex() not in repr(ChunkIds(KEY_A))


def test_the_chunker_permutation_is_a_keyed_permutation_of_all_bytes() -> None:
    table_a, table_b = chunker_permutation(KEY_A), chunker_permutation(KEY_B)
    assert sorted(table_a) == list(range(256)) and sorted(table_b) == list(range(256))
    assert table_a == chunker_permutation(bytes(KEY_A))
    assert table_a != table_b and table_a != bytes(range(256))
    assert permuted(b"\x00\x01\xff", table_a) == bytes([table_a[0], table_a[1], table_a[255]])


def test_keyed_cuts_tile_the_data_within_the_chunker_sizes() -> None:
    data = _data(3, 4 << 20)
    cuts = _cuts(data, chunker_permutation(KEY_A))
    assert sum(length for _, length in cuts) == len(data)
    assert [start for start, _ in cuts] == [sum(length for _, length in cuts[:n]) for n in range(len(cuts))]
    assert all(PARAMS.min_size <= length <= PARAMS.max_size for _, length in cuts[:-1])
    mean = len(data) / len(cuts)
    assert PARAMS.avg_size / 2 < mean < PARAMS.avg_size * 2


def test_equal_content_is_cut_differently_in_two_repositories_and_alike_in_one() -> None:
    data = _data(4, 2 << 20)
    plain, a, b = _cuts(data, None), _cuts(data, chunker_permutation(KEY_A)), _cuts(data, chunker_permutation(KEY_B))
    assert a == _cuts(data, chunker_permutation(KEY_A))
    sizes = [{length for _, length in cuts} for cuts in (plain, a, b)]
    assert len(sizes[0] & sizes[1]) < 3 and len(sizes[1] & sizes[2]) < 3  # the sizes do not give the content away


def test_keyed_cuts_still_deduplicate_an_insertion() -> None:
    """Content-defined still: 100 bytes inserted in the middle leave the chunks before and after as they were."""
    table = chunker_permutation(KEY_A)
    data = _data(5, 2 << 20)
    edited = data[: 1 << 20] + b"x" * 100 + data[1 << 20 :]
    ids = ChunkIds(KEY_A)
    before = {ids.of(data[o : o + n]) for o, n in _cuts(data, table)}
    after = [ids.of(edited[o : o + n]) for o, n in _cuts(edited, table)]
    new = [digest for digest in after if digest not in before]
    assert 1 <= len(new) <= 3


def test_the_repository_keys_chunk_id_subkey_keys_the_ids_and_seals_nothing_else() -> None:
    from timekeep.core.crypto.seal import Kind, ObjectName, open, seal
    from timekeep.core.crypto.subkeys import Purpose, new_repository_key
    from timekeep.core.errors import SealBroken

    first, second = new_repository_key(), new_repository_key()
    content = _data(6, 100_000)
    assert ChunkIds(first.subkey(Purpose.CHUNK_IDS)).of(content) != ChunkIds(second.subkey(Purpose.CHUNK_IDS)).of(
        content)
    name = ObjectName(Kind.FRAME, "00" * 32, "1" * 32)
    sealed = seal(first.subkey(Purpose.OBJECTS), name, content)
    assert open(first.subkey(Purpose.OBJECTS), name, sealed) == content
    with pytest.raises(SealBroken):
        open(first.subkey(Purpose.CHUNK_IDS), name, sealed)
