"""Pure event merging and debounce: which paths a file-system event makes dirty, and how long to wait.

No threads, no clocks of their own: times are passed in (monotonic seconds), so every rule is a table test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

EventKind = Literal["created", "deleted", "modified", "attrib", "closed", "moved"]
# Kinds that change a folder's listing (and its mtime): the parent folder is dirty too.
LISTING_KINDS = frozenset({"created", "deleted", "moved"})


def dirty_paths(kind: str, src: bytes, dest: bytes | None = None) -> tuple[bytes, ...]:
    """The paths an event makes dirty. A content or attribute change dirties the path alone; a creation or
    deletion also its parent, whose listing and mtime changed; a move both ends and both parents, so the
    old place is seen as deleted and the new one as created (a folder moved in is walked whole). Where the
    new one came from is noted apart (`EventBuffer.moved`), so it need not be read again."""
    paths = [src]
    if kind == "moved" and dest:
        paths.append(dest)
    if kind in LISTING_KINDS:
        paths.extend([os.path.dirname(p) for p in paths])
    return tuple(dict.fromkeys(p for p in paths if p))


@dataclass(frozen=True)
class Seen:
    """When a path was first and last reported dirty since it was last handed on (monotonic seconds)."""

    first: float
    last: float


def seen_again(before: Seen | None, now: float) -> Seen:
    """A path reported once more: it keeps when it was first seen, and its last event moves to `now`."""
    return Seen(now if before is None else before.first, now)


def merge_seen(pending: Mapping[bytes, Seen], paths: Iterable[bytes], now: float) -> dict[bytes, Seen]:
    """Fold new dirty paths into `pending`: one entry per path, however many events it had."""
    merged = dict(pending)
    for path in paths:
        merged[path] = seen_again(merged.get(path), now)
    return merged


def last_event(pending: Mapping[bytes, Seen]) -> float | None:
    return max((seen.last for seen in pending.values()), default=None)


def debounce_wait(last: float | None, now: float, quiet: float, waited: float, max_wait: float) -> float:
    """Seconds a storage time should still wait so files being written are not read mid-write: until
    `quiet` seconds passed since the last event, but never more than `max_wait` in all (a file that is
    written without pause, like a log, is read anyway; the engine re-reads a file that changes while read)."""
    if last is None:
        return 0.0
    wanted = max(0.0, last + quiet - now)
    return max(0.0, min(wanted, max_wait - waited))


def split_quiet(pending: Mapping[bytes, Seen], now: float, quiet: float) -> tuple[set[bytes], set[bytes]]:
    """(quiet paths, paths still hot): a path is hot while its last event is younger than `quiet`."""
    ready = {p for p, seen in pending.items() if now - seen.last >= quiet}
    return ready, set(pending) - ready


def _under_gone_folder(path: bytes, named: set[bytes], is_dir: Callable[[bytes], bool]) -> bool:
    """Whether a named ancestor of `path` is no longer a folder (deleted, or replaced by a file)."""
    parent = os.path.dirname(path)
    while parent and parent != path:
        if parent in named and not is_dir(parent):
            return True
        path, parent = parent, os.path.dirname(parent)
    return False


def needed(paths: Iterable[bytes], is_dir: Callable[[bytes], bool]) -> set[bytes]:
    """The dirty paths a storage time must name, each compared once. A storage time compares a named
    folder's direct children too, so a path whose parent is named is left out; a path beneath a named
    path that is no longer a folder is covered by that folder's deletion. `is_dir` looks at the disk now."""
    named = set(paths)
    kept: set[bytes] = set()
    for path in sorted(named):  # a parent sorts before its children
        if os.path.dirname(path) in kept or _under_gone_folder(path, named, is_dir):
            continue
        kept.add(path)
    return kept
