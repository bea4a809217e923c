"""What an unlocked encrypted repository seals with: its subkeys, named for their uses, and the keys this
process has unlocked, so every part that reads or writes the drive finds them through the repository's layout.

The repository is unlocked once (core/crypto/unlock.py), before anything reads the drive; its layout then
carries a `Sealing` to the pack writer and reader, the manifest writer and reader, folders.json and the
chunk store, which need no passphrase of their own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from timekeep.core.crypto import seal
from timekeep.core.crypto.chunk_ids import ChunkIds
from timekeep.core.crypto.seal import FrameNames, Kind, ObjectName, Sealer
from timekeep.core.crypto.subkeys import Purpose, RepositoryKey


@dataclass(frozen=True, repr=False)
class Sealing:
    """The subkeys of one repository's key, and how each kind of object on its drive is named and sealed.

    Everything per key is made once, here: the AEAD objects (seal.Sealer) and the frames' names' encoding,
    which a backup of small files would otherwise rebuild for every file.
    """

    repository_id: str
    key: RepositoryKey
    objects: Sealer = field(init=False)
    manifests: Sealer = field(init=False)
    ids: ChunkIds = field(init=False)
    frames: FrameNames = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "objects", Sealer(self.key.subkey(Purpose.OBJECTS)))
        object.__setattr__(self, "manifests", Sealer(self.key.subkey(Purpose.MANIFESTS)))
        object.__setattr__(self, "ids", ChunkIds(self.key.subkey(Purpose.CHUNK_IDS)))
        object.__setattr__(self, "frames", FrameNames(self.repository_id))

    def __repr__(self) -> str:
        return f"Sealing({self.repository_id[:8]})"

    def seal_frame(self, first_chunk: bytes, raw: bytes | memoryview, level: int) -> bytearray:
        return self.objects.sealed_frame_as(self.frames.associated_data(first_chunk), raw, level)

    def open_frame(self, first_chunk: bytes, stored: bytes) -> bytes:
        return self.objects.open_frame(self.frames.name(first_chunk), stored)

    def seal_footer(self, pack_id: str, footer: bytes) -> bytes:
        return self.objects.seal(seal.footer_name(self.repository_id, pack_id), footer)

    def open_footer(self, pack_id: str, sealed: bytes) -> bytes:
        return self.objects.open(seal.footer_name(self.repository_id, pack_id), sealed)

    def seal_manifest(self, snapshot_id: int, generation: int, data: bytes) -> bytes:
        return self.manifests.seal(seal.manifest_name(self.repository_id, snapshot_id, generation), data)

    def open_manifest(self, snapshot_id: int, generation: int, sealed: bytes) -> bytes:
        return self.manifests.open(seal.manifest_name(self.repository_id, snapshot_id, generation), sealed)

    def seal_folders(self, data: bytes) -> bytes:
        return self.manifests.seal(self._folders(), data)

    def open_folders(self, sealed: bytes) -> bytes:
        return self.manifests.open(self._folders(), sealed)

    def _folders(self) -> ObjectName:
        return ObjectName(Kind.FOLDERS, "folders.json", self.repository_id)


_unlocked: dict[str, Sealing] = {}
_lock = threading.Lock()


def remember(repository_id: str, key: RepositoryKey) -> Sealing:
    """Keep the unlocked key for the rest of this process (the agent unlocks once, then backs up unattended)."""
    sealing = Sealing(repository_id, key)
    with _lock:
        _unlocked[repository_id] = sealing
    return sealing


def unlocked(repository_id: str) -> Sealing | None:
    with _lock:
        return _unlocked.get(repository_id)


def forget(repository_id: str) -> None:
    with _lock:
        _unlocked.pop(repository_id, None)
