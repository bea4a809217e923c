"""What a listing shows of a version, packed in one column with a seal of its own (schema 9), so a folder's
first listing reads five values a row instead of sixteen and checks each with one hash over four pieces.

A listing's cost is per row and per value: SQLite makes each column a Python object, and the version seal is
rebuilt from sixteen of them (bench/README.md, "The first listing in a process"). So the writer packs, beside
the version seal, what a listing hands back (size, mode, mtime, snapshot, kind, state, link target) into
`version.shown`, and seals it with the row's version seal and path (`version.shown_seal`). A listing checks
that seal on the columns it read, and that the record names the row's own snapshot: a row that passes shows
exactly what its writer sealed, with the version seal written beside it. Binding the version seal means a
write that changes what the row means (a new version seal) leaves the old record unable to pass. A row
without a record (written before schema 9, or by a writer that makes none), or whose record does not hold,
is checked against its whole version seal instead: damage is found there, and the row is the caller's
damaged entry, as before. The columns the record stands for (size, mode, ...) and what a listing never shows
(digest, extents, owners) are checked against the version seal when the version is opened, as they always
were: a damaged one makes that version the caller's damaged file, not a wrong listing.
"""

from __future__ import annotations

import struct

import blake3

from timekeep.core.index.seal import IMPOSSIBLE, SEAL_BYTES

SHOWN_KEY = b"timekeep shown seal 1\0"
KINDS = ("file", "dir", "symlink")
STATES = ("created", "modified", "metadata", "deleted")
DELETED = STATES.index("deleted")
# size, mode, mtime_ns, snapshot, kind, state, the link target's length (NO_TARGET for none), then its bytes:
# self-delimiting, so the seal's input (key, record, version seal, path) reads one way only
RECORD = struct.Struct("<qqqqBBI")
NO_TARGET = 0xFFFFFFFF
_pack = RECORD.pack
_blake3 = blake3.blake3


def record(snapshot_id: int, kind: str, size: int, mode: int, mtime_ns: int, state: str,
           link_target: bytes | None) -> bytes | None:
    """The packed record of what a listing shows of a version; None when a value does not fit one (the
    listing then checks the row's whole seal)."""
    if kind not in KINDS or state not in STATES:
        return None
    try:
        head = _pack(size, mode, mtime_ns, snapshot_id, KINDS.index(kind), STATES.index(state),
                     NO_TARGET if link_target is None else len(link_target))
    except IMPOSSIBLE:
        return None
    return head if link_target is None else head + link_target


def shown_seal(shown: bytes, path: bytes, version_seal: bytes) -> bytes:
    """The seal of a record, bound to the row's version seal and path (listing.py repeats this inline)."""
    return _blake3(b"".join((SHOWN_KEY, shown, version_seal, path))).digest(SEAL_BYTES)


def made(path: bytes, snapshot_id: int, kind: str, size: int, mode: int, mtime_ns: int, state: str,
         link_target: bytes | None, version_seal: bytes) -> tuple[bytes | None, bytes | None]:
    """(record, its seal) for the writer to store beside the version seal; (None, None) when it has none."""
    shown = record(snapshot_id, kind, size, mode, mtime_ns, state, link_target)
    if shown is None:
        return None, None
    return shown, shown_seal(shown, path, version_seal)
