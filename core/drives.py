"""Destinations appearing and disappearing: polling mount points, and proving a repository is really there.

A backup drive that is not plugged in leaves its mount point behind as an empty folder on the system disk;
writing there would fill the wrong disk with a history nobody can find. So a destination counts as present
only when its repository's config.json is there and names the repository id it had when first seen, and,
once it was seen on a drive of its own, only when that drive's mount point is mounted again.

The same knowledge guards `timekeep init` and explains a missing repository: a path where desktops mount
drives (/media, /run/media, /mnt) with no drive mounted there is an absent drive, not a place to write.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from timekeep.core.errors import TimekeepError
from timekeep.core.storage.atomic import atomic_write
from timekeep.core.storage.layout import load_config

log = logging.getLogger(__name__)
MOUNTINFO = Path("/proc/self/mountinfo")
Known = dict[Path, tuple[str, str]]  # destination -> (repository id, mount point) when first seen


@dataclass(frozen=True)
class Presence:
    present: bool
    reason: str = ""  # why it is absent, in words for the status line
    repository_id: str | None = None
    mount_point: str = "/"
    encrypted: bool | None = None  # as its config said when it was found there (None: not read)


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


def parse_mount_sources(text: str) -> dict[str, str]:
    """Mount point -> what is mounted there (the source after mountinfo's " - " and filesystem type)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        fields, _, tail = line.partition(" - ")
        head, rest = fields.split(), tail.split()
        if len(head) > 4 and len(rest) > 1:
            found[_unescape(head[4])] = _unescape(rest[1])
    return found


def read_mount_sources(path: Path = MOUNTINFO) -> dict[str, str]:
    try:
        return parse_mount_sources(path.read_text())
    except OSError:
        return {}


def mount_point_of(path: str, mounts: Sequence[str]) -> str:
    """The mount point a path lives under: the longest mount point that is a prefix of it."""
    best = "/"
    for point in mounts:
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best = point
    return best


def _at_or_below(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def drive_mount_point(path: str, user: str | None = None) -> str | None:
    """Where a drive holding `path` is mounted by the usual conventions, or None outside them:
    /run/media/USER/LABEL and /media/USER/LABEL (udisks), /media/LABEL (older udisks, usbmount), /mnt/NAME."""
    parts = PurePosixPath(os.path.abspath(path)).parts  # ("/", "media", USER, LABEL, ...)
    if parts[1:3] == ("run", "media"):
        depth = 5
    elif parts[1:2] == ("media",):
        depth = 4 if parts[2:3] == ((user or getpass.getuser()),) else 3
    elif parts[1:2] == ("mnt",):
        depth = 3
    else:
        return None
    return str(PurePosixPath(*parts[:depth])) if len(parts) >= depth else None


def unmounted_drive(path: str | Path, mounts: Sequence[str], user: str | None = None,
                    known_mount: str | None = None) -> str | None:
    """The mount point of the drive `path` belongs on when no drive is mounted there (so `path` would land
    on the disk beneath), else None. `known_mount`: where the agent saw this path's drive mounted before."""
    absolute = os.path.abspath(path)
    expected = known_mount if known_mount not in (None, "/") and _at_or_below(absolute, str(known_mount)) \
        else drive_mount_point(absolute, user)
    if expected is None:
        return None
    return None if _at_or_below(mount_point_of(absolute, mounts), expected) else expected


def _disk_beneath(point: str, mounts: Sequence[str], sources: dict[str, str]) -> str:
    beneath = mount_point_of(point, mounts)
    source = sources.get(beneath)
    return f"the disk mounted at {beneath}" + (f" ({source})" if source else "")


def init_refusal(path: str | Path, flag: str = "--here", mountinfo: Path = MOUNTINFO,
                 user: str | None = None) -> str | None:
    """Why `timekeep init PATH` should not create a repository at `path`, or None when it may: `path` is
    where a backup drive is mounted, but none is, so the repository would land unseen on the disk beneath
    (and be hidden once the drive is plugged in). `flag` is the option that creates it there anyway."""
    mounts = read_mounts(mountinfo)
    point = unmounted_drive(path, mounts, user)
    if point is None:
        return None
    beneath = _disk_beneath(point, mounts, read_mount_sources(mountinfo))
    return (f"no drive is mounted at {point}; plug the backup drive in and try again, or pass {flag} to "
            f"create the repository at {os.path.abspath(path)} anyway, on {beneath}")


def missing_drive(repo: str | Path, known_file: Path | None = None, mountinfo: Path = MOUNTINFO,
                  user: str | None = None) -> str | None:
    """The "missing repository" error when an absent drive is the reason ("the repository /media/me/backup/
    Timekeep/laptop is on a drive that is not connected (/media/me/backup is not mounted); ..."); None when
    no drive is missing (the repository itself is). `known_file`: the agent's record of where drives were
    mounted (`AgentPaths.known_drives`), which names mount points outside /media, /run/media and /mnt."""
    known = load_known(known_file) if known_file is not None else {}
    absolute = os.path.abspath(repo)
    _, known_mount = known.get(Path(absolute), ("", None))
    point = unmounted_drive(absolute, read_mounts(mountinfo), user, known_mount)
    if point is None:
        return None
    return (f"the repository {absolute} is on a drive that is not connected ({point} is not mounted); "
            "plug the drive in and try again")


def load_known(path: Path) -> Known:
    """Repository ids and mount points the agent saw: a drive that comes back must be the same one."""
    try:
        data = json.loads(path.read_bytes())
        return {Path(k): (str(v[0]), str(v[1])) for k, v in data.items()}
    except (OSError, ValueError, TypeError, IndexError, AttributeError):
        return {}


def save_known(path: Path, known: Known) -> None:
    try:
        atomic_write(path, json.dumps({str(k): list(v) for k, v in known.items()}, indent=2).encode())
    except OSError as err:
        log.warning("cannot save the known destinations: %s", err)


def probe(repo: Path, mounts: Sequence[str], expected_id: str | None = None,
          expected_mount: str | None = None) -> Presence:
    """Is the repository at `repo` really there? Reads only its config; never creates or writes anything."""
    point = mount_point_of(os.path.abspath(repo), mounts)
    if expected_mount not in (None, "/") and point != expected_mount:
        return Presence(False, f"its drive is not connected ({expected_mount} is not mounted)", None, point)
    try:
        config = load_config(repo)
    except TimekeepError as err:
        drive = unmounted_drive(repo, mounts)
        why = f"{drive} is not mounted" if drive is not None else str(err)
        return Presence(False, f"its drive is not connected ({why})", None, point)
    except OSError as err:
        return Presence(False, f"its drive cannot be read ({err.strerror or err})", None, point)
    if expected_id is not None and config.repository_id != expected_id:
        return Presence(False, f"a different repository is at {repo} (id {config.repository_id[:8]}, "
                               f"expected {expected_id[:8]})", config.repository_id, point)
    return Presence(True, "", config.repository_id, point, config.encrypted)


@dataclass(frozen=True)
class Change:
    path: Path
    appeared: bool
    presence: Presence


class DrivePoller:
    """Remembers what each destination looked like at the last poll and reports what changed since.

    The first sighting of a destination fixes its repository id and (if it lives on a drive of its own)
    its mount point; from then on a different repository or an unmounted drive at that place is absent."""

    def __init__(self, paths: Sequence[Path], mountinfo: Path = MOUNTINFO, known: Known | None = None) -> None:
        self.paths = list(paths)
        self.mountinfo = mountinfo
        self.known: Known = dict(known or {})  # path -> (repository id, mount point)
        self.learned = False  # `known` grew since the owner last saved it
        self.state: dict[Path, Presence] = {}

    def set_paths(self, paths: Sequence[Path]) -> None:
        """Follow these destinations from now on (the settings changed); a new one is reported at the next poll."""
        self.paths = list(paths)
        self.state = {p: s for p, s in self.state.items() if p in self.paths}

    def poll(self) -> list[Change]:
        mounts = read_mounts(self.mountinfo)
        changes: list[Change] = []
        for path in self.paths:
            expected_id, expected_mount = self.known.get(path, (None, None))
            now = probe(path, mounts, expected_id, expected_mount)
            if now.present and path not in self.known and now.repository_id is not None:
                self.known[path] = (now.repository_id, now.mount_point)
                self.learned = True
            before = self.state.get(path)
            if before is None or before.present != now.present:
                changes.append(Change(path, now.present, now))
            self.state[path] = now
        return changes

    def present(self, path: Path) -> bool:
        found = self.state.get(path)
        return found is not None and found.present
