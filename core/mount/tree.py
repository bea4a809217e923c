"""The mount's tree: what each path of it is, answered from the index through the engine's door.

by-time/<snapshot>/<protected folder path>/… is each snapshot as it was; `latest` points at the newest;
versions/<path>/<snapshot> holds every stored version of one file. A snapshot's folders never change, so their
listings are kept (a few hundred folders, least recently used dropped); the list of snapshots, and with it
versions/, is asked again after `fresh_for` seconds, so a backup taken while mounted shows up.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from typing import TYPE_CHECKING, NoReturn

from timekeep.core.errors import NotInSnapshot, UsageError
from timekeep.core.mount.names import BY_TIME, LATEST, TOP, VERSIONS, snapshot_names, time_name
from timekeep.core.paths import is_inside
from timekeep.core.types import Entry, SnapshotInfo

if TYPE_CHECKING:
    from timekeep.core.api import Timekeep

KEPT_LISTINGS = 256
DIR_MODE = 0o40555  # a folder the mount makes up (the top, a snapshot, the folders above a protected one)


@dataclass(frozen=True)
class Node:
    """One path of the mount: a folder, a file (read as `path` at `snapshot_id`) or a symbolic link."""

    kind: str
    mode: int = DIR_MODE
    size: int = 0
    mtime_ns: int = 0
    link_target: bytes | None = None
    path: bytes | None = None
    snapshot_id: int | None = None


def _node(entry: Entry, snapshot_id: int) -> Node:
    return Node(entry.kind, entry.mode, entry.size, entry.mtime_ns, entry.link_target, entry.path, snapshot_id)


Listing = dict[bytes, Node]


class HistoryTree:
    """The mount's paths (tuples of name bytes below the mount point) as nodes and listings; FileNotFoundError
    for a path that is not there. Safe from any thread."""

    def __init__(self, tk: Timekeep, clock: Callable[[], float] = time.monotonic, fresh_for: float = 2.0,
                 tz: tzinfo | None = None) -> None:
        self._tk = tk
        self._clock = clock
        self._fresh_for = fresh_for
        self._tz = tz
        self._lock = threading.RLock()
        self._names: dict[str, SnapshotInfo] = {}
        self._asked = -float("inf")
        self._listings: OrderedDict[tuple[int | None, tuple[bytes, ...]], Listing] = OrderedDict()

    def node(self, parts: tuple[bytes, ...]) -> Node:
        if not parts:
            return Node("dir")
        if len(parts) == 1:
            return self._top(parts[0])
        return self.listing(parts[:-1]).get(parts[-1]) or _missing()

    def listing(self, parts: tuple[bytes, ...]) -> Listing:
        """The folder's entries by name; FileNotFoundError when it is no folder of the mount."""
        with self._lock:
            if not parts:
                newest = self._snapshots()
                return {name.encode(): self._top(name.encode()) for name in TOP if newest or name != LATEST}
            top = parts[0].decode(errors="replace")
            if top == BY_TIME:
                return self._by_time(parts[1:])
            if top == VERSIONS:
                return self._kept((None, parts[1:]), lambda: self._versions(parts[1:]))
            return _missing()

    def _top(self, name: bytes) -> Node:
        with self._lock:
            names = self._snapshots()
            if name == LATEST.encode() and names:
                newest = next(reversed(names))
                return Node("symlink", 0o120777, len(BY_TIME) + 1 + len(newest), names[newest].time_ns,
                            f"{BY_TIME}/{newest}".encode())
            if name.decode(errors="replace") in (BY_TIME, VERSIONS):
                return Node("dir")
            return _missing()

    def _snapshots(self, again: bool = False) -> dict[str, SnapshotInfo]:
        """The snapshots by folder name, asked of the index again once they are `fresh_for` seconds old."""
        now = self._clock()
        if again or now - self._asked >= self._fresh_for:
            names = snapshot_names(self._tk.snapshots(), self._tz)
            if names != self._names:  # versions/ and `latest` follow; a snapshot's own folders never change
                for key in [k for k in self._listings if k[0] is None]:
                    del self._listings[key]
            self._names, self._asked = names, now
        return self._names

    def _by_time(self, rest: tuple[bytes, ...]) -> Listing:
        names = self._snapshots()
        if not rest:
            return {name.encode(): Node("dir", mtime_ns=snap.time_ns) for name, snap in names.items()}
        snap = names.get(rest[0].decode(errors="surrogateescape")) or self._snapshots(again=True).get(
            rest[0].decode(errors="surrogateescape"))
        if snap is None:
            return _missing()
        return self._kept((snap.id, rest[1:]), lambda: self._at(snap, rest[1:]))

    def _kept(self, key: tuple[int | None, tuple[bytes, ...]], make: Callable[[], Listing]) -> Listing:
        found = self._listings.get(key)
        if found is None:
            found = self._listings[key] = make()
            while len(self._listings) > KEPT_LISTINGS:
                self._listings.popitem(last=False)
        else:
            self._listings.move_to_end(key)
        return found

    def _at(self, snap: SnapshotInfo, parts: tuple[bytes, ...]) -> Listing:
        """A folder of the snapshot: the engine's listing inside a protected folder, else the way down to them."""
        path = b"/" + b"/".join(parts)
        roots = self._tk.list_dir(None, snap.id)
        if any(is_inside(path, root.path) for root in roots):
            try:
                return {e.name: _node(e, snap.id) for e in self._tk.list_dir(path, snap.id)}
            except (NotInSnapshot, UsageError):
                return _missing()
        return _steps(path, roots, snap) or _missing()

    def _versions(self, parts: tuple[bytes, ...]) -> Listing:
        """versions/<path>: what the folder ever held (each a folder of its own versions), and the versions of
        the file that was at that path, each named by its snapshot's time."""
        path = b"/" + b"/".join(parts)
        names = self._snapshots()
        if not names:
            return _missing() if parts else {}
        latest = next(reversed(names.values()))
        roots = self._tk.list_dir(None, latest.id)
        if not any(is_inside(path, root.path) for root in roots):
            return {name: Node("dir") for name in _steps(path, roots, latest)} or _missing()
        found: Listing = {}
        with contextlib.suppress(NotInSnapshot, UsageError):  # a file, or a folder deleted since
            found.update((e.name, Node("dir")) for e in self._tk.list_dir(path, latest.id))
        try:
            found.update((g.entry.name, Node("dir")) for g in self._tk.gone_from(path))
            stored = self._tk.versions(path)
        except (NotInSnapshot, UsageError):
            stored = []
        by_id = {snap.id: name for name, snap in names.items()}
        for v in stored:
            if v.state != "deleted" and v.kind in ("file", "symlink"):
                name = by_id.get(v.snapshot_id) or time_name(v.time_ns, self._tz)
                found[name.encode()] = Node(v.kind, v.mode, v.size, v.mtime_ns, v.link_target, path, v.snapshot_id)
        return found or _missing()


def _steps(path: bytes, roots: list[Entry], snap: SnapshotInfo) -> Listing:
    """For a folder above protected folders: the next folder down towards each, as the protected folder's own
    entry when it is one step down."""
    prefix = path.rstrip(b"/") + b"/"
    steps: Listing = {}
    for root in roots:
        if root.path.startswith(prefix):
            name = root.path[len(prefix) :].split(b"/")[0]
            if prefix + name == root.path:
                steps[name] = _node(root, snap.id)
            else:
                steps.setdefault(name, Node("dir", mtime_ns=snap.time_ns))
    return steps


def _missing() -> NoReturn:
    raise FileNotFoundError
