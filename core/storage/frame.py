"""Framing of one stored blob: a 12-byte header (format, compression, encryption, lengths) then the payload.

The header lets an encrypted (AEAD-sealed) blob fit the same pack layout later; compression is chosen
per blob, and a blob that zstd does not shrink is stored raw.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable
from typing import TypeVar

import zstandard

from timekeep.core.errors import CorruptData

FRAME = struct.Struct("<BBBBII")  # version, compression, encryption, reserved, raw length, payload length
FRAME_VERSION = 1
RAW, ZSTD = 0, 1
PROBE = 4096
PROBE_MIN = 64 * 1024

_local = threading.local()


def _compressor(level: int) -> zstandard.ZstdCompressor:
    cache = getattr(_local, "compressors", None)
    if cache is None:
        cache = _local.compressors = {}
    compressor: zstandard.ZstdCompressor | None = cache.get(level)
    if compressor is None:
        compressor = cache[level] = zstandard.ZstdCompressor(level=level)
    return compressor


def _decompressor() -> zstandard.ZstdDecompressor:
    dctx = getattr(_local, "decompressor", None)
    if dctx is None:
        dctx = _local.decompressor = zstandard.ZstdDecompressor()
    return dctx


def incompressible(raw: bytes | memoryview, level: int) -> bool:
    """A quick look at three small samples: random-looking data (photos, archives, video) is stored raw
    without spending a full compression on it."""
    if len(raw) < PROBE_MIN:
        return False
    view, step = memoryview(raw), (len(raw) - PROBE) // 2
    compressor = _compressor(level)
    return all(len(compressor.compress(view[at : at + PROBE])) > PROBE * 0.95 for at in (0, step, 2 * step))


def encode(raw: bytes | memoryview, level: int) -> bytes:
    """Header + payload for `raw`; zstd when it helps, raw otherwise. Thread-safe (one context per thread)."""
    return b"".join(parts(raw, level))  # one copy of the payload, however it was made


def parts(raw: bytes | memoryview, level: int) -> tuple[bytes, bytes | memoryview]:
    """The frame `encode` gives, as its header and its payload apart: a raw payload is `raw` itself (no copy),
    so a writer that seals the frame encrypts it from where it lies."""
    if incompressible(raw, level):
        return FRAME.pack(FRAME_VERSION, RAW, 0, 0, len(raw), len(raw)), raw
    packed = _compressor(level).compress(raw)
    if len(packed) < len(raw):
        return FRAME.pack(FRAME_VERSION, ZSTD, 0, 0, len(raw), len(packed)), packed
    return FRAME.pack(FRAME_VERSION, RAW, 0, 0, len(raw), len(raw)), raw


def decode(frame: bytes) -> bytes:
    """The raw bytes a frame holds; any inconsistency is CorruptData, never wrong bytes."""
    payload = memoryview(frame)[FRAME.size :]
    compression, raw_len = _header(memoryview(frame)[: FRAME.size], payload)
    if compression == RAW:
        data = bytes(payload)
    else:
        try:
            data = _decompressor().decompress(payload, max_output_size=raw_len)
        except zstandard.ZstdError as err:
            raise CorruptData(f"stored blob does not decompress: {err}") from None
    return _exact(data, raw_len)


def decode_parts(header: bytes | bytearray, payload: bytearray, take: Callable[[int], bytearray]) -> bytearray:
    """`decode` of a frame read as its header and its payload apart, without a copy: a raw payload is the
    frame's contents itself, a compressed one is decompressed into `take(raw length)` (a buffer the caller
    reuses). The same checks, the same CorruptData."""
    compression, raw_len = _header(header, payload)
    if compression == RAW:
        data = payload
    else:
        data = take(raw_len)
        try:
            reader = _decompressor().stream_reader(payload)
            if reader.readinto(data) != raw_len or reader.read(1):
                raise CorruptData("stored blob has the wrong length")
        except zstandard.ZstdError as err:
            raise CorruptData(f"stored blob does not decompress: {err}") from None
    return _exact(data, raw_len)


def _header(header: bytes | bytearray | memoryview, payload: bytearray | memoryview) -> tuple[int, int]:
    """An unencrypted frame's compression (RAW or ZSTD) and raw length, its header checked against its payload."""
    if len(header) != FRAME.size:
        raise CorruptData("stored blob is truncated")
    version, compression, encryption, _, raw_len, payload_len = FRAME.unpack(header)
    if version != FRAME_VERSION or encryption != 0 or len(payload) != payload_len:
        raise CorruptData("stored blob has a damaged header")
    if compression not in (RAW, ZSTD):
        raise CorruptData(f"stored blob uses unknown compression {compression}")
    return compression, raw_len


_Data = TypeVar("_Data", bytes, bytearray)


def _exact(data: _Data, raw_len: int) -> _Data:
    if len(data) != raw_len:
        raise CorruptData("stored blob has the wrong length")
    return data


def compress_stream(data: bytes, level: int = 3) -> bytes:
    """Whole-document compression for manifests and pack footers (small, written once)."""
    return _compressor(level).compress(data)


def decompress_stream(data: bytes) -> bytes:
    try:
        return _decompressor().decompressobj().decompress(data)
    except zstandard.ZstdError as err:
        raise CorruptData(f"compressed document is damaged: {err}") from None
