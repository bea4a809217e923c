"""The digests a backup has handed to the index, in fixed memory.

A long first backup used to keep every digest it stored in memory (two sets of 32-byte objects: about
190 bytes a chunk, most of a million tiny files' peak). Once the index holds a chunk, the store forgets it
and asks the index instead, but only about digests this filter may hold: a Bloom filter that answers
"certainly not" for nearly every new digest, so a first backup still asks the index almost nothing. Chunk
ids are uniform (BLAKE3, keyed or not), so slices of the digest serve as the filter's hash functions.
"""

from __future__ import annotations

BITS_LOG2 = 26  # 8 MiB: at a million chunks one digest in 70,000 is a false "maybe" (one query); at ten million 5%
PROBES = 4  # 32-bit slices of the digest's first 16 bytes


class HandedDigests:
    """A set of digests that answers `maybe in it` or `certainly not`, in a fixed 2**BITS_LOG2 bits."""

    def __init__(self, bits_log2: int = BITS_LOG2) -> None:
        self._bits: bytearray | None = None  # made on the first add: most backups hand nothing over
        self._size = 1 << (bits_log2 - 3)
        self._mask = (1 << bits_log2) - 1

    def _spots(self, digest: bytes) -> tuple[int, int, int, int]:
        v, m = int.from_bytes(digest[:16], "little"), self._mask
        return v & m, (v >> 32) & m, (v >> 64) & m, (v >> 96) & m

    def add(self, digest: bytes) -> None:
        if self._bits is None:
            self._bits = bytearray(self._size)
        bits = self._bits
        for spot in self._spots(digest):
            bits[spot >> 3] |= 1 << (spot & 7)

    def __contains__(self, digest: bytes) -> bool:
        bits = self._bits
        if bits is None:
            return False
        a, b, c, d = self._spots(digest)
        return bool(bits[a >> 3] >> (a & 7) & bits[b >> 3] >> (b & 7) & bits[c >> 3] >> (c & 7)
                    & bits[d >> 3] >> (d & 7) & 1)
