"""When a path existed: from its versions' (snapshot, state) to ranges of snapshots, so a file kept through a
thousand snapshots reads as one range rather than a thousand ids. Pure."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

Span = tuple[int, int]  # (first, last) snapshot id, both holding the path


def spans(versions: Sequence[tuple[int, str]], snapshot_ids: Sequence[int]) -> tuple[Span, ...]:
    """`versions`: (snapshot id, state) oldest first, each snapshot among `snapshot_ids` (complete ones, in
    order). A path exists from a version that is not a deletion up to the snapshot before the next deletion,
    or the latest snapshot when no deletion came."""
    found: list[Span] = []
    start: int | None = None
    for sid, state in versions:
        if state != "deleted" and start is None:
            start = sid
        elif state == "deleted" and start is not None:
            before = bisect_left(snapshot_ids, sid) - 1
            if before >= 0 and snapshot_ids[before] >= start:
                found.append((start, snapshot_ids[before]))
            start = None
    if start is not None and snapshot_ids:
        found.append((start, snapshot_ids[-1]))
    return tuple(found)


def overlaps(found: Sequence[Span], low: int, high: int) -> bool:
    """Whether any span shares a snapshot id with `low`..`high`."""
    return any(first <= high and last >= low for first, last in found)
