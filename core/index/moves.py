"""Where a renamed path's content came from: the origin algebra the watcher, the journal and a storage time share.

An origin map sends a path to the path its content had before the renames a watcher saw. A moved folder has
one entry; the paths beneath it follow by prefix, so moving ten thousand files costs one entry. Two markers
stand where a path cannot (journaled paths are absolute): NEW for a path created or deleted since, whose
content came from nowhere, and ELSEWHERE for one renamed in from a place its watch could not pair (another
protected folder has its own inotify instance, so the two halves of one rename arrive apart): a storage time
pairs it by inode. Pure.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from timekeep.core.paths import below

ELSEWHERE = b"elsewhere"
NEW = b"new"
MARKERS = (ELSEWHERE, NEW)


def traced(origins: Mapping[bytes, bytes], path: bytes) -> tuple[bytes, bytes] | None:
    """(the path at or above `path` with an entry, where `path` was before), or None if nothing moved it.
    The deepest entry wins: a file renamed inside a moved folder has an entry of its own. A marker comes
    back as it is."""
    at = path
    while True:
        origin = origins.get(at)
        if origin is not None:
            return at, origin if origin in MARKERS else origin + path[len(at):]
        parent = os.path.dirname(at)
        if parent == at or not parent:
            return None
        at = parent


def origin_of(origins: Mapping[bytes, bytes], path: bytes) -> bytes:
    """Where `path`'s content was before every rename in `origins` (itself if none moved it), or a marker."""
    found = traced(origins, path)
    return path if found is None else found[1]


def after_move(origins: dict[bytes, bytes], src: bytes, dest: bytes, folder: bool) -> None:
    """Update `origins` in place once `src` is renamed to `dest` (`src` empty: from an unseen place).
    Chains compose, so a path renamed twice points at where it was first. A file created since and renamed
    over `dest` (an editor saving through a temporary file) leaves `dest` its origin: the same document,
    edited. Only a folder's move looks at the entries beneath it, so a burst of file renames stays cheap."""
    origin = origin_of(origins, src) if src else ELSEWHERE
    if folder:
        carried = {dest + p[len(src):]: o for p, o in origins.items() if src and below(p, src)}
        for path in [p for p in origins if below(p, dest) or (src and below(p, src))]:
            del origins[path]
        origins.update(carried)
    if src:
        origins[src] = NEW  # gone; whatever appears there later is new unless a rename says otherwise
    if origin == dest:
        origins.pop(dest, None)
    elif origin != NEW:
        origins[dest] = origin


def after_creation(origins: dict[bytes, bytes], path: bytes) -> None:
    """A path created or deleted: what it holds (if anything) came from nowhere."""
    origins[path] = NEW
