"""The machine's own limits, measured in the same run: what no backup tool can beat here."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import blake3
import zstandard

from bench.dataset import MEDIUM_FILE, Content, read_every_file

CHUNK = 64 * 1024
PIPELINE_LIMIT = "chunk-hash-compress pipeline, 2 processes: the two-core limit (MB/s)"
# A limit is what the machine can do, so the best of rounds: one round measured 379-584 MB/s across four runs of
# one VM, and 434-586 in eight rounds back to back, while the first backup it is set against stayed at 326-341
# (bench/README, "The two-core limit, measured"). Its first rounds on a freshly forked pair are the slow ones.
LIMIT_ROUNDS = 5


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


def _cut() -> Callable[[memoryview], list[object]]:
    """The chunker a repository made now cuts with (the 2020 variant since it exists): the limit is the one the
    first backup of a new repository meets."""
    from timekeep.core.capture.chunker import cutter
    from timekeep.core.storage.layout import ChunkerParams

    return cutter(ChunkerParams.for_new_repository())  # type: ignore[return-value]


def chunker_throughput(data: bytes) -> float:
    cut = _cut()
    return _rate(len(data), lambda: list(cut(memoryview(data))))


def _pipeline(data: bytes | memoryview) -> None:
    """What capture does to each byte: FastCDC cuts (a new repository's chunker), a BLAKE3 id per chunk, and runs of
    chunks of up to 1 MiB framed by zstd-3 (random-looking frames probed and stored raw), as
    timekeep.core.capture.store does, without the reading, the dedup lookups and the packs."""
    from timekeep.core.storage import frame

    view = memoryview(data)
    group: list[memoryview] = []
    size = 0
    for cut in _cut()(view):
        chunk = view[cut.offset : cut.offset + cut.length]  # type: ignore[attr-defined]
        blake3.blake3(chunk).digest()
        if group and size + len(chunk) > 1 << 20:
            frame.encode(b"".join(group), 3)
            group, size = [], 0
        group.append(chunk)
        size += len(chunk)
    if group:
        frame.encode(b"".join(group), 3)


def _warm() -> None:
    """Import what the pipeline needs before the clock starts (a forked worker then inherits it): the limit is
    the work's, not the imports'."""
    _pipeline(b"\0" * 1024)


def pipeline_threads(data: bytes, workers: int = 2) -> float:
    """MB/s of the chunk-hash-compress pipeline in `workers` threads of one process, each taking its share."""
    _warm()
    shares = _shares(data, workers)
    threads = [threading.Thread(target=_pipeline, args=(share,)) for share in shares]

    def run() -> None:
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    return _rate(sum(map(len, shares)), run)


BLOCK = 4 << 20


def _shares(data: bytes, workers: int) -> list[bytes]:
    """The data dealt out to the workers in 4 MiB blocks, in turn: the sample is text then noise, and the noise
    costs a tenth of the text (stored raw after the probe), so halves would leave one worker with all the work
    and measure one core."""
    blocks = [data[at : at + BLOCK] for at in range(0, len(data), BLOCK)]
    return [b"".join(blocks[i::workers]) for i in range(workers)]


def _timed_share(data: bytes, ready: Barrier, ends: Queue[float]) -> None:
    ready.wait()
    _pipeline(data)
    ends.put(time.perf_counter())  # CLOCK_MONOTONIC: one clock for every process of the machine


def pipeline_processes(data: bytes, workers: int = 2) -> float:
    """The same in `workers` forked processes: the two-core limit, with no lock shared between the cores.
    Timed from the moment every worker is ready to the last one's end, so neither the fork nor a worker's exit
    (nor, with short data, its imports) passes for the work's cost."""
    _warm()
    shares = _shares(data, workers)
    context = multiprocessing.get_context("fork")
    ready, ends = context.Barrier(workers + 1), context.Queue()
    procs = [context.Process(target=_timed_share, args=(share, ready, ends)) for share in shares]
    for p in procs:
        p.start()
    ready.wait()
    started = time.perf_counter()
    finished = max(ends.get() for _ in procs)
    for p in procs:
        p.join()
    return sum(map(len, shares)) / (finished - started) / 1e6


def measure(root: Path) -> dict[str, float]:
    data = (root / MEDIUM_FILE).read_bytes() if (root / MEDIUM_FILE).exists() else sample()
    return {
        "read from page cache (MB/s)": read_throughput(root),
        "BLAKE3, 64 KiB chunks, 1 thread (MB/s)": blake3_throughput(data),
        "zstd-3 compress, 64 KiB chunks, 1 thread (MB/s)": zstd_throughput(data),
        "zstd decompress, 1 thread (MB/s)": zstd_decompress_throughput(data),
        "FastCDC chunker (MB/s)": chunker_throughput(data),
        "chunk-hash-compress pipeline, 1 thread (MB/s)": pipeline_threads(data, 1),
        "chunk-hash-compress pipeline, 2 threads (MB/s)": pipeline_threads(data),
        PIPELINE_LIMIT: max(pipeline_processes(data) for _ in range(LIMIT_ROUNDS)),
    }
