"""Keyed chunk ids, and the means to key the chunker, so an encrypted repository's ids reveal no content.

A plain BLAKE3 id lets anyone who can see ids tell whether a repository holds a known file, and match equal
content across repositories; a keyed BLAKE3 id (the key is a 32-byte subkey from the repository's master key,
`Purpose.CHUNK_IDS` in subkeys.py) does neither, at no measurable cost. The compiled FastCDC we use has a
fixed gear table and no seed, but its gear hash only ever looks a byte up in that table: chunking the bytes
through a secret permutation of 0..255 is chunking them with a secretly permuted gear table. That second pass
over every byte costs more than encryption's whole budget (bench/aead.py), so encrypted repositories do not
use it for now; FORMAT.md ("Encryption") says what unkeyed cut points leak.
"""

from __future__ import annotations

from dataclasses import dataclass

import blake3

KEY_SIZE = 32
ID_SIZE = 32
_PERMUTATION_CONTEXT = "timekeep 2026-12 chunker gear permutation v1"


def _check_key(key: bytes) -> bytes:
    if not isinstance(key, bytes) or len(key) != KEY_SIZE:
        raise ValueError(f"a chunk id key is {KEY_SIZE} bytes")
    return key


@dataclass(frozen=True)
class ChunkIds:
    """How a repository names its chunks: plain BLAKE3-256 without a key, keyed BLAKE3-256 with one.

    One object serves both kinds of repository, so what stores and checks chunks asks it rather than
    knowing which kind it writes.
    """

    key: bytes | None = None

    def __post_init__(self) -> None:
        if self.key is not None:
            _check_key(self.key)

    def of(self, data: bytes | bytearray | memoryview) -> bytes:
        """The 32-byte id of a chunk's raw (uncompressed) content."""
        if self.key is None:
            return blake3.blake3(data).digest()
        return blake3.blake3(data, key=self.key).digest()

    def hasher(self) -> blake3.blake3:
        """An incremental hasher giving the same id as `of` once fed the same bytes."""
        return blake3.blake3() if self.key is None else blake3.blake3(key=self.key)

    def __repr__(self) -> str:  # never print a key into a log or a traceback
        return f"ChunkIds(keyed={self.key is not None})"


def chunker_permutation(key: bytes) -> bytes:
    """A 256-byte `bytes.translate` table: a permutation of all byte values that only the key determines.

    The permutation is the byte values sorted by a keyed hash of each, under a key derived from `key` for
    this purpose alone (BLAKE3's key derivation mode), so it says nothing about the chunk ids' key.
    """
    derived = blake3.blake3(_check_key(key), derive_key_context=_PERMUTATION_CONTEXT).digest()
    order = sorted(range(256), key=lambda value: blake3.blake3(bytes([value]), key=derived).digest())
    return bytes(order)


def permuted(data: bytes | bytearray | memoryview, table: bytes) -> bytes:
    """`data` with every byte replaced through `table`: what the chunker looks at in a keyed repository.

    Cut points found in the result are cut points of `data` itself (same offsets, same lengths); the
    chunks stored and hashed are still cut from `data`.
    """
    return bytes(data).translate(table)
