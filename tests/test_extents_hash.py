"""The extents hash every version row's seal covers (`xhash`): its bytes never change, however it is computed,
or every version stored before would read as damaged."""

from __future__ import annotations

import struct

import blake3

from timekeep.core.index import seal

EXTENTS = [(65536, 4000, b"\x02" * 32, 0), (0, 65536, b"\x01" * 32, 7), (69536, 1, b"\xff" * 32, 0)]


def by_fields(extents: list[seal.ExtentKey]) -> bytes:
    """The definition: the key, then each extent's offset, length and skip (little-endian u64) and its digest,
    in offset order, one update each."""
    h = blake3.blake3(b"timekeep extents hash 1")
    for offset, length, digest, skip in sorted(extents, key=lambda e: (e[0], e[1])):
        h.update(struct.pack("<QQQ", offset, length, skip))
        h.update(digest)
    return h.digest(length=16)


def test_the_extents_hash_is_the_same_bytes_as_its_definition_and_as_before() -> None:
    assert seal.extents_hash(EXTENTS) == by_fields(EXTENTS)
    assert seal.extents_hash(EXTENTS).hex() == "37969ec16d5e25dba03489c289ff8427"  # as the code before gave it
    assert seal.extents_hash([]).hex() == "7385ce07788f900efb7883b489772ead"
    assert seal.extents_hash(list(reversed(EXTENTS))) == seal.extents_hash(EXTENTS)
    assert seal.extents_hash(EXTENTS[:2]) != seal.extents_hash(EXTENTS)
