"""Snapshot manifests: one self-describing, checksummed file per completed snapshot (and generation).

A manifest holds the snapshot's header, every version it recorded (path, metadata, whole-file digest,
extents as chunk digests) and its per-file errors, so the whole index can be rebuilt from the drive. JSON
lines in zstd frames that carry their own checksums, ended by a record that counts the lines and hashes
them (FORMAT.md, "Manifests"): a damaged manifest is detected when read, never decoded into wrong values.

A manifest is never overwritten. When thinning changes what a kept snapshot holds, its manifest is written
again as the next *generation* (`<id>-<gen>.manifest`) and the older one removed after: the drive always
holds a whole manifest for every snapshot, and an index that knows an older generation is behind.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

import blake3
import zstandard

from timekeep.core.errors import CorruptData, ObjectExists, ObjectMissing, RepositoryError
from timekeep.core.storage.atomic import create_private, make_private_dir
from timekeep.core.storage.backend import Backend
from timekeep.core.storage.layout import MANIFESTS, Layout, manifest_name

if TYPE_CHECKING:  # the keys' code loads for an encrypted repository only
    from timekeep.core.crypto.sealing import Sealing

MANIFEST_FORMAT = 2
FRAME_BYTES = 1 << 20  # lines gathered per zstd frame: a damaged byte costs at most this much of a salvage
DRAFT_BYTES = 256 << 10  # a Draft's lines compressed at a time: small, as it is held while a backup runs
READ_BYTES = 4 << 20  # a manifest is read in ranges of this size: memory stays flat, and a bucket gets few GETs
_NAME = re.compile(r"^(\d{10})(?:-(\d+))?\.manifest$")


def parse_name(name: str) -> tuple[int, int] | None:
    """(snapshot id, generation) of a manifest's file name (or object name); None for anything else."""
    match = _NAME.match(name.removeprefix(MANIFESTS))
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2) or 0)


class _Frames:
    """Lines gathered and compressed into `raw` one zstd frame per `limit` bytes of them."""

    def __init__(self, raw: BinaryIO, cctx: zstandard.ZstdCompressor, limit: int) -> None:
        self.raw, self.cctx, self.limit = raw, cctx, limit
        self._pending: list[bytes] = []
        self._size = 0

    def put(self, line: bytes) -> None:
        self._pending.append(line)
        self._size += len(line)
        if self._size >= self.limit:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self.raw.write(self.cctx.compress(b"".join(self._pending)))
            self._pending, self._size = [], 0


class _Sink:
    """Compresses lines into checksummed frames of about FRAME_BYTES and hashes them as they pass."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.frames = _Frames(raw, zstandard.ZstdCompressor(level=3, write_checksum=True), FRAME_BYTES)
        self.hash = blake3.blake3()
        self.count = 0

    def add(self, record: dict[str, Any]) -> None:
        self.add_line(as_line(record))

    def add_line(self, line: bytes) -> None:
        self.hash.update(line)
        self.count += 1
        self.frames.put(line)

    def flush(self) -> None:
        self.frames.flush()

    def end(self) -> None:
        self.frames.put(as_line({"type": "end", "records": self.count, "blake3": self.hash.hexdigest()}))
        self.frames.flush()


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class Draft:
    """Record lines written ahead, while the snapshot is still being taken, so that writing its manifest at
    the end only adds the header before them and the checksum after (`write_manifest`'s `drafted`).

    The lines wait in an unnamed scratch file (gone with the process, however it ends), compressed fast;
    the manifest itself is made from them exactly as from the records, so its bytes do not depend on it.
    The file sits beside the index, which holds the same in the clear: never on the drive of an encrypted
    repository (whose index is on this computer), where freed blocks would keep names unsealed."""

    def __init__(self, layout: Layout) -> None:
        self.file = tempfile.TemporaryFile(dir=layout.index_dir)  # noqa: SIM115 (open across commits; see close)
        self.frames = _Frames(self.file, zstandard.ZstdCompressor(level=1), DRAFT_BYTES)

    def add(self, lines: Iterable[bytes]) -> None:
        """Records made into lines (`as_line`)."""
        for line in lines:
            self.frames.put(line)

    def lines(self) -> Iterator[bytes]:
        """Every line added, in order, each with its newline."""
        self.frames.flush()
        self.file.seek(0)
        for line in _lines(_frames(self.file, "draft")):
            yield line + b"\n"

    def close(self) -> None:
        self.file.close()


def write_manifest(layout: Layout, snapshot_id: int, header: dict[str, Any],
                   records: Iterable[dict[str, Any]], gen: int = 0, drafted: Iterable[bytes] = ()) -> str:
    """Stream the manifest to a private local temporary, fsync it and hand it to the medium under a name no
    object has yet; memory stays flat in its size. RepositoryError if that name exists: nothing is ever
    overwritten. The object's name is returned. `drafted` are lines of records (a Draft's) that come before
    `records`."""
    target = manifest_name(snapshot_id, gen)
    scratch = layout.scratch("snapshots")
    if not scratch.is_dir():
        make_private_dir(scratch)
    tmp = scratch / f".{target.removeprefix(MANIFESTS)}.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)  # a killed writer of this same process id left it
    fd = create_private(tmp)
    try:
        with open(fd, "wb", closefd=False) as raw:
            sink = _Sink(raw if layout.sealing is None else io.BytesIO())
            sink.add({"type": "snapshot", "format": MANIFEST_FORMAT, **header, "gen": gen})
            for line in drafted:
                sink.add_line(line)
            for record in records:
                sink.add(record)
            sink.end()
            if layout.sealing is not None:  # sealed whole, bound to its snapshot and generation
                assert isinstance(sink.raw, io.BytesIO)
                raw.write(layout.sealing.seal_manifest(snapshot_id, gen, sink.raw.getvalue()))
            raw.flush()
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    try:
        layout.store.write_file(target, tmp)
    except ObjectExists:
        raise RepositoryError(f"snapshot {snapshot_id} already has a manifest on the drive "
                              f"({target.removeprefix(MANIFESTS)}); nothing was overwritten: the index is behind "
                              "the drive, run `timekeep rebuild-index`") from None
    finally:
        tmp.unlink(missing_ok=True)
    return target


# one encoder for every line: `json.dumps` with any option builds a new encoder per call, a cost per version
_encode = json.JSONEncoder(separators=(",", ":")).encode


def as_line(record: dict[str, Any]) -> bytes:
    """A record as a manifest line, with its newline."""
    return _encode(record).encode() + b"\n"


def read_manifest(store: Backend, object_name: str, sealing: Sealing | None = None) -> Iterator[dict[str, Any]]:
    """Every record, header first; CorruptData if the manifest is missing, damaged, cut short or not whole
    (or, in an encrypted repository, does not open as this snapshot's manifest of this generation).

    Records come out as they are read, before the last one proves the whole: a caller that keeps them
    must be able to undo them (the rebuild loads each manifest in one transaction)."""
    name = object_name.removeprefix(MANIFESTS)
    try:
        raw = _Ranges(store, object_name)
        yield from _checked_records(_lines(_frames(_opened(raw, name, sealing), name)), name)
    except zstandard.ZstdError as err:
        raise CorruptData(f"manifest {name} is damaged: {err}") from None
    except ObjectMissing:
        raise CorruptData(f"manifest {name} is missing from the drive") from None


class _Ranges:
    """An object read from its start in ranges, as a file."""

    def __init__(self, store: Backend, name: str) -> None:
        self.store, self.name, self.pos = store, name, 0

    def read(self, size: int = -1) -> bytes:
        data = self.store.read(self.name, self.pos, None if size < 0 else size)
        self.pos += len(data)
        return data


def _opened(raw: _Ranges, name: str, sealing: Sealing | None) -> _Ranges | io.BytesIO:
    if sealing is None:
        return raw
    parsed = parse_name(name)
    if parsed is None:
        raise CorruptData(f"manifest {name} is not named as a manifest: it cannot be opened")
    return io.BytesIO(sealing.open_manifest(parsed[0], parsed[1], raw.read()))


def _checked_records(lines: Iterator[bytes], name: str) -> Iterator[dict[str, Any]]:
    digest, header = blake3.blake3(), True
    for count, line in enumerate(lines):
        try:
            record = json.loads(line)
        except ValueError as err:
            raise CorruptData(f"manifest {name} is damaged: {err}") from None
        if not isinstance(record, dict) or (header and record.get("type") != "snapshot"):
            raise CorruptData(f"manifest {name} is damaged: a record is not what it should be")
        if record.get("type") == "end":
            _check_end(record, count, digest.hexdigest(), name)
            if any(True for _ in lines):  # read to the file's end: a frame cut short shows only there
                raise CorruptData(f"manifest {name} is damaged: it goes on after its end")
            return
        digest.update(line + b"\n")
        header = False
        yield record
    raise CorruptData(f"manifest {name} is incomplete")


def _check_end(record: dict[str, Any], count: int, digest: str, name: str) -> None:
    """Format 2 ends with the count and hash of every line before; format 1 ended with a bare end."""
    if "records" not in record and "blake3" not in record:
        return
    if record.get("records") != count or record.get("blake3") != digest:
        raise CorruptData(f"manifest {name} is damaged: its records do not match their checksum")


def _frames(raw: _Readable, name: str) -> Iterator[bytes]:
    """The decompressed contents of the file's zstd frames, one after another, each checked against its
    own checksum as it ends; CorruptData if the file ends inside a frame."""
    dctx = zstandard.ZstdDecompressor()
    frame = dctx.decompressobj()
    midway = False
    while block := raw.read(READ_BYTES):
        while block:
            yield frame.decompress(block)
            midway = True
            if not frame.eof:
                break
            block, frame, midway = frame.unused_data, dctx.decompressobj(), False
    if midway:
        raise CorruptData(f"manifest {name} is incomplete: it ends inside a frame")


def _lines(blocks: Iterator[bytes]) -> Iterator[bytes]:
    pending = b""
    for block in blocks:
        pending += block
        *lines, pending = pending.split(b"\n")
        yield from lines
    if pending:
        yield pending


def manifest_files(layout: Layout) -> dict[int, dict[int, str]]:
    """Every manifest on the medium: snapshot id -> generation -> object name."""
    found: dict[int, dict[int, str]] = {}
    for name in layout.store.names(MANIFESTS):  # names only: a drive stats no manifest
        parsed = parse_name(name)
        if parsed is not None and name == manifest_name(*parsed):
            found.setdefault(parsed[0], {})[parsed[1]] = name
    return found


def manifest_ids(layout: Layout) -> list[int]:
    return sorted(manifest_files(layout))


def current_manifest(layout: Layout, snapshot_id: int) -> str | None:
    """The snapshot's newest generation on the drive, or None."""
    gens = manifest_files(layout).get(snapshot_id)
    return gens[max(gens)] if gens else None


def encode_path(path: bytes) -> str:
    return os.fsdecode(path)


def decode_path(text: str) -> bytes:
    return os.fsencode(text)
