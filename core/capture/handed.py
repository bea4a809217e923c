"""The digests a backup has handed to the index, in little memory.

A long first backup used to keep every digest it stored in memory (two sets of 32-byte objects: about
190 bytes a chunk, most of a million tiny files' peak). Once the index holds a chunk, the store forgets it
and asks the index instead, but only about digests this filter may hold: Bloom filters that answer
"certainly not" for nearly every new digest, so a first backup still asks the index almost nothing. They
grow with what they hold (each level four times the last, about 16 bits a digest at most: 2.8 MiB for a
million), so a small backup pays a few KiB. Chunk ids are uniform (BLAKE3, keyed or not), so slices of the
digest serve as the filters' hash functions.
"""

from __future__ import annotations

FIRST_BITS_LOG2 = 16  # 8 KiB, for the first 4,096 digests
GROWTH_LOG2 = 2  # each level four times the one before: few levels to look through
BITS_PER_DIGEST = 16  # a level is full at this load: about one false "maybe" (one query) in 400


class _Level:
    def __init__(self, bits_log2: int) -> None:
        self.bits = bytearray(1 << (bits_log2 - 3))
        self.mask = (1 << bits_log2) - 1
        self.room = (1 << bits_log2) // BITS_PER_DIGEST

    def add(self, v: int) -> None:
        bits, m = self.bits, self.mask
        for spot in (v & m, (v >> 32) & m, (v >> 64) & m, (v >> 96) & m):
            bits[spot >> 3] |= 1 << (spot & 7)
        self.room -= 1

    def __contains__(self, v: int) -> bool:
        bits, m = self.bits, self.mask
        a, b, c, d = v & m, (v >> 32) & m, (v >> 64) & m, (v >> 96) & m
        return bool(bits[a >> 3] >> (a & 7) & 1 and bits[b >> 3] >> (b & 7) & 1
                    and bits[c >> 3] >> (c & 7) & 1 and bits[d >> 3] >> (d & 7) & 1)


class HandedDigests:
    """A set of digests that answers `maybe in it` or `certainly not`."""

    def __init__(self, first_bits_log2: int = FIRST_BITS_LOG2) -> None:
        self._levels: list[_Level] = []  # none until the first add: most backups hand nothing over
        self._next = first_bits_log2

    def add(self, digest: bytes) -> None:
        if not self._levels or self._levels[-1].room <= 0:
            self._levels.append(_Level(self._next))
            self._next += GROWTH_LOG2
        self._levels[-1].add(int.from_bytes(digest[:16], "little"))

    def __contains__(self, digest: bytes) -> bool:
        if not self._levels:
            return False
        v = int.from_bytes(digest[:16], "little")
        return any(v in level for level in reversed(self._levels))

    def size(self) -> int:
        """Bytes held."""
        return sum(len(level.bits) for level in self._levels)
