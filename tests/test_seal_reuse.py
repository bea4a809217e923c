"""What sealing reuses from one object to the next (the AEAD objects, the frames' name encoding, the frame's
final buffer) changes no byte of the format: a frame sealed as FORMAT.md lays it out, by hand with the cipher
alone, opens; a frame the writer seals opens by hand; every frame still gets a fresh nonce; and the shared
AEAD objects serve several threads at once."""

from __future__ import annotations

import os
import struct
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from timekeep.core.crypto import seal
from timekeep.core.crypto.seal import FrameNames, Sealer
from timekeep.core.crypto.sealing import Sealing
from timekeep.core.crypto.subkeys import Purpose, RepositoryKey
from timekeep.core.errors import SealBroken
from timekeep.core.storage import frame as plain_frame

REPO = "5f1c0a9e3b2d4c6e8f7a9b1c2d3e4f50"
KEY = RepositoryKey(bytes(range(32)))


def _by_hand_ad(first_chunk: bytes, repository_id: str) -> bytes:
    """The associated data of a frame, field by field as FORMAT.md ("Associated data") writes it."""
    fields = [b"frame", first_chunk.hex().encode(), repository_id.encode()]
    return b"timekeep sealed object v1\0" + b"".join(struct.pack("<I", len(f)) + f for f in fields) + bytes(8)


@settings(max_examples=60, deadline=None)
@given(first_chunk=st.binary(min_size=0, max_size=40), repository_id=st.text(min_size=1, max_size=40))
def test_the_frames_names_encode_as_their_object_names_do(first_chunk: bytes, repository_id: str) -> None:
    try:
        expected = seal.frame_name(repository_id, first_chunk).associated_data()
    except ValueError:  # a name no ObjectName takes (a lone surrogate) is refused by FrameNames as well
        with pytest.raises(ValueError, match="not an object name"):
            FrameNames(repository_id)
        return
    names = FrameNames(repository_id)
    assert names.associated_data(first_chunk) == expected
    assert names.name(first_chunk) == seal.frame_name(repository_id, first_chunk)


def test_the_name_encoding_is_the_one_the_format_gives() -> None:
    chunk = bytes.fromhex("ab" * 32)
    assert FrameNames(REPO).associated_data(chunk) == _by_hand_ad(chunk, REPO)


def test_a_frame_sealed_by_hand_as_the_format_says_opens() -> None:
    """An older writer's frame (header, nonce, AES-256-GCM of the plain frame, the header and name bound)
    opens through the reused objects: repositories written before stay readable."""
    sealing, chunk, raw = Sealing(REPO, KEY), os.urandom(32), b"notes " * 5000
    inner, nonce = plain_frame.encode(raw, 3), os.urandom(12)
    header = plain_frame.FRAME.pack(1, 0, seal.AES_256_GCM, 0, 0, 12 + len(inner) + 16)
    objects = KEY.subkey(Purpose.OBJECTS)
    stored = header + nonce + AESGCM(objects).encrypt(nonce, inner, header + _by_hand_ad(chunk, REPO))
    assert sealing.open_frame(chunk, stored) == raw


def test_a_frame_the_writer_seals_opens_by_hand() -> None:
    sealing, chunk, raw = Sealing(REPO, KEY), os.urandom(32), os.urandom(70_000)
    stored = bytes(sealing.seal_frame(chunk, raw, 3))
    header, nonce, body = stored[:12], stored[12:24], stored[24:]
    assert plain_frame.FRAME.unpack(header) == (1, 0, seal.AES_256_GCM, 0, 0, len(stored) - 12)
    inner = AESGCM(KEY.subkey(Purpose.OBJECTS)).decrypt(nonce, body, header + _by_hand_ad(chunk, REPO))
    assert plain_frame.decode(inner) == raw


def test_every_frame_gets_a_fresh_nonce() -> None:
    sealing, chunk = Sealing(REPO, KEY), os.urandom(32)
    nonces = {bytes(sealing.seal_frame(chunk, b"the same small file", 3)[12:24]) for _ in range(2000)}
    assert len(nonces) == 2000


def test_one_sealer_serves_several_threads_at_once() -> None:
    sealing = Sealing(REPO, KEY)
    work = [(os.urandom(32), os.urandom(n)) for n in (1, 100, 5000, 70_000, 300_000) for _ in range(20)]

    def round_trip(item: tuple[bytes, bytes]) -> bool:
        chunk, raw = item
        return sealing.open_frame(chunk, bytes(sealing.seal_frame(chunk, raw, 3))) == raw

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(round_trip, work))


def test_a_frame_opens_only_under_its_own_first_chunk() -> None:
    sealing, chunk = Sealing(REPO, KEY), os.urandom(32)
    stored = bytes(sealing.seal_frame(chunk, b"content", 3))
    with pytest.raises(SealBroken, match="another object's place"):
        sealing.open_frame(os.urandom(32), stored)
    assert sealing.open_frame(chunk, stored) == b"content"


def test_a_sealer_never_shows_its_key() -> None:
    key = bytes(range(32))
    assert key.hex() not in repr(Sealer(key)) and repr(key) not in repr(Sealer(key))


@pytest.mark.parametrize("raw", [
    b"a small note " * 10,  # below STREAM_FROM: one call
    b"a long text that compresses " * 40_000,  # compressed, streamed in two pieces
    os.urandom(seal.STREAM_FROM - plain_frame.FRAME.size),  # stored raw, exactly at the threshold
    os.urandom(1 << 20),  # stored raw, encrypted from where it lies
], ids=["small", "big compressed", "raw at the threshold", "big raw"])
def test_every_way_of_sealing_a_frame_gives_the_format_s_frame(raw: bytes) -> None:
    """Small frames are encrypted in one call, big ones in two pieces by a streaming context: either way the
    frame opens by hand as FORMAT.md lays it out (one AES-256-GCM over the whole plain frame), and holds the
    very plain frame the unencrypted format stores."""
    sealing, chunk = Sealing(REPO, KEY), os.urandom(32)
    stored = bytes(sealing.seal_frame(chunk, memoryview(raw), 3))
    header, nonce, body = stored[:12], stored[12:24], stored[24:]
    assert plain_frame.FRAME.unpack(header) == (1, 0, seal.AES_256_GCM, 0, 0, len(stored) - 12)
    inner = AESGCM(KEY.subkey(Purpose.OBJECTS)).decrypt(nonce, body, header + _by_hand_ad(chunk, REPO))
    assert inner == plain_frame.encode(raw, 3)
    assert sealing.open_frame(chunk, stored) == raw


def test_a_streamed_frame_damaged_anywhere_does_not_open() -> None:
    sealing, chunk = Sealing(REPO, KEY), os.urandom(32)
    stored = bytearray(sealing.seal_frame(chunk, os.urandom(200_000), 3))
    for at in (0, 5, 13, 30, 100_000, len(stored) - 1):
        damaged = bytearray(stored)
        damaged[at] ^= 0x01
        with pytest.raises(SealBroken):
            sealing.open_frame(chunk, bytes(damaged))


@settings(max_examples=40, deadline=None)
@given(raw=st.one_of(st.binary(max_size=3000), st.builds(lambda n: b"x" * n, st.integers(0, 300_000))))
def test_a_frame_s_parts_are_the_frame(raw: bytes) -> None:
    header, payload = plain_frame.parts(raw, 3)
    assert header + bytes(payload) == plain_frame.encode(raw, 3)
    assert plain_frame.decode(plain_frame.encode(raw, 3)) == raw
