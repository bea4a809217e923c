"""Snapshot manifests: one self-describing, compressed file per completed snapshot.

A manifest holds the snapshot's header, every version it recorded (path, metadata, extents as chunk
digests) and its per-file errors, so the whole index can be rebuilt from the drive. JSON lines inside
zstd; paths go through os.fsdecode, whose surrogate escapes JSON carries, so any byte name survives.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import zstandard

from core.errors import CorruptData
from core.storage.atomic import publish, temp_name
from core.storage.layout import Layout

MANIFEST_FORMAT = 1


def write_manifest(layout: Layout, snapshot_id: int, header: dict[str, Any],
                   records: Iterable[dict[str, Any]]) -> Path:
    """Stream the manifest to a temporary, fsync and publish it; memory stays flat in its size."""
    target = layout.manifest_path(snapshot_id)
    tmp = temp_name(target)
    with open(tmp, "wb") as raw:
        with zstandard.ZstdCompressor(level=3).stream_writer(raw, closefd=False) as out:
            out.write(_line({"type": "snapshot", "format": MANIFEST_FORMAT, **header}))
            for record in records:
                out.write(_line(record))
            out.write(_line({"type": "end"}))
        raw.flush()
        os.fsync(raw.fileno())
    publish(tmp, target)
    return target


def _line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


def read_manifest(path: Path) -> Iterator[dict[str, Any]]:
    """Every record, header first; CorruptData if the file is damaged or was cut short."""
    try:
        with open(path, "rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as stream:
            ended = False
            for line in _lines(stream):
                record = json.loads(line)
                ended = record.get("type") == "end"
                if not ended:
                    yield record
    except (zstandard.ZstdError, ValueError) as err:
        raise CorruptData(f"manifest {path.name} is damaged: {err}") from None
    if not ended:
        raise CorruptData(f"manifest {path.name} is incomplete")


def _lines(stream: Any) -> Iterator[bytes]:
    pending = b""
    while block := stream.read(1 << 20):
        pending += block
        *lines, pending = pending.split(b"\n")
        yield from lines
    if pending:
        yield pending


def manifest_ids(layout: Layout) -> list[int]:
    if not layout.manifests.is_dir():
        return []
    return sorted(int(p.stem) for p in layout.manifests.glob("*.manifest") if p.stem.isdigit())


def encode_path(path: bytes) -> str:
    return os.fsdecode(path)


def decode_path(text: str) -> bytes:
    return os.fsencode(text)
