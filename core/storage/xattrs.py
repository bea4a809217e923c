"""How a path's extended attributes (POSIX ACLs among them) are written down: one canonical byte string for
the index and its seals, and a JSON form for manifests. Pure; reading and setting them is capture's and
restore's job.
"""

from __future__ import annotations

import base64
import os
import struct

Xattrs = tuple[tuple[bytes, bytes], ...]  # (name, value), sorted by name
_LEN = struct.Struct("<I")


class BadXattrs(ValueError):
    """The stored form does not decode: damaged, never guessed at."""


def encode(attrs: Xattrs | None) -> bytes | None:
    """The canonical bytes: each name and value length-prefixed, names sorted. None stays None (none kept)."""
    if not attrs:
        return None
    out = bytearray()
    for name, value in sorted(attrs):
        out += _LEN.pack(len(name)) + name + _LEN.pack(len(value)) + value
    return bytes(out)


def decode(data: bytes | None) -> Xattrs:
    if not data:
        return ()
    found: list[tuple[bytes, bytes]] = []
    at = 0
    while at < len(data):
        name, at = _take(data, at)
        value, at = _take(data, at)
        found.append((name, value))
    return tuple(found)


def _take(data: bytes, at: int) -> tuple[bytes, int]:
    if at + _LEN.size > len(data):
        raise BadXattrs("extended attributes are truncated")
    (size,) = _LEN.unpack_from(data, at)
    at += _LEN.size
    if at + size > len(data):
        raise BadXattrs("extended attributes are truncated")
    return data[at : at + size], at + size


def to_json(data: bytes | None) -> list[list[str]] | None:
    """[[name, base64 value], ...] for a manifest record."""
    attrs = decode(data)
    if not attrs:
        return None
    return [[os.fsdecode(name), base64.b64encode(value).decode()] for name, value in attrs]


def from_json(items: object) -> bytes | None:
    if items is None:
        return None
    if not isinstance(items, list):
        raise BadXattrs("extended attributes are not a list")
    try:
        attrs = tuple((os.fsencode(str(name)), base64.b64decode(str(value), validate=True)) for name, value in items)
    except (ValueError, TypeError) as err:
        raise BadXattrs(f"extended attributes do not decode: {err}") from None
    return encode(attrs)
