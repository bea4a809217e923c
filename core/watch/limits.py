"""The inotify watch limit: which folders can be watched, and which must fall back to periodic scans.

inotify needs one watch per directory, and `fs.inotify.max_user_watches` caps them for the whole user (every
program's watches count). A folder that would not fit is scanned at each storage time instead, and the app
says so. The decision is a pure function of directory counts and the limit.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

LIMIT_FILE = Path("/proc/sys/fs/inotify/max_user_watches")
# Leave a quarter of the user's watches to other programs (editors, IDEs, file managers watch too).
RESERVE = 0.25


def read_limit(path: Path = LIMIT_FILE) -> int | None:
    """The user's watch limit, or None where the platform does not say (then every folder is watched)."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def count_dirs(root: bytes, stop_after: int | None = None) -> int:
    """Directories at and below `root` (links not followed), counting no further than `stop_after`."""
    count, stack = 0, [root]
    while stack:
        count += 1
        if stop_after is not None and count > stop_after:
            return count
        try:
            with os.scandir(stack.pop()) as it:
                stack.extend(e.path for e in it if e.is_dir(follow_symlinks=False))
        except OSError:
            continue
    return count


@dataclass(frozen=True)
class WatchPlan:
    """Folders to watch, and folders scanned at every storage time instead, each with a reason to show."""

    watched: tuple[bytes, ...] = ()
    fallback: dict[bytes, str] = field(default_factory=dict)


def budget(limit: int | None, reserve: float = RESERVE) -> int | None:
    return None if limit is None else int(limit * (1 - reserve))


def plan_watches(dir_counts: Mapping[bytes, int], limit: int | None, reserve: float = RESERVE) -> WatchPlan:
    """Watch the smallest folders first while they fit in our share of the limit; the rest fall back."""
    allowed = budget(limit, reserve)
    if allowed is None:
        return WatchPlan(tuple(sorted(dir_counts)))
    watched: list[bytes] = []
    fallback: dict[bytes, str] = {}
    used = 0
    for root, dirs in sorted(dir_counts.items(), key=lambda kv: (kv[1], kv[0])):
        if used + dirs <= allowed:
            watched.append(root)
            used += dirs
        else:
            fallback[root] = fallback_message(root, dirs, limit or 0)
    return WatchPlan(tuple(sorted(watched)), fallback)


def fallback_message(root: bytes, dirs: int, limit: int) -> str:
    """What the status says about a folder that is scanned instead of watched, and how to fix it."""
    return (f"{os.fsdecode(root)} has {dirs} or more folders, more than the file watch limit leaves room for "
            f"(fs.inotify.max_user_watches = {limit}); its changes are found by a scan at each backup. "
            f"Raise the limit (sysctl fs.inotify.max_user_watches={max(limit * 2, dirs * 2)}) to watch it.")
