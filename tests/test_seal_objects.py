"""Sealed objects open to exactly what was sealed, under exactly the name they were sealed for, and every other
object (damaged, cut short, renamed, replayed, under another key, or with a header that lies) fails with one
SealBroken naming the object: never another exception, never other bytes."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from timekeep.core.crypto import seal as sealing
from timekeep.core.crypto.seal import Kind, ObjectName, open_frame, seal, sealed_frame
from timekeep.core.errors import CorruptData, SealBroken
from timekeep.core.storage import frame as plain_frame

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
REPO = "5f1c0a9e3b2d4c6e8f7a9b1c2d3e4f50"
NAME = ObjectName(Kind.MANIFEST, "0000000012", REPO, generation=3)

Opener = Callable[[bytes, ObjectName, bytes], bytes]
Sealer = Callable[[bytes, ObjectName, bytes], bytes]


def _frame(key: bytes, what: ObjectName, raw: bytes) -> bytes:
    return sealed_frame(key, what, raw, 3)


SCHEMES: list[tuple[Sealer, Opener]] = [(seal, sealing.open), (_frame, open_frame)]
SCHEME_IDS = ["object", "frame"]


def _fails_naming(opener: Opener, key: bytes, what: ObjectName, stored: bytes) -> str:
    """The error opening `stored` gives; fails the test if it opens or raises anything but SealBroken."""
    try:
        opened = opener(key, what, stored)
    except SealBroken as err:
        message = str(err)
        assert str(what) in message and "\n" not in message
        return message
    pytest.fail(f"opened to {len(opened)} bytes")


@pytest.mark.parametrize(("sealer", "opener"), SCHEMES, ids=SCHEME_IDS)
@settings(max_examples=40, deadline=None)
@given(size=st.one_of(st.integers(0, 300), st.sampled_from([0, 1, 65536, 1 << 20, 3 << 20, (5 << 20) + 7])),
       text=st.booleans())
@example(size=0, text=False)
@example(size=3 << 20, text=True)
@example(size=(5 << 20) + 7, text=False)
def test_round_trip_over_sizes(sealer: Sealer, opener: Opener, size: int, text: bool) -> None:
    raw = (b"a line of notes\n" * (size // 16 + 1))[:size] if text else os.urandom(size)
    stored = sealer(KEY, NAME, raw)
    assert opener(KEY, NAME, stored) == raw
    if size >= 64:
        assert raw not in stored  # it is encrypted, not merely framed


def test_the_same_object_sealed_twice_differs_and_the_overhead_is_fixed() -> None:
    first, second = seal(KEY, NAME, b"same"), seal(KEY, NAME, b"same")
    assert first != second  # a fresh nonce each time
    assert len(first) == len(b"same") + sealing.OVERHEAD == 2 + 12 + 4 + 16
    assert first[:2] == bytes([sealing.SEAL_VERSION, sealing.AES_256_GCM])


@pytest.mark.parametrize(("sealer", "opener"), SCHEMES, ids=SCHEME_IDS)
def test_every_single_bit_flip_is_detected(sealer: Sealer, opener: Opener) -> None:
    stored = sealer(KEY, NAME, b"twelve bytes")
    for bit in range(len(stored) * 8):
        damaged = bytearray(stored)
        damaged[bit // 8] ^= 1 << (bit % 8)
        _fails_naming(opener, KEY, NAME, bytes(damaged))


@pytest.mark.parametrize(("sealer", "opener"), SCHEMES, ids=SCHEME_IDS)
def test_every_truncation_and_extension_is_detected(sealer: Sealer, opener: Opener) -> None:
    stored = sealer(KEY, NAME, b"a small manifest line\n" * 3)
    for length in range(len(stored)):
        _fails_naming(opener, KEY, NAME, stored[:length])
    _fails_naming(opener, KEY, NAME, stored + b"\x00")


SWAPPED = {
    "another id": ObjectName(Kind.MANIFEST, "0000000013", REPO, generation=3),
    "another kind": ObjectName(Kind.PACK_FOOTER, "0000000012", REPO, generation=3),
    "another repository": ObjectName(Kind.MANIFEST, "0000000012", "0" * 32, generation=3),
    "an older generation": ObjectName(Kind.MANIFEST, "0000000012", REPO, generation=2),
    "generation 0": ObjectName(Kind.MANIFEST, "0000000012", REPO),
}


@pytest.mark.parametrize(("sealer", "opener"), SCHEMES, ids=SCHEME_IDS)
@pytest.mark.parametrize("other", list(SWAPPED))
def test_an_object_read_under_another_name_fails_naming_the_one_asked_for(
    sealer: Sealer, opener: Opener, other: str
) -> None:
    stored = sealer(KEY, NAME, b"the manifest of snapshot 12")
    message = _fails_naming(opener, KEY, SWAPPED[other], stored)
    assert "another object's place" in message
    assert opener(KEY, NAME, stored) == b"the manifest of snapshot 12"


def test_id_fields_cannot_be_shifted_into_one_another() -> None:
    """Length prefixes keep ("ab", "c…") and ("a", "bc…") apart in the associated data."""
    one = ObjectName(Kind.FRAME, "ab", "c" + REPO)
    two = ObjectName(Kind.FRAME, "a", "bc" + REPO)
    assert one.associated_data() != two.associated_data()
    _fails_naming(sealing.open, KEY, two, seal(KEY, one, b"x"))


@pytest.mark.parametrize(("sealer", "opener"), SCHEMES, ids=SCHEME_IDS)
def test_another_key_fails(sealer: Sealer, opener: Opener) -> None:
    _fails_naming(opener, OTHER_KEY, NAME, sealer(KEY, NAME, b"private"))


def _header_lies(stored: bytes, **fields: int) -> bytes:
    version, compression, aead, reserved, raw_len, payload_len = plain_frame.FRAME.unpack_from(stored)
    values = {"version": version, "compression": compression, "aead": aead, "reserved": reserved,
              "raw_len": raw_len, "payload_len": payload_len} | fields
    return plain_frame.FRAME.pack(*values.values()) + stored[plain_frame.FRAME.size :]


def test_a_hostile_object_header_fails_naming_the_object() -> None:
    stored = seal(KEY, NAME, b"content")
    assert "unknown scheme (version 9)" in _fails_naming(sealing.open, KEY, NAME, b"\x09" + stored[1:])
    assert "unknown cipher (id 7)" in _fails_naming(sealing.open, KEY, NAME, stored[:1] + b"\x07" + stored[2:])
    assert "cut short" in _fails_naming(sealing.open, KEY, NAME, b"")
    other_aead = stored[:1] + bytes([sealing.CHACHA20_POLY1305]) + stored[2:]
    _fails_naming(sealing.open, KEY, NAME, other_aead)  # the AEAD id is bound: no downgrade by relabelling


@pytest.mark.parametrize("lie", [
    {"version": 2}, {"aead": 0}, {"aead": 200}, {"compression": 1}, {"reserved": 1}, {"raw_len": 7},
    {"payload_len": 0}, {"payload_len": 2**32 - 1}, {"payload_len": 39}, {"aead": sealing.CHACHA20_POLY1305},
])
def test_a_frame_header_that_lies_fails_naming_the_frame(lie: dict[str, int]) -> None:
    what = ObjectName(Kind.FRAME, "ab" * 32, REPO)
    stored = sealed_frame(KEY, what, b"frame content " * 50, 3)
    _fails_naming(open_frame, KEY, what, _header_lies(stored, **lie))


def test_a_sealed_frame_has_the_plain_frame_header_with_the_aead_set_and_hides_its_sizes() -> None:
    raw = b"compressible text " * 1000
    what = ObjectName(Kind.FRAME, "cd" * 32, REPO)
    stored = sealed_frame(KEY, what, raw, 3)
    version, compression, aead, reserved, raw_len, payload_len = plain_frame.FRAME.unpack_from(stored)
    assert (version, aead) == (plain_frame.FRAME_VERSION, sealing.AES_256_GCM)
    assert (compression, reserved, raw_len) == (0, 0, 0)
    assert payload_len == len(stored) - plain_frame.FRAME.size
    assert len(stored) < len(raw) // 10  # compressed before sealing
    with pytest.raises(CorruptData, match="damaged header"):
        plain_frame.decode(stored)  # the unencrypted path refuses a sealed frame rather than misread it


def test_a_plain_frame_is_not_taken_for_a_sealed_one() -> None:
    what = ObjectName(Kind.FRAME, "ef" * 32, REPO)
    assert "cipher this Timekeep knows (id 0)" in _fails_naming(open_frame, KEY, what, plain_frame.encode(b"x", 3))


def test_random_garbage_never_opens() -> None:
    for size in range(0, 200, 7):
        garbage = os.urandom(size)
        _fails_naming(sealing.open, KEY, NAME, garbage)
        _fails_naming(open_frame, KEY, NAME, garbage)
        _fails_naming(sealing.open, KEY, NAME, struct.pack("<BB", 1, 1) + garbage)


def test_bad_keys_and_names_are_refused_before_anything_is_written() -> None:
    for key in (b"", bytes(16), bytes(33)):
        with pytest.raises(ValueError, match="32 bytes"):
            seal(key, NAME, b"x")
    with pytest.raises(ValueError, match="not an object name"):
        ObjectName(Kind.MANIFEST, "1", "")
    with pytest.raises(ValueError, match="not an object name"):
        ObjectName(Kind.MANIFEST, "1", REPO, generation=-1)
    with pytest.raises(ValueError, match="not an object name"):
        ObjectName(Kind.MANIFEST, "\ud800", REPO)  # a lone surrogate no file name decodes to


def test_ids_from_names_that_are_not_utf8_seal_and_stay_apart() -> None:
    one, two = (ObjectName(Kind.INDEX, os.fsdecode(raw), REPO) for raw in (b"caf\xe9", b"caf\xc3\xa9"))
    assert sealing.open(KEY, one, seal(KEY, one, b"latin-1")) == b"latin-1"
    _fails_naming(sealing.open, KEY, two, seal(KEY, one, b"latin-1"))


def test_names_read_as_a_person_would_say_them() -> None:
    assert str(NAME) == "manifest 0000000012 (generation 3) of repository 5f1c0a9e"
    assert str(ObjectName(Kind.PACK_FOOTER, "9a" * 16, REPO)) == f"pack footer {'9a' * 16} of repository 5f1c0a9e"


def test_the_names_the_format_gives_keep_frames_footers_and_manifests_apart() -> None:
    chunk = bytes.fromhex("ab" * 32)
    frame, footer = sealing.frame_name(REPO, chunk), sealing.footer_name(REPO, "0f" * 16)
    assert (frame.kind, frame.object_id, frame.generation) == (Kind.FRAME, "ab" * 32, 0)
    assert str(sealing.manifest_name(REPO, 12, 3)) == str(NAME)
    stored = seal(KEY, sealing.manifest_name(REPO, 12, 3), b"lines")
    assert sealing.open(KEY, NAME, stored) == b"lines"
    for other in (frame, footer, sealing.manifest_name(REPO, 12, 2), sealing.manifest_name(REPO, 120, 3)):
        _fails_naming(sealing.open, KEY, other, stored)
    assert sealing.open_frame(KEY, frame, sealed_frame(KEY, frame, memoryview(b"chunk"), 3)) == b"chunk"
