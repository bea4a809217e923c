"""What the mount calls a snapshot: its local time, to the second, as a folder name a person reads. Pure."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo

from timekeep.core.types import SnapshotInfo

BY_TIME = "by-time"
LATEST = "latest"
VERSIONS = "versions"
TOP = (BY_TIME, LATEST, VERSIONS)


def time_name(time_ns: int, tz: tzinfo | None = None) -> str:
    """`2026-12-06T14:03:05` in `tz` (default: this computer's zone), sortable as text."""
    moment = datetime.fromtimestamp(time_ns / 1e9, UTC).astimezone(tz)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def snapshot_names(snapshots: Iterable[SnapshotInfo], tz: tzinfo | None = None) -> dict[str, SnapshotInfo]:
    """Each snapshot by its folder name, oldest first. One taken within the same second as an earlier one is
    told apart by its id (`2026-12-06T14:03:05.12`), so a name always means one snapshot; the earlier one
    keeps its plain name, so a new snapshot never moves a folder a person may have open."""
    names: dict[str, SnapshotInfo] = {}
    for snap in sorted(snapshots, key=lambda s: (s.time_ns, s.id)):
        name = time_name(snap.time_ns, tz)
        names[f"{name}.{snap.id}" if name in names else name] = snap
    return names


def folder_in_mount(snapshots: Iterable[SnapshotInfo], snapshot_id: int | None, path: bytes | None,
                    tz: tzinfo | None = None) -> str:
    """Where a folder as it was at a snapshot (None: the newest) is, relative to the mount point:
    `by-time/<snapshot>/<path>` (`latest/<path>` when there is no such snapshot). The snapshot's own folder
    rather than `latest`, a link the kernel asks us to read again on every lookup beneath it."""
    named = snapshot_names(snapshots, tz)
    wanted = snapshot_id if snapshot_id is not None else max((s.id for s in named.values()), default=None)
    top = next((f"{BY_TIME}/{name}" for name, snap in named.items() if snap.id == wanted), LATEST)
    inside = os.fsdecode(path or b"/").strip("/")
    return f"{top}/{inside}" if inside else top
