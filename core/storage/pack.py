"""Pack files: append-only runs of framed chunks, sealed with a footer that lists them.

A pack is written to a local temporary (in the drive's packs folder when the repository is a folder, so
publishing it is a rename), sealed (footer, fsync), then handed whole to the repository's medium under its
final name, so a pack that exists under its final name is always whole. The footer alone is enough to
rebuild the chunk index.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import struct
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import blake3

from timekeep.core.errors import CorruptData, ObjectMissing, StorageError
from timekeep.core.storage.atomic import create_private, make_private_dir
from timekeep.core.storage.backend import Backend
from timekeep.core.storage.failures import drive_error
from timekeep.core.storage.frame import compress_stream, decompress_stream
from timekeep.core.storage.layout import PACKS, Layout, pack_name
from timekeep.core.storage.local_backend import LocalBackend
from timekeep.core.storage.uploads import Uploads

if TYPE_CHECKING:  # the keys' code loads for an encrypted repository only
    from timekeep.core.crypto.sealing import Sealing

MAGIC = b"TKPACK\x00\x01"
END_MAGIC = b"TKPEND01"
ENTRY = struct.Struct("<32sQIII")  # digest, frame offset, frame length, offset inside the frame, raw length
TRAILER = struct.Struct("<QI8s8s")  # footer offset, footer length, footer checksum, magic
TARGET_PACK_SIZE = 32 * 1024 * 1024
WRITE_BUFFER = 1 << 20
IOV_MAX = 1024  # pieces one writev takes (Linux's bound)

Buffer = bytes | bytearray | memoryview


class PackEntry(NamedTuple):
    """Chunk `digest` is bytes [inner, inner + raw_length) of the frame at `offset` (`length` bytes). A tuple:
    one is made for every chunk a backup stores, and a frozen dataclass cost several times as much."""

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


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _write_pieces(fd: int, pieces: list[Buffer]) -> None:
    """Write the pieces one after the other with as few system calls as it takes: gathered by the kernel
    (writev) rather than copied into one buffer first, a copy that held the GIL for every byte stored."""
    views = [memoryview(p) for p in pieces if len(p)]
    at = 0
    while at < len(views):
        done = os.writev(fd, views[at : at + IOV_MAX])
        while at < len(views) and done >= len(views[at]):
            done -= len(views[at])
            at += 1
        if done:
            views[at] = views[at][done:]


def _leave_page_cache(fd: int) -> None:
    """Let a sealed pack's pages go from the page cache. They are on the drive (fsynced) and this backup does
    not read them again: kept, a first backup's packs pushed the person's own files out of memory, and the
    next pack's writes were slower into pages the kernel had to find anew than into those just let go
    (bench/README.md, "Sealed packs leave the page cache"). Advice only: where it is not taken, nothing lost."""
    with contextlib.suppress(OSError):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def _checksum(data: bytes) -> bytes:
    return blake3.blake3(data).digest(length=8)


class _OpenPack:
    """The pack being written, under its temporary name. It owns the descriptor and closes it once."""

    def __init__(self, scratch: Path) -> None:
        self.name = secrets.token_hex(16)
        self.tmp = scratch / f".{self.name}.tmp"
        self.fd = create_private(self.tmp)
        self.entries: list[PackEntry] = []
        self.pos = 0
        self.pending: list[Buffer] = []  # frames appended and not written yet, kept as they were handed in
        self.pending_bytes = 0

    def close(self) -> None:
        """Close the descriptor unless it is closed already. The number is forgotten first: a close that
        fails has released it all the same, and closing it again could close another thread's file."""
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    def discard(self) -> None:
        """Give the pack up: close it and remove its temporary, ignoring a drive that no longer answers
        (the next writer removes temporaries it finds)."""
        with contextlib.suppress(OSError):
            self.close()
        with contextlib.suppress(OSError):
            self.tmp.unlink(missing_ok=True)


class PackWriter:
    """Appends frames to an open pack from any thread; seals it when it reaches the target size.

    Frames are added in lanes (a backup gives each file reader its own), one open pack per lane, so the frames
    of one file lie together in a pack rather than between another file's: a restore then reads them in a
    few long ranged reads (on a bucket each read is a request).

    A full pack is sealed (footer, fsync, publish) by the thread whose frame filled it, outside the writer's
    lock: an fsync may take a loaded drive a second, and other threads go on filling other packs meanwhile.

    Any failure on the drive discards the open pack and is final: the pack's frames are lost with it, so
    every later call raises the same error rather than store chunks at offsets nobody can trust.
    """

    def __init__(self, layout: Layout, target_size: int | None = None) -> None:
        self.layout = layout
        self.target_size = target_size or TARGET_PACK_SIZE
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)  # notified as each pack sealed outside the lock is done
        self._sealing = 0  # packs taken out of `_open` whose sealing has not ended yet
        self._sealed: list[SealedPack] = []
        self._open: dict[Hashable, _OpenPack] = {}
        self._failed: StorageError | None = None
        # a medium that is no local folder gets sealed packs by uploads that run beside the writing
        self._uploads: Uploads[SealedPack] | None = Uploads(layout.store) if layout.store.local_folder is None else None

    def add(self, frame: Buffer, chunks: list[tuple[bytes, int, int]], lane: Hashable = None) -> None:
        """Append one frame holding `chunks` as (digest, offset inside the frame, raw length) to the open
        pack of `lane`; a pack this fills is sealed before returning, by this thread. The frame is kept, not
        copied, until it is written: the caller must not change it afterwards."""
        self.add_parts((frame,), chunks, lane)

    def add_parts(self, parts: tuple[Buffer, ...], chunks: list[tuple[bytes, int, int]], lane: Hashable = None) -> None:
        """`add` of a frame handed over as consecutive pieces (a header and its payload), never joined."""
        with self._lock:
            full = self._guarded(self._add, parts, chunks, lane)
        if full is not None:
            self._seal_outside(full)

    def flush(self) -> list[SealedPack]:
        """Seal the open packs (if any), wait for packs other threads are sealing, and hand over every pack
        sealed since the last call: afterwards every frame added before the call is durable."""
        with self._lock:
            if self._failed is not None:
                self._guarded(lambda: None)
            full = [self._take(lane) for lane in list(self._open)]
        for at, pack in enumerate(full):
            try:
                self._seal_outside(pack)
            except BaseException:
                self._drop(full[at + 1 :])  # the writer has failed: the packs not sealed yet go with it
                raise
        with self._lock:
            while self._sealing:
                self._settled.wait()
            if self._uploads is not None:
                self._guarded(self._finish_uploads)
            else:
                self._guarded(lambda: None)  # a pack another thread failed to seal fails this flush too
            sealed, self._sealed = self._sealed, []
            return sealed

    def abort(self) -> None:
        """Drop the open pack and its temporary (where the drive still allows); safe at any time, and again."""
        with self._lock:
            self._discard()
            if self._uploads is not None:
                self._uploads.abandon()

    def _guarded(self, step: Callable[..., Any], *args: Any) -> Any:
        if self._failed is not None:
            raise type(self._failed)(str(self._failed))
        try:
            return step(*args)
        except BaseException as err:
            failure = self._record(err)
            if failure is err:
                raise
            raise failure from err

    def _record(self, err: BaseException) -> BaseException:
        """Make `err` final (the open packs are discarded) and say what to raise for it."""
        self._discard()
        if isinstance(err, StorageError):  # the medium's own failure, already in words
            self._failed = err
            return err
        if isinstance(err, OSError):
            self._failed = drive_error(err, self.layout.root) or StorageError(
                f"cannot write to the backup drive: {err.strerror or err}")
            return self._failed
        self._failed = StorageError("the pack being written was abandoned when the backup stopped")
        return err

    def _discard(self) -> None:
        for pack in self._open.values():
            pack.discard()
        self._open.clear()
        if self._uploads is not None:
            self._uploads.abandon()

    def _finish_uploads(self) -> None:
        assert self._uploads is not None
        self._sealed.extend(self._uploads.wait())

    def _add(self, parts: tuple[Buffer, ...], chunks: list[tuple[bytes, int, int]],
             lane: Hashable) -> _OpenPack | None:
        """Append under the lock; a pack that reached its size is taken out of `_open` and returned, to seal."""
        pack = self._open.get(lane) or self._start(lane)
        length = sum(len(part) for part in parts)
        self._buffer(pack, parts, length)
        pos = pack.pos
        pack.entries.extend([PackEntry(d, pos, length, inner, n) for d, inner, n in chunks])
        pack.pos += length
        return self._take(lane) if pack.pos >= self.target_size else None

    def _take(self, lane: Hashable) -> _OpenPack:
        """Take the open pack of `lane` out, to be sealed outside the lock (the lane's next frame opens a new one)."""
        self._sealing += 1
        return self._open.pop(lane)

    def _buffer(self, pack: _OpenPack, parts: tuple[Buffer, ...], length: int) -> None:
        """Small frames are gathered and written together: one system call per frame of a small file
        would cost more than the file."""
        pack.pending.extend(parts)
        pack.pending_bytes += length
        if pack.pending_bytes >= WRITE_BUFFER:
            self._drain(pack)

    @staticmethod
    def _drain(pack: _OpenPack) -> None:
        if pack.pending:  # handed over first: a failed write leaves nothing behind to write twice
            pieces, pack.pending, pack.pending_bytes = pack.pending, [], 0
            _write_pieces(pack.fd, pieces)

    def _start(self, lane: Hashable) -> _OpenPack:
        scratch = self.layout.scratch("packs")
        if not scratch.is_dir():
            make_private_dir(scratch)
        self._open[lane] = pack = _OpenPack(scratch)
        _write_all(pack.fd, MAGIC)
        pack.pos = len(MAGIC)
        return pack

    def _seal_outside(self, pack: _OpenPack) -> None:
        """Seal a pack taken out of `_open`, without the lock; a failure is final for the writer, as any other."""
        try:
            sealed = self._seal(pack)
            if self._uploads is None:
                self.layout.store.write_file(pack_name(pack.name), pack.tmp)
        except BaseException as err:
            pack.discard()
            with self._lock:
                self._sealing -= 1
                self._settled.notify_all()
                failure = self._failed or self._record(err)
            if failure is err:
                raise
            raise failure from err
        with self._lock:
            self._sealing -= 1
            self._settled.notify_all()
            if self._uploads is None:
                self._sealed.append(sealed)
            else:  # the temporary is the upload's now: removed by it, whatever happens
                self._sealed.extend(self._guarded(self._uploads.submit, pack_name(pack.name), pack.tmp, sealed))

    def _drop(self, packs: list[_OpenPack]) -> None:
        """Discard packs taken out to seal that will not be sealed."""
        for pack in packs:
            pack.discard()
        with self._lock:
            self._sealing -= len(packs)
            self._settled.notify_all()

    def _seal(self, pack: _OpenPack) -> SealedPack:
        """Footer, trailer, fsync, close; only then may the pack take its final name."""
        footer = compress_stream(b"".join(ENTRY.pack(e.digest, e.offset, e.length, e.inner, e.raw_length)
                                          for e in pack.entries))
        if self.layout.sealing is not None:
            footer = self.layout.sealing.seal_footer(pack.name, footer)
        trailer = TRAILER.pack(pack.pos, len(footer), _checksum(footer), END_MAGIC)
        self._drain(pack)
        _write_all(pack.fd, footer + trailer)
        os.fsync(pack.fd)
        if self._uploads is None:  # an upload reads the temporary next: its pages are kept for it
            _leave_page_cache(pack.fd)
        pack.close()
        return SealedPack(pack.name, pack.pos + len(footer) + len(trailer), pack.entries)


def read_footer(store: Backend, name: str, sealing: Sealing | None = None) -> list[PackEntry]:
    """The chunk list of sealed pack `name`; CorruptData if the pack is missing, truncated or its footer
    damaged (or, in an encrypted repository, does not open as this pack's footer). Two ranged reads."""
    found = store.stat(pack_name(name))
    if found is None:
        raise CorruptData(f"pack {name} is missing from the drive")
    size = found.size
    if size < len(MAGIC) + TRAILER.size:
        raise CorruptData(f"pack {name} is truncated")
    offset, length, checksum, magic = TRAILER.unpack(_read(store, name, size - TRAILER.size, TRAILER.size))
    if magic != END_MAGIC or offset + length + TRAILER.size != size:
        raise CorruptData(f"pack {name} has no valid footer")
    footer = _read(store, name, offset, length)
    if _checksum(footer) != checksum:
        raise CorruptData(f"pack {name} has a damaged footer")
    if sealing is not None:
        footer = sealing.open_footer(name, footer)
    raw = decompress_stream(footer)
    return [PackEntry(*ENTRY.unpack_from(raw, i)) for i in range(0, len(raw), ENTRY.size)]


def _read(store: Backend, name: str, offset: int, length: int) -> bytes:
    try:
        data = store.read(pack_name(name), offset, length)
    except ObjectMissing:
        raise CorruptData(f"pack {name} is missing from the drive") from None
    if len(data) != length:
        raise CorruptData(f"pack {name} is shorter than it says")
    return data


def stored_packs(store: Backend) -> dict[str, int]:
    """Every sealed pack on the medium: its name and size (temporaries are never listed)."""
    found = {}
    for stored in store.list(PACKS):
        folder, _, file = stored.name[len(PACKS):].rpartition("/")
        if file.endswith(".pack") and "/" not in folder and stored.name == pack_name(file[:-5]):
            found[file[:-5]] = stored.size
    return found


def _spread(data: bytes, parts: list[bytearray]) -> int:
    at = 0
    for part in parts:
        piece = data[at : at + len(part)]
        part[: len(piece)] = piece
        at += len(piece)
    return at


class PackReader:
    """Random reads of frames: ranged reads of the medium (a drive keeps a few packs open for them, because
    restores read many chunks per pack)."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def read(self, pack: str, offset: int, length: int) -> bytes:
        try:
            data = self.layout.store.read(pack_name(pack), offset, length)
        except ObjectMissing:
            raise CorruptData(f"pack {pack} is missing from the drive") from None
        if len(data) != length:
            raise CorruptData(f"pack {pack} is shorter than the index says")
        return data

    def read_into(self, pack: str, offset: int, parts: list[bytearray]) -> None:
        """`read` into buffers the caller reuses, filling each of `parts` in turn; a drive reads straight into
        them, another medium's bytes are copied in."""
        store = self.layout.store
        length = sum(len(part) for part in parts)
        try:
            if isinstance(store, LocalBackend):
                done = store.read_into(pack_name(pack), offset, parts)
            else:
                done = _spread(store.read(pack_name(pack), offset, length), parts)
        except ObjectMissing:
            raise CorruptData(f"pack {pack} is missing from the drive") from None
        if done != length:
            raise CorruptData(f"pack {pack} is shorter than the index says")

    def close(self) -> None:
        self.layout.store.close()
