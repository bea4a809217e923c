"""Sealed objects: AEAD encryption of whatever an encrypted repository keeps on the drive.

Each object is bound to its name (`ObjectName`: kind, id, generation, repository) as associated data, so
an object swapped with another, put back under another name, an older generation put back, or one cut
short fails to open, and the error says which object it was; no byte of a broken object is ever returned.
FORMAT.md ("Encryption") gives the layouts. AES-256-GCM is written (bench/aead.py measured it 2.4 times
faster than ChaCha20-Poly1305 here); both are read, so the choice can change without a format version.
Nonces are random (96 bits, fresh from the OS per object): no counter to keep across writers, threads and
crashes, and at up to 2^32 objects under one key the chance that two ever collide is about 2^-33.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from timekeep.core.errors import CorruptData, SealBroken
from timekeep.core.storage import frame as plain_frame

if TYPE_CHECKING:  # the library loads with the first key (aead_class): an unencrypted command never pays it
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

SEAL_VERSION = 1
AES_256_GCM, CHACHA20_POLY1305 = 1, 2
AEADS = (AES_256_GCM, CHACHA20_POLY1305)
WRITTEN_AEAD = AES_256_GCM
KEY_SIZE, NONCE_SIZE, TAG_SIZE = 32, 12, 16
HEADER = struct.Struct("<BB")  # seal version, AEAD id
OVERHEAD = HEADER.size + NONCE_SIZE + TAG_SIZE
MAX_PLAINTEXT = 2**31 - 1  # what the AEADs take in one call
_AD_TAG = b"timekeep sealed object v1\x00"
_LENGTH = struct.Struct("<I")  # of each field of a name
_GENERATION = struct.Struct("<Q")
_OBJECT_HEADER = HEADER.pack(SEAL_VERSION, WRITTEN_AEAD)
# frames at least this long are encrypted in two pieces (plain header, payload) by a streaming AES-GCM context,
# which costs a few microseconds more than one call but spares a copy of the payload (bench/README.md)
STREAM_FROM = 64 * 1024


class Kind(StrEnum):
    """What an object is: part of its name, so one kind can never be read as another."""

    FRAME = "frame"
    PACK_FOOTER = "pack footer"
    MANIFEST = "manifest"
    INDEX = "index"
    FOLDERS = "folders"
    COALESCING = "coalescing"


@dataclass(frozen=True)
class ObjectName:
    """Everything that identifies one object: bound to its seal, and named by every error about it."""

    kind: Kind
    object_id: str
    repository_id: str
    generation: int = 0
    # encoded once, when the name is made: a backup of small files seals one frame per file
    _encoded: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.kind, Kind) or not 0 <= self.generation < 2**64 or not self.repository_id:
            raise ValueError(f"not an object name: {self!r}")
        try:
            fields = b"".join(_field(text) for text in (self.kind.value, self.object_id, self.repository_id))
        except UnicodeEncodeError:
            raise ValueError(f"not an object name: {self!r}") from None
        object.__setattr__(self, "_encoded", _AD_TAG + fields + _GENERATION.pack(self.generation))

    def associated_data(self) -> bytes:
        """An unambiguous encoding of the name (every field length-prefixed), bound by the AEAD."""
        return self._encoded

    def __str__(self) -> str:
        generation = f" (generation {self.generation})" if self.generation else ""
        return f"{self.kind.value} {self.object_id}{generation} of repository {self.repository_id[:8]}"


def frame_name(repository_id: str, first_chunk: bytes) -> ObjectName:
    """A frame is named by its first chunk's id, which stays its name when a reclaim copies it whole."""
    return ObjectName(Kind.FRAME, first_chunk.hex(), repository_id)


def footer_name(repository_id: str, pack_id: str) -> ObjectName:
    """A pack's footer is named by the pack, so a footer moved into another pack does not open there."""
    return ObjectName(Kind.PACK_FOOTER, pack_id, repository_id)


def manifest_name(repository_id: str, snapshot_id: int, generation: int) -> ObjectName:
    """A manifest is named as its file is: the snapshot (10 digits) and the generation."""
    return ObjectName(Kind.MANIFEST, f"{snapshot_id:010d}", repository_id, generation)


def _field(text: str) -> bytes:
    raw = text.encode("utf-8", "surrogateescape")
    return _LENGTH.pack(len(raw)) + raw


class FrameNames:
    """The associated data of one repository's frames, encoded as `frame_name(...).associated_data()` is but
    without building an ObjectName per frame: a backup of small files seals one frame per file, and only
    the chunk id changes from one frame's name to the next."""

    def __init__(self, repository_id: str) -> None:
        frame_name(repository_id, bytes(32))  # refuses what no ObjectName would take
        self.repository_id = repository_id
        self._prefix = _AD_TAG + _field(Kind.FRAME.value)
        self._suffix = _field(repository_id) + _GENERATION.pack(0)

    def associated_data(self, first_chunk: bytes) -> bytes:
        hex_id = first_chunk.hex().encode("ascii")
        return b"".join((self._prefix, _LENGTH.pack(len(hex_id)), hex_id, self._suffix))

    def name(self, first_chunk: bytes) -> ObjectName:
        return frame_name(self.repository_id, first_chunk)


class Sealer:
    """Seals and opens objects under one key. It keeps one AEAD object per cipher: making one for every
    object cost more than encrypting a small file's frame. The AEAD objects hold no state between calls,
    so every thread shares them."""

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes) or len(key) != KEY_SIZE:
            raise ValueError(f"a sealing key is {KEY_SIZE} bytes")
        self._key = key
        self._writer = aead_class(WRITTEN_AEAD)(key)
        self._aeads: dict[int, AESGCM | ChaCha20Poly1305] = {WRITTEN_AEAD: self._writer}

    def __repr__(self) -> str:  # never print a key into a log or a traceback
        return "Sealer(<key hidden>)"

    def seal(self, what: ObjectName, plaintext: bytes | bytearray | memoryview) -> bytes:
        """`plaintext` encrypted and bound to `what`: seal version, AEAD id, nonce, ciphertext, tag."""
        if len(plaintext) > MAX_PLAINTEXT:
            raise ValueError(f"{what} is too large to seal as one object ({len(plaintext)} bytes)")
        return self._encrypt(_OBJECT_HEADER, what.associated_data(), plaintext)

    def open(self, what: ObjectName, sealed: bytes | bytearray | memoryview) -> bytes:
        """The plaintext `seal` was given for `what`, or SealBroken naming `what`; never other bytes."""
        view = memoryview(sealed)
        if len(view) < HEADER.size:
            raise SealBroken(f"{what} is cut short ({len(view)} bytes)")
        version, aead_id = HEADER.unpack_from(view)
        if version != SEAL_VERSION:
            raise SealBroken(f"{what} is sealed by an unknown scheme (version {version}): damaged, or from a "
                             "newer Timekeep")
        if aead_id not in AEADS:
            raise SealBroken(f"{what} is sealed with an unknown cipher (id {aead_id}): damaged, or from a newer "
                             "Timekeep")
        return self._decrypt(aead_id, bytes(view[: HEADER.size]), what, view[HEADER.size :])

    def sealed_frame(self, what: ObjectName, raw: bytes | memoryview, level: int) -> bytearray:
        """A frame (FORMAT.md "Chunks and frames") whose encryption byte names the AEAD: the plain frame of
        `raw`, compressed as it would be unencrypted, sealed whole behind a header that shows only its sealed
        length. The compression and raw length travel inside the seal (their header fields are 0), so the
        drive does not show how far each frame's content compresses."""
        return self.sealed_frame_as(what.associated_data(), raw, level)

    def sealed_frame_as(self, associated: bytes, raw: bytes | memoryview, level: int) -> bytearray:
        """`sealed_frame` for the frame whose name encodes to `associated` (FrameNames). The cipher writes
        straight into the frame's final buffer, and a big frame's payload is encrypted from where compression
        left it (or, stored raw, from `raw` itself) rather than joined to its plain header first: every copy
        of a stored byte costs about as much as encrypting it."""
        inner_header, payload = plain_frame.parts(raw, level)  # at most a few MiB: far below MAX_PLAINTEXT
        inner = len(inner_header) + len(payload)
        start = plain_frame.FRAME.size + NONCE_SIZE
        header = plain_frame.FRAME.pack(plain_frame.FRAME_VERSION, 0, WRITTEN_AEAD, 0, 0, NONCE_SIZE + inner + TAG_SIZE)
        nonce = os.urandom(NONCE_SIZE)
        sealed = bytearray(start + inner + TAG_SIZE)
        sealed[:start] = header + nonce
        out = memoryview(sealed)[start:]
        if inner < STREAM_FROM or WRITTEN_AEAD != AES_256_GCM:  # one call: a small frame's copy costs less
            self._writer.encrypt_into(nonce, inner_header + payload, header + associated, out)
            return sealed
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        cipher = Cipher(algorithms.AES(self._key), modes.GCM(nonce)).encryptor()
        cipher.authenticate_additional_data(header + associated)
        cipher.update_into(inner_header, out)
        cipher.update_into(payload, out[len(inner_header) :])  # AES-GCM's output is as long as its input
        cipher.finalize()
        out[inner:] = cipher.tag
        return sealed

    def open_frame(self, what: ObjectName, stored: bytes | bytearray | memoryview) -> bytes:
        """The raw bytes a sealed frame holds, or SealBroken naming `what`; never other bytes."""
        view = memoryview(stored)
        if len(view) < plain_frame.FRAME.size:
            raise SealBroken(f"{what} is cut short ({len(view)} bytes)")
        version, compression, aead_id, reserved, raw_len, sealed_len = plain_frame.FRAME.unpack_from(view)
        if version != plain_frame.FRAME_VERSION:
            raise SealBroken(f"{what} is a frame of unknown version {version}: damaged, or from a newer Timekeep")
        if aead_id not in AEADS:
            raise SealBroken(f"{what} is not sealed with a cipher this Timekeep knows (id {aead_id})")
        body = view[plain_frame.FRAME.size :]
        if (compression, reserved, raw_len) != (0, 0, 0) or sealed_len != len(body):
            raise SealBroken(f"{what} has a damaged header: its lengths do not match what is stored")
        inner = self._decrypt(aead_id, bytes(view[: plain_frame.FRAME.size]), what, body)
        try:
            return plain_frame.decode(inner)
        except CorruptData as err:  # the seal held, so only a writer's bug could bring this
            raise SealBroken(f"{what} opens but does not decode: {err}") from None

    def _encrypt(self, header: bytes, associated: bytes, plaintext: bytes | bytearray | memoryview) -> bytes:
        """`header`, then nonce, ciphertext and tag of `plaintext`, `header` bound with the name's encoding.
        Joined in one copy: a frame is up to 1 MiB, and each copy of it costs about a third of what
        encrypting it does."""
        nonce = os.urandom(NONCE_SIZE)
        return b"".join((header, nonce, self._writer.encrypt(nonce, plaintext, header + associated)))

    def _decrypt(self, aead_id: int, header: bytes, what: ObjectName, body: memoryview) -> bytes:
        if len(body) < NONCE_SIZE + TAG_SIZE:
            raise SealBroken(f"{what} is cut short ({len(body)} bytes where a seal needs {NONCE_SIZE + TAG_SIZE})")
        from cryptography.exceptions import InvalidTag

        try:
            return self._aead(aead_id).decrypt(body[:NONCE_SIZE], body[NONCE_SIZE:], header + what.associated_data())
        except InvalidTag:
            raise SealBroken(
                f"{what} does not open: it is damaged, cut short, put in another object's place, or sealed "
                "with another key"
            ) from None

    def _aead(self, aead_id: int) -> AESGCM | ChaCha20Poly1305:
        aead = self._aeads.get(aead_id)
        if aead is None:  # another cipher a reader accepts, made when first met (two threads may both: either serves)
            aead = self._aeads[aead_id] = aead_class(aead_id)(self._key)
        return aead


def aead_class(aead_id: int) -> type[AESGCM] | type[ChaCha20Poly1305]:
    """The cipher an AEAD id names (one of AEADS), imported when first asked for."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

    return AESGCM if aead_id == AES_256_GCM else ChaCha20Poly1305


# One object at a time, under a key given as bytes (tests, and objects sealed once per command).


def seal(key: bytes, what: ObjectName, plaintext: bytes | bytearray | memoryview) -> bytes:
    """`plaintext` encrypted and bound to `what`: seal version, AEAD id, nonce, ciphertext, tag."""
    return Sealer(key).seal(what, plaintext)


def open(key: bytes, what: ObjectName, sealed: bytes | bytearray | memoryview) -> bytes:
    """The plaintext `seal` was given for `what`, or SealBroken naming `what`; never other bytes."""
    return Sealer(key).open(what, sealed)


def sealed_frame(key: bytes, what: ObjectName, raw: bytes | memoryview, level: int) -> bytearray:
    """A sealed frame of `raw` (Sealer.sealed_frame)."""
    return Sealer(key).sealed_frame(what, raw, level)


def open_frame(key: bytes, what: ObjectName, stored: bytes | bytearray | memoryview) -> bytes:
    """The raw bytes a sealed frame holds, or SealBroken naming `what`; never other bytes."""
    return Sealer(key).open_frame(what, stored)
