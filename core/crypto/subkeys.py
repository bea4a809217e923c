"""The repository master key and the subkeys derived from it, one per use, so no key serves two purposes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum

import blake3

MASTER_KEY_BYTES = 32
CONTEXT_PREFIX = "timekeep 2026-12 repository subkey "


class Purpose(StrEnum):
    """What a subkey is for; its value is the end of the BLAKE3 derive_key context string."""

    OBJECTS = "objects"  # sealing chunk frames and pack footers
    MANIFESTS = "manifests"  # sealing snapshot manifests
    INDEX = "index"  # sealing the index (or its copy) on the drive
    CHUNK_IDS = "chunk-ids"  # keyed BLAKE3 chunk ids
    CHUNKER = "chunker"  # keying the content-defined chunker's cut points


@dataclass(frozen=True, repr=False)
class RepositoryKey:
    """The 32 random bytes everything else is derived from. Never printed: its repr hides it."""

    master: bytes

    def __post_init__(self) -> None:
        if len(self.master) != MASTER_KEY_BYTES:
            raise ValueError(f"a repository key is {MASTER_KEY_BYTES} bytes, not {len(self.master)}")

    def __repr__(self) -> str:
        return "RepositoryKey(<hidden>)"

    def subkey(self, purpose: Purpose) -> bytes:
        """The 32-byte key for `purpose`: BLAKE3 derive_key with a context string of its own."""
        return derive(self.master, CONTEXT_PREFIX + Purpose(purpose).value)

    def check(self) -> str:
        """A public fingerprint of the key (16 bytes, hex): tells keys apart without revealing one."""
        return derive(self.master, "timekeep 2026-12 repository key check")[:16].hex()


def derive(key_material: bytes, context: str) -> bytes:
    return bytes(blake3.blake3(key_material, derive_key_context=context).digest(MASTER_KEY_BYTES))


def new_repository_key() -> RepositoryKey:
    return RepositoryKey(os.urandom(MASTER_KEY_BYTES))
