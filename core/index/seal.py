"""Seals: short checksums that bind an index row to what it means, so a damaged index never hands out wrong bytes.

SQLite checks its pages' structure (`PRAGMA quick_check`) but not the values inside them: one flipped byte
can move a version to another file, to another snapshot, or point an extent at another chunk, and every
chunk would still match its own digest. So each version row carries a seal over the path it belongs to,
its snapshot, the snapshot of the file's previous version (`prev`), its metadata, its whole-file digest
and a hash of its own extents (`xhash`); each file row seals its path with the snapshot of its newest
version (`head`). A reader checks the seals of every row it builds a version from: the rows must form
one unbroken list from `head` back to the first version, and the extents must hash to `xhash`. Any
mismatch is CorruptData, never a restore. See FORMAT.md, "Seals".

A seal is a checksum against damage, not a signature against forgery (an encrypted repository keys it).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

import blake3

SEAL_BYTES = 16
_VERSION_KEY = b"timekeep version seal 1"
_FILE_KEY = b"timekeep file seal 1"
_EXTENTS_KEY = b"timekeep extents hash 1"
_I64 = struct.Struct("<q")
_EXTENT = struct.Struct("<QQQ")

# (offset, length, digest, skip) of one stored extent
ExtentKey = tuple[int, int, bytes, int]


def _field(data: bytes | None) -> bytes:
    """A length-prefixed field (None distinct from empty), so no two rows can serialise alike."""
    if data is None:
        return b"\xff" * 8
    return _I64.pack(len(data)) + data


def _int(value: int | None) -> bytes:
    return _I64.pack(-(2**63) if value is None else value)


def extents_hash(extents: Iterable[ExtentKey]) -> bytes:
    """A hash of a version's own extents, in offset order."""
    h = blake3.blake3(_EXTENTS_KEY)
    for offset, length, digest, skip in sorted(extents, key=lambda e: (e[0], e[1])):
        h.update(_EXTENT.pack(offset, length, skip))
        h.update(digest)
    return h.digest(length=SEAL_BYTES)


def version_seal(path: bytes, snapshot_id: int, prev: int, state: str, kind: str, size: int, mode: int,
                 mtime_ns: int, uid: int | None, gid: int | None, full: bool, digest: bytes | None,
                 link_target: bytes | None, xattrs: bytes | None, xhash: bytes) -> bytes:
    """The seal of one version row; every argument is a value a restore hands back or builds from."""
    parts: Sequence[bytes] = (
        _VERSION_KEY, _field(path), _int(snapshot_id), _int(prev), _field(state.encode()), _field(kind.encode()),
        _int(size), _int(mode), _int(mtime_ns), _int(uid), _int(gid), _int(int(full)), _field(digest),
        _field(link_target), _field(xattrs), _field(xhash))
    return blake3.blake3(b"".join(parts)).digest(length=SEAL_BYTES)


def file_seal(path: bytes, head: int) -> bytes:
    """The seal of one file row: its path and the snapshot of its newest version."""
    return blake3.blake3(_FILE_KEY + _field(path) + _int(head)).digest(length=SEAL_BYTES)
