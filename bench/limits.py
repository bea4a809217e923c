"""The machine's own limits, measured in the same run: what no backup tool can beat here."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import blake3
import zstandard

from bench.dataset import MEDIUM, Content, read_every_file

CHUNK = 64 * 1024


def _rate(nbytes: int, work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return nbytes / (time.perf_counter() - started) / 1e6


def sample(size: int = 64 << 20) -> bytes:
    content = Content(7)
    return content.text(size // 2) + content.noise(size // 2)


def read_throughput(root: Path) -> float:
    """MB/s reading the whole dataset from the page cache (read it twice; the second pass is measured)."""
    size = read_every_file(root)
    return _rate(size, lambda: read_every_file(root))


def blake3_throughput(data: bytes) -> float:
    view = memoryview(data)
    return _rate(len(data), lambda: [blake3.blake3(view[i : i + CHUNK]).digest() for i in range(0, len(data), CHUNK)])


def zstd_throughput(data: bytes) -> float:
    ctx = zstandard.ZstdCompressor(level=3)
    view = memoryview(data)
    return _rate(len(data), lambda: [ctx.compress(view[i : i + CHUNK]) for i in range(0, len(data), CHUNK)])


def zstd_decompress_throughput(data: bytes) -> float:
    ctx = zstandard.ZstdCompressor(level=3)
    frames = [ctx.compress(data[i : i + CHUNK]) for i in range(0, len(data), CHUNK)]
    dctx = zstandard.ZstdDecompressor()
    return _rate(len(data), lambda: [dctx.decompress(f) for f in frames])


def chunker_throughput(data: bytes) -> float:
    from fastcdc.fastcdc_cy import fastcdc_cy

    return _rate(len(data), lambda: list(fastcdc_cy(data, 16384, 65536, 262144)))


def measure(root: Path) -> dict[str, float]:
    data = (root / MEDIUM).read_bytes() if (root / MEDIUM).exists() else sample()
    return {
        "read from page cache (MB/s)": read_throughput(root),
        "BLAKE3, 64 KiB chunks, 1 thread (MB/s)": blake3_throughput(data),
        "zstd-3 compress, 64 KiB chunks, 1 thread (MB/s)": zstd_throughput(data),
        "zstd decompress, 1 thread (MB/s)": zstd_decompress_throughput(data),
        "FastCDC chunker (MB/s)": chunker_throughput(data),
    }
