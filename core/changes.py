"""What changed about one path between two moments, and which deletions and additions are one file renamed.
Pure: each side is what the index stored for the path at a snapshot, or what the disk shows now (no content
digest there: a metadata scan does not read files, so size and modification time speak for the content and
the inode follows a rename)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple, cast

from timekeep.core.capture.observe import Observed
from timekeep.core.index.queries import VersionRow
from timekeep.core.types import Change, ChangeKind, Kind


class Side(NamedTuple):
    kind: str
    size: int
    mode: int
    mtime_ns: int
    uid: int | None
    gid: int | None
    link_target: bytes | None
    content: bytes | None  # the whole-file digest (or, where none was recorded, the content id); None: not read
    inode: int
    ctime_ns: int
    xattrs: bytes | None
    live: bool = False


Ends = Mapping[bytes, tuple[Side | None, Side | None]]


def stored(version: VersionRow | None) -> Side | None:
    """A stored version as one end; None for no version or a deletion."""
    if version is None or version.state == "deleted":
        return None
    content = b"d" + version.digest if version.digest else b"c" + version.content_id if version.content_id else None
    return Side(version.kind, version.size, version.mode, version.mtime_ns, version.uid, version.gid,
                version.link_target, content, version.inode, version.ctime_ns, version.xattrs)


def live(observed: Observed | None) -> Side | None:
    if observed is None:
        return None
    return Side(observed.kind, observed.size, observed.mode, observed.mtime_ns, observed.uid, observed.gid,
                observed.link_target, None, observed.inode, observed.ctime_ns, None, live=True)


def classify(before: Side | None, after: Side | None) -> ChangeKind | None:
    if before is None:
        return None if after is None else "added"
    if after is None:
        return "deleted"
    if before.kind != after.kind or not _same_content(before, after):
        return "changed"
    seen = (before.mode, before.uid, before.gid) != (after.mode, after.uid, after.gid)
    seen |= before.kind == "file" and before.mtime_ns != after.mtime_ns
    seen |= not (before.live or after.live) and before.xattrs != after.xattrs
    # a live file whose ctime moved while nothing visible did: an owner or extended attribute changed
    seen |= after.live and after.kind == "file" and (before.inode, before.ctime_ns) != (after.inode, after.ctime_ns)
    return "attributes" if seen else None


def _same_content(before: Side, after: Side) -> bool:
    if before.kind == "symlink":
        return before.link_target == after.link_target
    if before.kind != "file":
        return True
    if before.content is not None and after.content is not None:
        return before.content == after.content
    return (before.size, before.mtime_ns) == (after.size, after.mtime_ns)


def compare(ends: Ends) -> list[Change]:
    """Every path that differs, by path, with deletions and additions of one file paired as renames."""
    changes: dict[bytes, Change] = {}
    for path, (before, after) in ends.items():
        change = classify(before, after)
        if change is not None:
            side = cast(Side, after if before is None else before if after is None else after)
            changes[path] = Change(path, change, cast(Kind, side.kind), None if before is None else before.size,
                                   None if after is None else after.size)
    for new, old in _renames(ends, changes):
        moved = changes.pop(old)
        changes[new] = Change(new, "renamed", changes[new].kind, moved.size_before, changes[new].size_after, old)
    return [changes[path] for path in sorted(changes)]


def _renames(ends: Ends, changes: dict[bytes, Change]) -> list[tuple[bytes, bytes]]:
    """(new path, old path) for each addition whose content a deletion had (by digest; for the live side, which
    is not read, by inode, size and modification time, as a scan judges content: a file edited in place keeps
    its inode and may keep its size, and is then no rename of what it was), each deletion used once, in path
    order."""
    gone: dict[tuple[object, ...], list[bytes]] = {}
    for path in sorted(p for p, c in changes.items() if c.change == "deleted" and c.kind == "file"):
        before = cast(Side, ends[path][0])
        if before.size and before.content is not None:
            gone.setdefault(("c", before.content), []).append(path)
        if before.size:
            gone.setdefault(("i", before.inode, before.size, before.mtime_ns), []).append(path)
    pairs: list[tuple[bytes, bytes]] = []
    used: set[bytes] = set()
    for path in sorted(p for p, c in changes.items() if c.change == "added" and c.kind == "file"):
        after = cast(Side, ends[path][1])
        if not after.live and after.content is None:
            continue
        key = ("i", after.inode, after.size, after.mtime_ns) if after.live else ("c", after.content)
        old = next((p for p in gone.get(key, []) if p not in used), None)
        if old is not None:
            used.add(old)
            pairs.append((path, old))
    return pairs
