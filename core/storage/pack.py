"""Pack files: append-only runs of framed chunks, sealed with a footer that lists them.

A pack is written under a temporary name, sealed (footer, fsync), then renamed into place, so a pack
that exists under its final name is always whole. The footer alone is enough to rebuild the chunk index.
"""

from __future__ import annotations

import os
import secrets
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import blake3

from core.errors import CorruptData, StorageError
from core.storage.atomic import fsync_dir, publish_new
from core.storage.failures import drive_message
from core.storage.frame import compress_stream, decompress_stream
from core.storage.layout import Layout

MAGIC = b"TKPACK\x00\x01"
END_MAGIC = b"TKPEND01"
ENTRY = struct.Struct("<32sQIII")  # digest, frame offset, frame length, offset inside the frame, raw length
TRAILER = struct.Struct("<QI8s8s")  # footer offset, footer length, footer checksum, magic
TARGET_PACK_SIZE = 32 * 1024 * 1024
WRITE_BUFFER = 1 << 20


@dataclass(frozen=True)
class PackEntry:
    """Chunk `digest` is bytes [inner, inner + raw_length) of the frame at `offset` (`length` bytes)."""

    digest: bytes
    offset: int
    length: int
    inner: int
    raw_length: int


@dataclass
class SealedPack:
    name: str
    size: int
    entries: list[PackEntry] = field(default_factory=list)


def _drive_failure(err: OSError) -> str:
    return drive_message(err) or f"cannot write to the backup drive: {err.strerror or err}"


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _checksum(data: bytes) -> bytes:
    return blake3.blake3(data).digest(length=8)


class PackWriter:
    """Appends frames to the open pack from any thread; seals it when it reaches the target size."""

    def __init__(self, layout: Layout, target_size: int = TARGET_PACK_SIZE) -> None:
        self.layout = layout
        self.target_size = target_size
        self._lock = threading.Lock()
        self._sealed: list[SealedPack] = []
        self._fd = -1
        self._pending = bytearray()
        self._open: SealedPack | None = None
        self._tmp: Path | None = None
        self._pos = 0

    def add(self, frame: bytes, chunks: list[tuple[bytes, int, int]]) -> None:
        """Append one frame holding `chunks` as (digest, offset inside the frame, raw length)."""
        try:
            self._add(frame, chunks)
        except OSError as err:
            raise StorageError(_drive_failure(err)) from err

    def _add(self, frame: bytes, chunks: list[tuple[bytes, int, int]]) -> None:
        with self._lock:
            if self._open is None:
                self._start()
            assert self._open is not None
            self._buffer(frame)
            self._open.entries.extend(PackEntry(d, self._pos, len(frame), inner, n) for d, inner, n in chunks)
            self._pos += len(frame)
            if self._pos >= self.target_size:
                self._seal()

    def flush(self) -> list[SealedPack]:
        """Seal the open pack (if any) and hand over every pack sealed since the last call."""
        with self._lock:
            try:
                if self._open is not None:
                    self._seal()
            except OSError as err:
                raise StorageError(_drive_failure(err)) from err
            sealed, self._sealed = self._sealed, []
            return sealed

    def abort(self) -> None:
        with self._lock:
            self._pending = bytearray()
            if self._open is not None:
                os.close(self._fd)
                assert self._tmp is not None
                self._tmp.unlink(missing_ok=True)
                self._open = None

    def _buffer(self, frame: bytes) -> None:
        """Small frames are gathered and written together: one system call per frame of a small file
        would cost more than the file."""
        if len(frame) >= WRITE_BUFFER:
            self._drain()
            _write_all(self._fd, frame)
            return
        self._pending += frame
        if len(self._pending) >= WRITE_BUFFER:
            self._drain()

    def _drain(self) -> None:
        if self._pending:  # handed over first: a failed write's traceback keeps a view of the old buffer
            data, self._pending = self._pending, bytearray()
            _write_all(self._fd, data)

    def _start(self) -> None:
        name = secrets.token_hex(16)
        self._tmp = self.layout.packs / f".{name}.tmp"
        self._fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(self._fd, MAGIC)
        self._pos = len(MAGIC)
        self._open = SealedPack(name, 0)

    def _seal(self) -> None:
        assert self._open is not None and self._tmp is not None
        footer = compress_stream(b"".join(ENTRY.pack(e.digest, e.offset, e.length, e.inner, e.raw_length)
                                          for e in self._open.entries))
        trailer = TRAILER.pack(self._pos, len(footer), _checksum(footer), END_MAGIC)
        self._drain()
        _write_all(self._fd, footer + trailer)
        os.fsync(self._fd)
        os.close(self._fd)
        self._open.size = self._pos + len(footer) + len(trailer)
        final = self.layout.pack_path(self._open.name)
        if not final.parent.exists():
            final.parent.mkdir()
            fsync_dir(self.layout.packs)
        publish_new(self._tmp, final)
        self._sealed.append(self._open)
        self._open = None


def read_footer(path: Path) -> list[PackEntry]:
    """The chunk list of a sealed pack; CorruptData if the pack is truncated or its footer damaged."""
    with open(path, "rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size < len(MAGIC) + TRAILER.size:
            raise CorruptData(f"pack {path.name} is truncated")
        fh.seek(size - TRAILER.size)
        offset, length, checksum, magic = TRAILER.unpack(fh.read(TRAILER.size))
        if magic != END_MAGIC or offset + length + TRAILER.size != size:
            raise CorruptData(f"pack {path.name} has no valid footer")
        fh.seek(offset)
        footer = fh.read(length)
    if _checksum(footer) != checksum:
        raise CorruptData(f"pack {path.name} has a damaged footer")
    raw = decompress_stream(footer)
    return [PackEntry(*ENTRY.unpack_from(raw, i)) for i in range(0, len(raw), ENTRY.size)]


def iter_pack_files(layout: Layout) -> Iterator[Path]:
    """Every sealed pack on the drive (temporary, unsealed ones are not packs)."""
    if not layout.packs.is_dir():
        return
    for sub in sorted(layout.packs.iterdir()):
        if sub.is_dir():
            yield from sorted(sub.glob("*.pack"))


class PackReader:
    """Random reads of frames; keeps a few packs open because restores read many chunks per pack."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self._fds: dict[str, int] = {}
        self._lock = threading.Lock()

    def read(self, pack: str, offset: int, length: int) -> bytes:
        fd = self._fd(pack)
        data = os.pread(fd, length, offset)
        if len(data) != length:
            raise CorruptData(f"pack {pack} is shorter than the index says")
        return data

    def _fd(self, pack: str) -> int:
        with self._lock:
            fd = self._fds.get(pack)
            if fd is None:
                if len(self._fds) >= 64:
                    self._close_all()
                try:
                    fd = os.open(self.layout.pack_path(pack), os.O_RDONLY)
                except FileNotFoundError:
                    raise CorruptData(f"pack {pack} is missing from the drive") from None
                self._fds[pack] = fd
            return fd

    def _close_all(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def close(self) -> None:
        with self._lock:
            self._close_all()
