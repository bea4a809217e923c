"""What the folder view shows at a time T, computed in a worker: rows with a change marker.

At a snapshot the marker is the engine's own word for the version stored then (`Entry.state`: created,
modified, metadata), and what that snapshot deleted is listed too, as it was just before, so it can be seen
and restored. At "Now" (no snapshot) the live folder is read from disk and compared with the latest
snapshot: what the next backup would store. Rows come folders first, then by name, which is also the view's
default order, so lazily added batches land at the end.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from timekeep.core.api import Timekeep
from timekeep.core.errors import NotInSnapshot, UsageError
from timekeep.core.types import Entry, kind_of

Change = Literal["", "new", "changed", "metadata", "deleted"]
CHANGE_OF_STATE: dict[str, Change] = {"created": "new", "modified": "changed", "metadata": "metadata",
                                      "deleted": "deleted"}


@dataclass(frozen=True)
class Row:
    path: bytes
    kind: str  # file, dir, symlink
    size: int
    mtime_ns: int
    change: Change = ""
    link_target: bytes | None = None

    @property
    def name(self) -> bytes:
        return os.path.basename(self.path)

    @property
    def is_dir(self) -> bool:
        return self.kind == "dir"

    @property
    def deleted(self) -> bool:
        """Gone at T: the row shows what it was at the snapshot before."""
        return self.change == "deleted"


@dataclass(frozen=True)
class TreeRequest:
    """List `folders` at snapshot `snapshot_id` (None = now); at now, mark changes against `previous_id`."""

    snapshot_id: int | None
    previous_id: int | None
    folders: tuple[bytes, ...]


Listing = dict[bytes, list[Row]]  # folder path -> its rows; folders absent at T are left out


def ordered(rows: Iterable[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: (not r.is_dir, r.name.lower(), r.name))


def rows_at(tk: Timekeep, folder: bytes, snapshot_id: int) -> list[Row]:
    """The folder at the snapshot plus what the snapshot deleted from it. A folder deleted at that very
    snapshot (a deleted row opened) lists only what went with it; one absent then raises NotInSnapshot."""
    try:
        entries = tk.list_dir(folder, snapshot_id)
    except NotInSnapshot:
        entries = []
    return ordered(_row(e) for e in [*entries, *tk.deleted_at(folder, snapshot_id)])


def _row(entry: Entry) -> Row:
    change = CHANGE_OF_STATE[entry.state] if entry.changed else ""
    return Row(entry.path, entry.kind, entry.size, entry.mtime_ns, change, entry.link_target)


def _listed_or_empty(tk: Timekeep, folder: bytes, snapshot_id: int) -> list[Entry]:
    try:
        return tk.list_dir(folder, snapshot_id)
    except UsageError:  # NotInSnapshot, or not a folder then: nothing to compare with
        return []


def live_rows(tk: Timekeep, folder: bytes, latest_id: int | None) -> list[Row]:
    """The folder on disk now, marked against the latest snapshot."""
    stored = {e.path: e for e in _listed_or_empty(tk, folder, latest_id)} if latest_id is not None else {}
    rows = []
    with os.scandir(folder) as it:
        for item in it:
            row = _live_row(item, stored.get(item.path))
            if row is not None:
                rows.append(row)
    return ordered(rows)


def _live_row(item: os.DirEntry[bytes], stored: Entry | None) -> Row | None:
    """The item marked against its stored entry; None for what a backup never stores (pipes, sockets,
    devices: not shown as "new") and for an item gone since the folder was read."""
    try:
        st = item.stat(follow_symlinks=False)
    except OSError:
        return None
    kind = kind_of(st.st_mode)
    if kind is None:
        return None
    size = st.st_size if kind == "file" else 0
    if stored is None:
        change: Change = "new"
    elif kind == "file" and (stored.size != size or stored.mtime_ns != st.st_mtime_ns):
        change = "changed"
    elif kind == "file" and stored.mode != st.st_mode:
        change = "metadata"
    else:
        change = ""
    target = os.readlink(item.path) if kind == "symlink" else None
    return Row(item.path, kind, size, st.st_mtime_ns, change, target)


def load_tree(tk: Timekeep, request: TreeRequest) -> Listing:
    """Every requested folder that exists at T; the first is the view's root."""
    listing: Listing = {}
    for folder in request.folders:
        try:
            if request.snapshot_id is None:
                listing[folder] = live_rows(tk, folder, request.previous_id)
            else:
                listing[folder] = rows_at(tk, folder, request.snapshot_id)
        except (NotInSnapshot, UsageError, FileNotFoundError, NotADirectoryError):
            continue  # the folder did not exist at T (or is gone now): it simply is not shown
    return listing
