"""The inotify watch limit: which folders can be watched, and which must fall back to periodic scans.

inotify needs one watch per directory, and `fs.inotify.max_user_watches` caps them for the whole user (every
program's watches count). A protected folder that would not fit whole is covered in part: its own entries and
those of the folders on the way down are watched one folder at a time, the sub-folders that fit are watched
whole, and only the rest is scanned at each storage time; the app says so. The decision is a pure function of
directory counts and the limit.

fanotify is no way around the limit for a desktop agent: watching a whole filesystem needs CAP_SYS_ADMIN, and
without it fanotify marks single inodes as inotify does, under its own per-user cap (`max_user_marks`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

LIMIT_FILE = Path("/proc/sys/fs/inotify/max_user_watches")
# Leave a quarter of the user's watches to other programs (editors, IDEs, file managers watch too).
RESERVE = 0.25
# Watch calls for one folder covered in part: each is an inotify instance of its own (watchdog's emitters), and
# `fs.inotify.max_user_instances` (often 128) caps those for every program of the user together.
COVER_SLOTS = 12


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


def child_dirs(folder: bytes, stop_after: int | None = None) -> dict[bytes, int]:
    """Each sub-folder of `folder` with its directory count (each counted no further than `stop_after`)."""
    try:
        with os.scandir(folder) as it:
            subs = [e.path for e in it if e.is_dir(follow_symlinks=False)]
    except OSError:
        return {}
    return {sub: count_dirs(sub, stop_after) for sub in subs}


@dataclass(frozen=True)
class Cover:
    """A protected folder too big to watch whole: folders watched alone (their own entries: the root and the
    folders on the way down to parts that fit) and sub-folders watched with everything below them."""

    nodes: tuple[bytes, ...]
    whole: tuple[bytes, ...]

    def uncovered(self) -> list[bytes]:
        """The sub-folders of the nodes that no watch covers, as they are now (so one made since the plan is
        among them): what a storage time scans."""
        covered = {*self.nodes, *self.whole}
        found: list[bytes] = []
        for node in self.nodes:
            try:
                with os.scandir(node) as it:
                    found.extend(e.path for e in it if e.is_dir(follow_symlinks=False) and e.path not in covered)
            except OSError:
                continue
        return sorted(found)


def cover(root: bytes, allowed: int, children: Callable[[bytes, int], Mapping[bytes, int]],
          slots: int = COVER_SLOTS) -> tuple[Cover, int]:
    """Cover `root` with at most `allowed` watches in at most `slots` watch calls, the largest sub-folders that
    fit watched whole first, nearest the root first; returns the cover and the watches it takes.
    `children(folder, stop_after)` gives a folder's sub-folders with their directory counts."""
    nodes, whole, left, slots, pending = [root], [], allowed - 1, slots - 1, [root]
    while pending and left > 0 and slots > 0:
        too_big = []
        for sub, dirs in sorted(children(pending.pop(0), left).items(), key=lambda kv: (-kv[1], kv[0])):
            if dirs > left:
                too_big.append(sub)
            elif slots > 0:
                whole.append(sub)
                left, slots = left - dirs, slots - 1
        for sub in too_big:
            if left > 0 and slots > 0:
                nodes.append(sub)
                pending.append(sub)
                left, slots = left - 1, slots - 1
    return Cover(tuple(nodes), tuple(whole)), allowed - left


@dataclass(frozen=True)
class WatchPlan:
    """Folders to watch whole, and folders scanned at every storage time instead, each with a reason to show;
    of those, the ones covered in part (`partial`), where only what no watch covers is scanned."""

    watched: tuple[bytes, ...] = ()
    fallback: dict[bytes, str] = field(default_factory=dict)
    partial: dict[bytes, Cover] = field(default_factory=dict)


def budget(limit: int | None, reserve: float = RESERVE) -> int | None:
    return None if limit is None else int(limit * (1 - reserve))


def plan_watches(dir_counts: Mapping[bytes, int], limit: int | None, reserve: float = RESERVE,
                 children: Callable[[bytes, int], Mapping[bytes, int]] | None = None) -> WatchPlan:
    """Watch the smallest folders first while they fit in our share of the limit; the rest fall back, each
    covered in part with what the share has left when `children` can tell their sub-folders."""
    allowed = budget(limit, reserve)
    if allowed is None:
        return WatchPlan(tuple(sorted(dir_counts)))
    watched: list[bytes] = []
    too_big: list[tuple[bytes, int]] = []
    used = 0
    for root, dirs in sorted(dir_counts.items(), key=lambda kv: (kv[1], kv[0])):
        if used + dirs <= allowed:
            watched.append(root)
            used += dirs
        else:
            too_big.append((root, dirs))
    fallback: dict[bytes, str] = {}
    partial: dict[bytes, Cover] = {}
    for root, dirs in too_big:
        if children is not None and allowed - used > 0:
            partial[root], taken = cover(root, allowed - used, children)
            used += taken
            fallback[root] = partial_message(root, dirs, limit or 0, partial[root])
        else:
            fallback[root] = fallback_message(root, dirs, limit or 0)
    return WatchPlan(tuple(sorted(watched)), fallback, partial)


def partial_message(root: bytes, dirs: int, limit: int, part: Cover) -> str:
    """What the status says about a folder watched in part."""
    return (f"{os.fsdecode(root)} has {dirs} or more folders, more than the file watch limit leaves room for "
            f"(fs.inotify.max_user_watches = {limit}); {len(part.whole)} of its sub-folders are watched whole and "
            f"{len(part.nodes)} folder by folder, and the rest is scanned at each backup. Raise the limit "
            f"(sysctl fs.inotify.max_user_watches={max(limit * 2, dirs * 2)}) to watch all of it.")


def fallback_message(root: bytes, dirs: int, limit: int) -> str:
    """What the status says about a folder that is scanned instead of watched, and how to fix it."""
    return (f"{os.fsdecode(root)} has {dirs} or more folders, more than the file watch limit leaves room for "
            f"(fs.inotify.max_user_watches = {limit}); its changes are found by a scan at each backup. "
            f"Raise the limit (sysctl fs.inotify.max_user_watches={max(limit * 2, dirs * 2)}) to watch it.")
