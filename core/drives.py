"""Destinations appearing and disappearing: polling mount points, and proving a repository is really there.

A backup drive that is not plugged in leaves its mount point behind as an empty folder on the system disk;
writing there would fill the wrong disk with a history nobody can find. So a destination counts as present
only when its repository's config.json is there and names the repository id it had when first seen, and,
once it was seen on a drive of its own, only when that drive's mount point is mounted again.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import TimekeepError
from core.storage.layout import load_config

MOUNTINFO = Path("/proc/self/mountinfo")


@dataclass(frozen=True)
class Presence:
    present: bool
    reason: str = ""  # why it is absent, in words for the status line
    repository_id: str | None = None
    mount_point: str = "/"


def _unescape(field: str) -> str:
    r"""mountinfo escapes space, tab, newline and backslash as octal (`\040`)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[str]:
    """The mount points listed in /proc/self/mountinfo (its fifth field)."""
    points = [_unescape(line.split()[4]) for line in text.splitlines() if len(line.split()) > 4]
    return sorted(set(points))


def read_mounts(path: Path = MOUNTINFO) -> list[str]:
    try:
        return parse_mountinfo(path.read_text())
    except OSError:
        return ["/"]


def mount_point_of(path: str, mounts: Sequence[str]) -> str:
    """The mount point a path lives under: the longest mount point that is a prefix of it."""
    best = "/"
    for point in mounts:
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best = point
    return best


def probe(repo: Path, mounts: Sequence[str], expected_id: str | None = None,
          expected_mount: str | None = None) -> Presence:
    """Is the repository at `repo` really there? Reads only its config; never creates or writes anything."""
    point = mount_point_of(os.path.abspath(repo), mounts)
    if expected_mount not in (None, "/") and point != expected_mount:
        return Presence(False, f"its drive is not connected ({expected_mount} is not mounted)", None, point)
    try:
        config = load_config(repo)
    except TimekeepError as err:
        return Presence(False, f"its drive is not connected ({err})", None, point)
    except OSError as err:
        return Presence(False, f"its drive cannot be read ({err.strerror or err})", None, point)
    if expected_id is not None and config.repository_id != expected_id:
        return Presence(False, f"a different repository is at {repo} (id {config.repository_id[:8]}, "
                               f"expected {expected_id[:8]})", config.repository_id, point)
    return Presence(True, "", config.repository_id, point)


@dataclass(frozen=True)
class Change:
    path: Path
    appeared: bool
    presence: Presence


class DrivePoller:
    """Remembers what each destination looked like at the last poll and reports what changed since.

    The first sighting of a destination fixes its repository id and (if it lives on a drive of its own)
    its mount point; from then on a different repository or an unmounted drive at that place is absent."""

    def __init__(self, paths: Sequence[Path], mountinfo: Path = MOUNTINFO,
                 known: dict[Path, tuple[str, str]] | None = None) -> None:
        self.paths = list(paths)
        self.mountinfo = mountinfo
        self.known: dict[Path, tuple[str, str]] = dict(known or {})  # path -> (repository id, mount point)
        self.state: dict[Path, Presence] = {}

    def poll(self) -> list[Change]:
        mounts = read_mounts(self.mountinfo)
        changes: list[Change] = []
        for path in self.paths:
            expected_id, expected_mount = self.known.get(path, (None, None))
            now = probe(path, mounts, expected_id, expected_mount)
            if now.present and path not in self.known and now.repository_id is not None:
                self.known[path] = (now.repository_id, now.mount_point)
            before = self.state.get(path)
            if before is None or before.present != now.present:
                changes.append(Change(path, now.present, now))
            self.state[path] = now
        return changes

    def present(self, path: Path) -> bool:
        found = self.state.get(path)
        return found is not None and found.present
