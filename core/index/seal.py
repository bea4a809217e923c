"""Seals: short checksums that bind an index row to what it means, so a damaged index never hands out wrong bytes.

SQLite checks its pages' structure (`PRAGMA quick_check`) but not the values inside them: one flipped byte
can move a version to another file, to another snapshot, or point an extent at another chunk, and every
chunk would still match its own digest. So each version row carries a seal over the path it belongs to,
its snapshot, the snapshot of the file's previous version (`prev`), its metadata, its whole-file digest
and a hash of its own extents (`xhash`); each file row seals its path with the snapshot of its newest
version (`head`). A reader checks the seals of every row it builds a version from: the rows must form
one unbroken list from `head` back to the first version, and the extents must hash to `xhash`. Any
mismatch is CorruptData, never a restore. See FORMAT.md, "Seals".

A seal is a checksum against damage, not a signature against forgery, in every repository: its keys are
constant prefixes. An encrypted repository keeps its index on this computer only (FORMAT.md, "Encryption"),
where whoever can write it can write any file of its owner's.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

import blake3

SEAL_BYTES = 16
VERSION_KEY = b"timekeep version seal 1\0"
_FILE_KEY = b"timekeep file seal 1\0"
_EXTENTS_KEY = b"timekeep extents hash 1"
_INTS = struct.Struct("<qqqqqqqq")
_LEN = struct.Struct("<I")
_HEAD = struct.Struct("<q")
_EXTENT = struct.Struct("<QQQ")
NO_VALUE = b"\xff\xff\xff\xff"
# bound once: a seal is made for every row a listing shows or a scan compares (core/index/listing.py lays a
# version seal out inline with these, for speed)
pack_ints = _INTS.pack
pack_len = _LEN.pack
_blake3 = blake3.blake3
# what a value of a type it can never have (a damaged index) raises while its seal is made: it matches nothing
IMPOSSIBLE = (struct.error, TypeError, ValueError, OverflowError, AttributeError)

# (offset, length, digest, skip) of one stored extent
ExtentKey = tuple[int, int, bytes, int]


def extents_hash(extents: Iterable[ExtentKey]) -> bytes:
    """A hash of a version's own extents, in offset order."""
    pack = _EXTENT.pack  # the same bytes as one update per field, hashed in one call (made twice per version stored)
    laid = [_EXTENTS_KEY]
    for offset, length, digest, skip in sorted(extents, key=_extent_order):
        laid += (pack(offset, length, skip), digest)
    return _blake3(b"".join(laid)).digest(length=SEAL_BYTES)


def _extent_order(extent: ExtentKey) -> tuple[int, int]:
    return extent[0], extent[1]


def version_seal(path: bytes, snapshot_id: int, prev: int, state: str, kind: str, size: int, mode: int,
                 mtime_ns: int, uid: int | None, gid: int | None, full: bool | int, digest: bytes | None,
                 link_target: bytes | None, xattrs: bytes | None, xhash: bytes | None) -> bytes:
    """The seal of one version row; every argument is a value a restore hands back or builds from. Made
    for every row a listing shows, so it is one struct and one hash (about a microsecond and a half)."""
    # each variable field is length-prefixed (NO_VALUE for None, distinct from empty), so no two rows can
    # serialise alike; all in one join, with no concatenation on the way: a value that is not bytes-like
    # still fails there, as it must
    return _blake3(b"".join((
        VERSION_KEY,
        pack_ints(snapshot_id, prev, size, mode, mtime_ns, -1 if uid is None else uid, -1 if gid is None else gid,
                   1 if full else 0),
        state.encode(), b"\0", kind.encode(), b"\0",
        NO_VALUE if path is None else pack_len(len(path)), b"" if path is None else path,
        NO_VALUE if digest is None else pack_len(len(digest)), b"" if digest is None else digest,
        NO_VALUE if link_target is None else pack_len(len(link_target)), b"" if link_target is None else link_target,
        NO_VALUE if xattrs is None else pack_len(len(xattrs)), b"" if xattrs is None else xattrs,
        NO_VALUE if xhash is None else pack_len(len(xhash)), b"" if xhash is None else xhash,
    ))).digest(SEAL_BYTES)


def version_holds(sealed: object, path: bytes, snapshot_id: int, prev: int, state: str, kind: str, size: int,
                  mode: int, mtime_ns: int, uid: int | None, gid: int | None, full: bool | int, digest: bytes | None,
                  link_target: bytes | None, xattrs: bytes | None, xhash: bytes | None) -> bool:
    """Whether a version row's values match its seal; values of a type they can never have match nothing.
    Checked for every row a listing shows or a scan compares, so `version_seal`'s body is repeated here rather
    than called (tests/test_seal_speed.py holds the two to the same bytes)."""
    try:
        return bool(sealed == _blake3(b"".join((
            VERSION_KEY,
            pack_ints(snapshot_id, prev, size, mode, mtime_ns, -1 if uid is None else uid,
                       -1 if gid is None else gid, 1 if full else 0),
            state.encode(), b"\0", kind.encode(), b"\0",
            NO_VALUE if path is None else pack_len(len(path)), b"" if path is None else path,
            NO_VALUE if digest is None else pack_len(len(digest)), b"" if digest is None else digest,
            NO_VALUE if link_target is None else pack_len(len(link_target)),
            b"" if link_target is None else link_target,
            NO_VALUE if xattrs is None else pack_len(len(xattrs)), b"" if xattrs is None else xattrs,
            NO_VALUE if xhash is None else pack_len(len(xhash)), b"" if xhash is None else xhash,
        ))).digest(SEAL_BYTES))
    except IMPOSSIBLE:
        return False


def file_seal(path: bytes, head: int) -> bytes:
    """The seal of one file row: its path and the snapshot of its newest version."""
    return blake3.blake3(_FILE_KEY + _HEAD.pack(head) + path).digest(length=SEAL_BYTES)
